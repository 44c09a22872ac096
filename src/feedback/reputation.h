// Sender reputation, as receiving providers and Amazon SES judge it: for each key of a dimension
// (a tenant "tn_x", a sending domain "example.com", a destination site
// "mx:gmail-smtp-in.l.google.com", an egress pool "pool-a") the tracker counts over a rolling
// 1 hour and a rolling 24 hours how many recipients were sent (handed over and given a verdict:
// delivered or hard-bounced), how many hard-bounced and how many complained. Bounce rate =
// bounced / sent, complaint rate = complained / sent (0 when nothing was sent).
//
// Input: one Record per recipient outcome (from delivery, DSN and ARF processing), at our own
// clock's time. Output: snapshots of the counts and a level per key (healthy, review, pause), and
// from Evaluate the tenants whose level changed (alerts), which the caller turns into events,
// webhooks and, for a pause, a suspension of the tenant's sending.
//
// Windows. The 1 h window is 60 one-minute buckets, the 24 h window 96 fifteen-minute buckets,
// each a ring indexed by bucket number (time / width) modulo its size, with the ring's newest
// bucket number beside it: a record newer than the newest clears the buckets skipped over (a gap
// of hours clears the stale ones), a record within the ring counts in its own bucket (out of
// order is fine), a record older than the ring is ignored. A window read at now_ms sums the
// buckets whose number is within the window ending at now_ms's bucket (so a "1 h" window spans
// between 59 and 60 minutes, a "24 h" window between 23 h 45 and 24 h), and counts buckets
// ahead of now_ms too (a record from a clock a little ahead is not lost).
//
// Judgement (per key, against ReputationThresholds):
//   pause  : the 24 h window has >= min_volume sent and a rate >= its pause threshold, or the 1 h
//            window ALONE has >= min_volume sent and a rate >= its pause threshold;
//   review : the 24 h window has >= min_volume sent and a rate >= its review threshold;
//   healthy: otherwise (below min_volume nothing is judged: a handful of bounces on a small
//            sender says nothing about it).
// Why the 1 h window may pause on its own: a burst of bad sending (a stale list imported and sent
// in one go) hardly moves a large sender's 24 h rates until most of the damage is done; judged
// over the hour, it is stopped within the hour. It only pauses (never puts under review): an
// hour of somewhat high rates is noise, a full hour at the pause level is not.
//
// Acknowledge (an operator resumed a paused tenant). The bad outcomes that paused the tenant stay
// in the 24 h window for up to a day; judging them again would pause the tenant again at the next
// Evaluate, in a loop, with no new reason. So Acknowledge sets the level to healthy and opens a
// grace until the acknowledgement's bucket has rolled out of the 24 h window. During the grace,
// a tenant the usual judgement would pause is paused only if the outcomes after the
// acknowledgement alone say so (at least min_volume of them at a pause rate, over 24 h or over
// 1 h, counted from the bucket after the acknowledgement's); otherwise it is held at review. The
// grace only ever lowers a level (a review or healthy judgement stands as it is). The next
// Evaluate therefore reports healthy -> review when the old outcomes are still over a threshold,
// and nothing when they are not; it reports a pause again only for a new reason.
//
// Persistence: Serialize() / Restore(). All integers little-endian, fixed width:
//   magic "MPRP" (4 bytes), u16 version (1), u32 key count, then per key:
//     u8 dim (ReputationDim), u16 key length, key bytes (1..kMaxKeyBytes),
//     u8 level (ReputationLevel, tenants; 0 for the rest), i64 acknowledged_ms (INT64_MIN = no
//     grace),
//     the 1 h ring then the 24 h ring, each: i64 newest bucket number (INT64_MIN = empty),
//       u8 count of non-zero buckets, then per bucket in increasing slot order:
//       u8 slot (< ring size), u32 sent, u32 bounced, u32 complained;
//   then u64 FNV-1a-64 of every byte before it (catches a torn or corrupted file; not a MAC).
// Keys go out by dimension, then sorted, so one state always gives the same bytes.
// Thresholds are not part of it (they are configuration). Restore refuses anything else with
// kInvalidValue and leaves the tracker empty. The format is documented here only until it joins
// docs/formats/.
//
// Memory per key: the two rings are 60 x 12 + 96 x 12 = 1872 bytes of counters (u32 per bucket:
// no bucket of one key sees 4 billion recipients in 15 minutes; adds saturate) plus two bucket
// numbers, the level and the acknowledgement: sizeof(KeyState) = 1904 bytes; with the hash node
// (a key of up to 15 bytes inline) and the allocator's overhead, about 2 KB per key (MemoryBytes()
// estimates 1.99 KB), 20 MB for 10,000 keys. Each dimension is capped at
// kMaxKeysPerDimension keys (about 100 MB); outcomes for a new key past the cap are not counted
// for that dimension (dropped_keys() counts them). Prune frees keys idle for 24 h.
//
// SECURITY: keys come from our own configuration and routing (tenant ids, verified sending
// domains, MX host names from DNS, pool names); a key longer than kMaxKeyBytes is not counted.
// Timestamps must be our clock's, never a time taken from a report (a far-future time would move
// the rings ahead, and the present would then count as too old). Restore reads bytes from disk:
// every length, count, slot and enum is checked. Thread-safety: every method is safe from any
// thread (one mutex; Record is O(1): a hash lookup per dimension and at most 60 + 96 buckets
// cleared).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace mp::feedback {

// Names are stable (API, metrics, events).
enum class ReputationDim : uint8_t { kTenant, kDomain, kSite, kPool };
inline constexpr size_t kReputationDims = 4;
// "tenant", "domain", "site", "pool".
std::string_view ReputationDimName(ReputationDim d);

