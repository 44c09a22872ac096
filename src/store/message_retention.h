// Message retention: envelopes and bodies of finished messages go away once they are older than
// their tenant's retention (the event log's: the same days, so a message, its events and its
// entries in the message list disappear together), without a sweeper that reads everything.
//
// Every new message gets an entry in a retention index (column state), written in its first
// batch by AddNewMessage:
//   mret/<tenant> 0x00 u64be(created_ms) id16 -> ""
// Each round, ReapExpiredMessages reads, tenant by tenant, only the entries older than that
// tenant's cutoff, so its work is what has expired, not what is stored. A message that is still
// pending or held at its cutoff is kept, and its entry moved to the round's time (it is looked at
// again one retention later). Deletion is the envelope, the body and the entry in one batch.
// Stores written before the index existed get their entries once (BackfillRetentionIndex, one
// pass over the envelopes, remembered in state key "mret-backfill/v1").
// Thread-safety: stateless functions; MessageReaper runs them on its own thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "core/error.h"
#include "core/id.h"
#include "store/kv.h"

namespace mp {

struct Envelope;
class Clock;

// The retention entry of a new message (AddNewMessage calls it).
void AddRetentionEntry(WriteBatch& batch, const Envelope& e);

// Cutoff in ms for a tenant: messages created before it have expired (0 = keep everything).
using RetentionCutoff = std::function<int64_t(std::string_view tenant)>;

struct ReapResult {
  size_t deleted = 0;    // messages whose envelope and body were deleted
  size_t postponed = 0;  // expired but pending or held: entry moved to now
  size_t stale = 0;      // entries without an envelope (redacted away, or deleted): dropped
  size_t busy = 0;       // another writer held the message (guard): left for the next round
  bool more = false;     // stopped at max_messages with more expired entries waiting
};
// The change protocol other writers of finished messages follow (the delivery engine's
// BeginCancel/EndCancel, which the bounce listener takes before it writes an envelope back):
// begin returns false while someone else changes the message. Empty: no protocol.
struct ReapGuard {
  std::function<bool(const MessageId&)> begin;
  std::function<void(const MessageId&)> end;
};
// Deletes up to max_messages expired messages, committing in batches of up to 256, each message
// decided and deleted under the guard (so a report being recorded cannot write back an envelope
// just deleted).
Result<ReapResult> ReapExpiredMessages(KvStore& kv, const RetentionCutoff& cutoff, int64_t now_ms,
                                       size_t max_messages, const ReapGuard& guard = {});

// Adds the retention entries of every stored envelope, once per store (a no-op after it ran).
// Returns the number of envelopes indexed.
Result<size_t> BackfillRetentionIndex(KvStore& kv);
// Records that every message in the store has its entry (a store filled through AddNewMessage
// from the start, like the benchmark's), so no backfill pass reads its envelopes.
Status MarkRetentionIndexComplete(KvStore& kv);

// Runs BackfillRetentionIndex once, then ReapExpiredMessages every interval (and at once again
// while a round stopped at its limit), on its own thread.
class MessageReaper {
 public:
  MessageReaper(KvStore& kv, const Clock& clock, RetentionCutoff cutoff, int interval_seconds);
  ~MessageReaper();
  // Before Start.
  void SetGuard(ReapGuard guard) { guard_ = std::move(guard); }
  void Start();
  void Stop();

 private:
  void Loop();

  KvStore& kv_;
  const Clock& clock_;
  RetentionCutoff cutoff_;
  ReapGuard guard_;
  int interval_seconds_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mp