// One outcome for one recipient. A recipient's verdict is recorded once, as kSent or kBounced;
// a complaint (or a bounce that arrives as a DSN after the receiver had accepted the message) is
// recorded later about a recipient already counted as sent.
enum class ReputationOutcome : uint8_t {
  kSent,         // delivered (accepted by the receiver): sent
  kBounced,      // hard bounce (permanent failure) at delivery: sent and bounced, as SES counts
  kComplained,   // a complaint (ARF report, feedback loop): complained
  kLateBounced,  // a hard bounce by DSN for a recipient recorded as kSent: bounced, not sent again
};

struct ReputationThresholds {
  double review_bounce = 0.05, review_complaint = 0.001;  // SES: under review at 5% / 0.1%
  double pause_bounce = 0.10, pause_complaint = 0.005;    // SES: sending paused at 10% / 0.5%
  uint64_t min_volume = 1000;  // rates are judged only once the 24 h window has this many sent
};
// For configuration loading: every rate in (0, 1], each review threshold <= its pause threshold,
// min_volume >= 1. Errors are kInvalidValue naming the field ("pause_bounce").
Status ValidateReputationThresholds(const ReputationThresholds& t);

enum class ReputationLevel : uint8_t { kHealthy, kReview, kPause };
// "healthy", "review", "pause".
std::string_view ReputationLevelName(ReputationLevel l);

struct WindowCounts {
  uint64_t sent = 0, bounced = 0, complained = 0;
  double bounce_rate() const;     // bounced / sent, 0 when sent is 0
  double complaint_rate() const;  // complained / sent, 0 when sent is 0
};

struct ReputationSnapshot {
  ReputationDim dim = ReputationDim::kTenant;
  std::string key;
  WindowCounts hour, day;
  // The judgement of these counts now (for a tenant with the acknowledgement grace applied: what
  // the next Evaluate will report; Level() gives the level last reported).
  ReputationLevel level = ReputationLevel::kHealthy;
  // Why, for people: "bounce rate 11.2% over 24 h (1234 sent) >= pause threshold 10%".
  std::string level_reason;
};

// A change of level of one tenant.
struct ReputationAlert {
  std::string tenant;
  ReputationLevel from = ReputationLevel::kHealthy, to = ReputationLevel::kHealthy;
  std::string reason;  // e.g. "bounce rate 11.2% over 24 h (1234 sent) >= pause threshold 10%"
  // The figures of the window that decided: the 1 h window's when it paused alone
  // (hour_window), else the 24 h window's.
  double bounce_rate = 0, complaint_rate = 0;
  uint64_t sent = 0;
  bool hour_window = false;
};

class ReputationTracker final {
 public:
  static constexpr int64_t kHourBucketMs = int64_t{60} * 1000;
  static constexpr size_t kHourBuckets = 60;
  static constexpr int64_t kDayBucketMs = int64_t{15} * 60 * 1000;
  static constexpr size_t kDayBuckets = 96;
  static constexpr size_t kMaxKeyBytes = 512;  // an MX host name is at most 253
  static constexpr size_t kMaxKeysPerDimension = 50000;

  explicit ReputationTracker(ReputationThresholds t = {});
  ~ReputationTracker();
  ReputationTracker(const ReputationTracker&) = delete;
  ReputationTracker& operator=(const ReputationTracker&) = delete;

  // Takes effect at the next Evaluate (and in snapshots at once).
  void SetThresholds(const ReputationThresholds& t);
  ReputationThresholds thresholds() const;

  // One outcome for n recipients of tenant's message, sent from sending domain over pool to site
  // (any of these may be "": not counted for that dimension), at at_ms (our clock).
  void Record(ReputationOutcome o, const std::string& tenant, const std::string& domain,
              const std::string& site, const std::string& pool, int64_t at_ms, uint64_t n = 1);

  // nullopt when the key has nothing recorded (or was pruned).
  std::optional<ReputationSnapshot> Get(ReputationDim dim, const std::string& key,
                                        int64_t now_ms) const;
  // Every key of a dimension, sorted by key.
  std::vector<ReputationSnapshot> List(ReputationDim dim, int64_t now_ms) const;

  // Judges every tenant (24 h window with min_volume, and the 1 h window alone for pause) and
  // returns the tenants whose level changed since the last Evaluate (or Acknowledge, or Restore),
  // each change once, sorted by tenant. Other dimensions get a level in snapshots but no alerts.
  std::vector<ReputationAlert> Evaluate(int64_t now_ms);

  // The level last reported for a tenant (kHealthy when unknown).
  ReputationLevel Level(const std::string& tenant) const;

  // An operator cleared the tenant (after resuming it): the level is healthy at once (no alert),
  // and a grace starts (see the header comment): the outcomes recorded so far can hold the tenant
  // at review at most; only outcomes from now on can pause it again. Unknown tenant: no-op.
  void Acknowledge(const std::string& tenant, int64_t now_ms);

  // The whole state (counts, tenant levels, graces) as bytes, and back (format in the header
  // comment). A failed Restore leaves the tracker empty.
  std::string Serialize() const;
  Status Restore(std::string_view data);

  // Removes the keys with nothing in the last 24 h (memory bound), except tenants whose last
  // reported level is not healthy (the next Evaluate reports their return to healthy first).
  // Returns how many were removed.
  size_t Prune(int64_t now_ms);

  // How many keys a dimension holds; outcomes not counted for a new key past the cap; an estimate
  // of the heap the keys take (nodes, key strings, hash buckets).
  size_t KeyCount(ReputationDim dim) const;
  uint64_t dropped_keys() const;
  size_t MemoryBytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp::feedback
