#include "feedback/reputation.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <mutex>
#include <unordered_map>

namespace mp::feedback {
namespace {

constexpr int64_t kNone = std::numeric_limits<int64_t>::min();  // no bucket, no acknowledgement
constexpr std::string_view kMagic = "MPRP";
constexpr uint16_t kVersion = 1;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && (a < 0) != (b < 0)) --q;
  return q;
}

uint32_t SaturatingAdd(uint32_t a, uint64_t n) {
  constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
  return n >= static_cast<uint64_t>(kMax - a) ? kMax : a + static_cast<uint32_t>(n);
}

struct Bucket {
  uint32_t sent = 0, bounced = 0, complained = 0;
  bool empty() const { return sent == 0 && bounced == 0 && complained == 0; }
};

// A window's buckets: slot = bucket number mod N; `newest` is the newest bucket number the ring
// holds, so slot s holds bucket newest - ((newest - s) mod N) and nothing needs a per-bucket time.
template <size_t N, int64_t W>
struct Ring {
  static constexpr int64_t kSize = static_cast<int64_t>(N);
  // The range of bucket numbers an int64 time can give; Restore refuses others (and so the
  // arithmetic below never overflows).
  static constexpr int64_t kMinNumber = std::numeric_limits<int64_t>::min() / W - 1;
  static constexpr int64_t kMaxNumber = std::numeric_limits<int64_t>::max() / W;

  int64_t newest = kNone;
  std::array<Bucket, N> buckets{};

  static size_t Slot(int64_t number) {
    int64_t m = number % kSize;
    return static_cast<size_t>(m < 0 ? m + kSize : m);
  }

  // The bucket of a bucket number, moving the ring forward if it is newer; nullptr when it is
  // older than the ring.
  Bucket* At(int64_t number) {
    if (newest == kNone) {
      newest = number;
    } else if (number > newest) {
      if (number - newest >= kSize) {
        buckets.fill(Bucket{});
      } else {
        for (int64_t k = newest + 1; k <= number; ++k) buckets[Slot(k)] = Bucket{};
      }
      newest = number;
    } else if (number <= newest - kSize) {
      return nullptr;
    }
    return &buckets[Slot(number)];
  }

  // The buckets within the window ending at bucket now (and any ahead of it), after bucket
  // `after` (kNone: all).
  WindowCounts Sum(int64_t now, int64_t after) const {
    WindowCounts w;
    if (newest == kNone) return w;
    int64_t lo =
        std::max({newest - kSize + 1, now - kSize + 1, after == kNone ? kNone : after + 1});
    for (int64_t k = lo; k <= newest; ++k) {
      const Bucket& b = buckets[Slot(k)];
      w.sent += b.sent;
      w.bounced += b.bounced;
      w.complained += b.complained;
    }
    return w;
  }
};

using HourRing = Ring<ReputationTracker::kHourBuckets, ReputationTracker::kHourBucketMs>;
using DayRing = Ring<ReputationTracker::kDayBuckets, ReputationTracker::kDayBucketMs>;

struct KeyState {
  HourRing hour;
  DayRing day;
  int64_t acknowledged_ms = kNone;                    // tenants: the grace's start
  ReputationLevel level = ReputationLevel::kHealthy;  // tenants: the level last reported
};
// The figure the header comment gives per key.
static_assert(sizeof(KeyState) <= 1904);

void Add(Bucket* b, ReputationOutcome o, uint64_t n) {
  if (b == nullptr) return;
  switch (o) {
    case ReputationOutcome::kSent:
      b->sent = SaturatingAdd(b->sent, n);
      break;
    case ReputationOutcome::kBounced:
      b->sent = SaturatingAdd(b->sent, n);
      b->bounced = SaturatingAdd(b->bounced, n);
      break;
    case ReputationOutcome::kComplained:
      b->complained = SaturatingAdd(b->complained, n);
      break;
    case ReputationOutcome::kLateBounced:
      b->bounced = SaturatingAdd(b->bounced, n);
      break;
  }
}

std::string Percent(double rate, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%%", decimals, rate * 100);
  return buf;
}

// Thresholds as configured people read them: 0.05 -> "5%", 0.001 -> "0.1%".
std::string ThresholdPercent(double t) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g%%", t * 100);
  return buf;
}

struct Verdict {
  ReputationLevel level = ReputationLevel::kHealthy;
  std::string reason;
  WindowCounts figures;  // of the deciding window
  bool hour_window = false;
};

// The reasons one window is at or over a pair of thresholds ("" when it is not); nothing is
// judged below the minimum volume.
std::string Over(const WindowCounts& w, std::string_view window, double bounce, double complaint,
                 std::string_view level, uint64_t min_volume) {
  if (w.sent == 0 || w.sent < min_volume) return "";
  std::string out;
  auto add = [&](std::string_view what, double rate, int decimals, double threshold) {
    if (!(rate >= threshold)) return;
    if (!out.empty()) out += "; ";
    out += std::string(what) + " rate " + Percent(rate, decimals) + " over " + std::string(window) +
           " (" + std::to_string(w.sent) + " sent) >= " + std::string(level) + " threshold " +
           ThresholdPercent(threshold);
  };
  add("bounce", w.bounce_rate(), 1, bounce);
  add("complaint", w.complaint_rate(), 2, complaint);
  return out;
}

Verdict Judge(const WindowCounts& hour, const WindowCounts& day, const ReputationThresholds& t) {
  Verdict v;
  if (auto r = Over(day, "24 h", t.pause_bounce, t.pause_complaint, "pause", t.min_volume);
      !r.empty()) {
    return {ReputationLevel::kPause, std::move(r), day, false};
  }
  if (auto r = Over(hour, "1 h", t.pause_bounce, t.pause_complaint, "pause", t.min_volume);
      !r.empty()) {
    return {ReputationLevel::kPause, std::move(r), hour, true};
  }
  if (auto r = Over(day, "24 h", t.review_bounce, t.review_complaint, "review", t.min_volume);
      !r.empty()) {
    return {ReputationLevel::kReview, std::move(r), day, false};
  }
  v.figures = day;
  if (day.sent == 0 || day.sent < t.min_volume) {
    v.reason = std::to_string(day.sent) + " sent over 24 h < minimum volume " +
               std::to_string(t.min_volume) + ": rates not judged";
  } else {
    v.reason = "bounce rate " + Percent(day.bounce_rate(), 1) + ", complaint rate " +
               Percent(day.complaint_rate(), 2) + " over 24 h (" + std::to_string(day.sent) +
               " sent) under the review thresholds " + ThresholdPercent(t.review_bounce) + ", " +
               ThresholdPercent(t.review_complaint);
  }
  return v;
}

bool InGrace(const KeyState& k, int64_t now_ms) {
  if (k.acknowledged_ms == kNone) return false;
  int64_t ack = FloorDiv(k.acknowledged_ms, ReputationTracker::kDayBucketMs);
  return ack > FloorDiv(now_ms, ReputationTracker::kDayBucketMs) - DayRing::kSize;
}

Verdict JudgeKey(ReputationDim dim, const KeyState& k, int64_t now_ms,
                 const ReputationThresholds& t) {
  int64_t hour_now = FloorDiv(now_ms, ReputationTracker::kHourBucketMs);
  int64_t day_now = FloorDiv(now_ms, ReputationTracker::kDayBucketMs);
  Verdict all = Judge(k.hour.Sum(hour_now, kNone), k.day.Sum(day_now, kNone), t);
  if (dim != ReputationDim::kTenant || !InGrace(k, now_ms) ||
      all.level != ReputationLevel::kPause) {
    return all;  // the grace only ever lowers a level, never judges stricter than usual
  }
  // The acknowledgement's own buckets hold outcomes from before it too, so "after" starts at the
  // next bucket: a few minutes of new outcomes may go unjudged for a pause, never old ones judged.
  Verdict after =
      Judge(k.hour.Sum(hour_now, FloorDiv(k.acknowledged_ms, ReputationTracker::kHourBucketMs)),
            k.day.Sum(day_now, FloorDiv(k.acknowledged_ms, ReputationTracker::kDayBucketMs)), t);
  if (after.level == ReputationLevel::kPause) {
    after.reason += " (outcomes since the acknowledgement)";
    return after;
  }
  all.level = ReputationLevel::kReview;
  all.reason += "; held at review: acknowledged, only outcomes after it can pause";
  return all;
}

// Little-endian fixed-width encoding.
void PutU8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void PutU16(std::string& out, uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t Fnv1a64(std::string_view data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  size_t pos() const { return pos_; }
  size_t left() const { return data_.size() - pos_; }
  bool U8(uint8_t& v) {
    uint64_t x;
    if (!Fixed(1, x)) return false;
    v = static_cast<uint8_t>(x);
    return true;
  }
  bool U16(uint16_t& v) {
    uint64_t x;
    if (!Fixed(2, x)) return false;
    v = static_cast<uint16_t>(x);
    return true;
  }
  bool U32(uint32_t& v) {
    uint64_t x;
    if (!Fixed(4, x)) return false;
    v = static_cast<uint32_t>(x);
    return true;
  }
  bool I64(int64_t& v) {
    uint64_t x;
    if (!Fixed(8, x)) return false;
    v = static_cast<int64_t>(x);
    return true;
  }
  bool Bytes(size_t n, std::string_view& v) {
    if (left() < n) return false;
    v = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }

 private:
  bool Fixed(size_t n, uint64_t& v) {
    if (left() < n) return false;
    v = 0;
    for (size_t i = 0; i < n; ++i) {
      v |= static_cast<uint64_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
    }
    pos_ += n;
    return true;
  }

  std::string_view data_;
  size_t pos_ = 0;
};

template <typename R>
void PutRing(std::string& out, const R& ring) {
  PutU64(out, static_cast<uint64_t>(ring.newest));
  uint8_t used = 0;
  for (const Bucket& b : ring.buckets) used += b.empty() ? 0 : 1;
  PutU8(out, used);
  for (size_t s = 0; s < ring.buckets.size(); ++s) {
    const Bucket& b = ring.buckets[s];
    if (b.empty()) continue;
    PutU8(out, static_cast<uint8_t>(s));
    PutU32(out, b.sent);
    PutU32(out, b.bounced);
    PutU32(out, b.complained);
  }
}

// "" on success, else what is wrong.
template <typename R>
std::string ReadRing(Reader& in, R& ring) {
  uint8_t used;
  if (!in.I64(ring.newest) || !in.U8(used)) return "truncated";
  if (ring.newest != kNone && (ring.newest < R::kMinNumber || ring.newest > R::kMaxNumber)) {
    return "bucket number out of range";
  }
  if (used > ring.buckets.size()) return "more buckets than the ring has";
  if (ring.newest == kNone && used != 0) return "buckets in an empty ring";
  int last = -1;
  for (uint8_t i = 0; i < used; ++i) {
    uint8_t slot;
    Bucket b;
    if (!in.U8(slot) || !in.U32(b.sent) || !in.U32(b.bounced) || !in.U32(b.complained)) {
      return "truncated";
    }
    if (slot >= ring.buckets.size() || static_cast<int>(slot) <= last) return "bad bucket slot";
    if (b.empty()) return "empty bucket listed";
    last = slot;
    ring.buckets[slot] = b;
  }
  return "";
}

}  // namespace

std::string_view ReputationDimName(ReputationDim d) {
  switch (d) {
    case ReputationDim::kTenant:
      return "tenant";
    case ReputationDim::kDomain:
      return "domain";
    case ReputationDim::kSite:
      return "site";
    case ReputationDim::kPool:
      return "pool";
  }
  return "unknown";
}

std::string_view ReputationLevelName(ReputationLevel l) {
  switch (l) {
    case ReputationLevel::kHealthy:
      return "healthy";
    case ReputationLevel::kReview:
      return "review";
    case ReputationLevel::kPause:
      return "pause";
  }
  return "unknown";
}

double WindowCounts::bounce_rate() const {
  return sent == 0 ? 0.0 : static_cast<double>(bounced) / static_cast<double>(sent);
}

double WindowCounts::complaint_rate() const {
  return sent == 0 ? 0.0 : static_cast<double>(complained) / static_cast<double>(sent);
}

Status ValidateReputationThresholds(const ReputationThresholds& t) {
  struct Rate {
    const char* name;
    double value;
  };
  for (const Rate& r :
       {Rate{"review_bounce", t.review_bounce}, Rate{"review_complaint", t.review_complaint},
        Rate{"pause_bounce", t.pause_bounce}, Rate{"pause_complaint", t.pause_complaint}}) {
    if (!std::isfinite(r.value) || r.value <= 0 || r.value > 1) {
      return MakeError(Code::kInvalidValue, std::string(r.name) + " must be a rate in (0, 1]",
                       r.name);
    }
  }
  if (t.review_bounce > t.pause_bounce) {
    return MakeError(Code::kInvalidValue, "review_bounce must not exceed pause_bounce",
                     "review_bounce");
  }
  if (t.review_complaint > t.pause_complaint) {
    return MakeError(Code::kInvalidValue, "review_complaint must not exceed pause_complaint",
                     "review_complaint");
  }
  if (t.min_volume == 0) {
    return MakeError(Code::kInvalidValue, "min_volume must be at least 1", "min_volume");
  }
  return Status::Ok();
}

// The state lives apart from the hash node, so a lookup walks small nodes (key, pointer, hash)
// instead of 2 KB ones, whose cached hash sits past the state.
using KeyMap = std::unordered_map<std::string, std::unique_ptr<KeyState>>;
using Entry = KeyMap::value_type;

struct ReputationTracker::Impl {
  mutable std::mutex mu;
  ReputationThresholds thresholds;
  std::array<KeyMap, kReputationDims> keys;
  uint64_t dropped = 0;

  void Clear() {
    for (auto& m : keys) m = KeyMap();  // also frees the bucket arrays
    dropped = 0;
  }

  ReputationSnapshot Snapshot(ReputationDim dim, const std::string& key, const KeyState& k,
                              int64_t now_ms) const {
    ReputationSnapshot s;
    s.dim = dim;
    s.key = key;
    s.hour = k.hour.Sum(FloorDiv(now_ms, kHourBucketMs), kNone);
    s.day = k.day.Sum(FloorDiv(now_ms, kDayBucketMs), kNone);
    Verdict v = JudgeKey(dim, k, now_ms, thresholds);
    s.level = v.level;
    s.level_reason = std::move(v.reason);
    return s;
  }

  Status Parse(std::string_view data);
};

ReputationTracker::ReputationTracker(ReputationThresholds t) : impl_(std::make_unique<Impl>()) {
  impl_->thresholds = t;
}

ReputationTracker::~ReputationTracker() = default;

void ReputationTracker::SetThresholds(const ReputationThresholds& t) {
  std::lock_guard lock(impl_->mu);
  impl_->thresholds = t;
}

ReputationThresholds ReputationTracker::thresholds() const {
  std::lock_guard lock(impl_->mu);
  return impl_->thresholds;
}

void ReputationTracker::Record(ReputationOutcome o, const std::string& tenant,
                               const std::string& domain, const std::string& site,
                               const std::string& pool, int64_t at_ms, uint64_t n) {
  if (n == 0) return;
  const std::array<const std::string*, kReputationDims> keys = {&tenant, &domain, &site, &pool};
  int64_t hour = FloorDiv(at_ms, kHourBucketMs);
  int64_t day = FloorDiv(at_ms, kDayBucketMs);
  std::lock_guard lock(impl_->mu);
  for (size_t d = 0; d < kReputationDims; ++d) {
    const std::string& key = *keys[d];
    if (key.empty() || key.size() > kMaxKeyBytes) continue;
    auto& map = impl_->keys[d];
    auto it = map.find(key);
    if (it == map.end()) {
      if (map.size() >= kMaxKeysPerDimension) {
        ++impl_->dropped;
        continue;
      }
      it = map.try_emplace(key, std::make_unique<KeyState>()).first;
    }
    Add(it->second->hour.At(hour), o, n);
    Add(it->second->day.At(day), o, n);
  }
}

std::optional<ReputationSnapshot> ReputationTracker::Get(ReputationDim dim, const std::string& key,
                                                         int64_t now_ms) const {
  std::lock_guard lock(impl_->mu);
  const auto& map = impl_->keys[static_cast<size_t>(dim)];
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return impl_->Snapshot(dim, key, *it->second, now_ms);
}

std::vector<ReputationSnapshot> ReputationTracker::List(ReputationDim dim, int64_t now_ms) const {
  std::lock_guard lock(impl_->mu);
  const auto& map = impl_->keys[static_cast<size_t>(dim)];
  std::vector<const Entry*> entries;
  entries.reserve(map.size());
  for (const auto& e : map) entries.push_back(&e);
  std::sort(entries.begin(), entries.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  std::vector<ReputationSnapshot> out;
  out.reserve(entries.size());
  for (const auto* e : entries) out.push_back(impl_->Snapshot(dim, e->first, *e->second, now_ms));
  return out;
}

std::vector<ReputationAlert> ReputationTracker::Evaluate(int64_t now_ms) {
  std::vector<ReputationAlert> alerts;
  std::lock_guard lock(impl_->mu);
  for (auto& [tenant, state] : impl_->keys[static_cast<size_t>(ReputationDim::kTenant)]) {
    KeyState& k = *state;
    Verdict v = JudgeKey(ReputationDim::kTenant, k, now_ms, impl_->thresholds);
    if (!InGrace(k, now_ms)) k.acknowledged_ms = kNone;
    if (v.level == k.level) continue;
    ReputationAlert a;
    a.tenant = tenant;
    a.from = k.level;
    a.to = v.level;
    a.reason = std::move(v.reason);
    a.bounce_rate = v.figures.bounce_rate();
    a.complaint_rate = v.figures.complaint_rate();
    a.sent = v.figures.sent;
    a.hour_window = v.hour_window;
    alerts.push_back(std::move(a));
    k.level = v.level;
  }
  std::sort(alerts.begin(), alerts.end(),
            [](const ReputationAlert& a, const ReputationAlert& b) { return a.tenant < b.tenant; });
  return alerts;
}

ReputationLevel ReputationTracker::Level(const std::string& tenant) const {
  std::lock_guard lock(impl_->mu);
  const auto& map = impl_->keys[static_cast<size_t>(ReputationDim::kTenant)];
  auto it = map.find(tenant);
  return it == map.end() ? ReputationLevel::kHealthy : it->second->level;
}

void ReputationTracker::Acknowledge(const std::string& tenant, int64_t now_ms) {
  std::lock_guard lock(impl_->mu);
  auto& map = impl_->keys[static_cast<size_t>(ReputationDim::kTenant)];
  auto it = map.find(tenant);
  if (it == map.end()) return;
  it->second->level = ReputationLevel::kHealthy;
  it->second->acknowledged_ms = now_ms;
}

std::string ReputationTracker::Serialize() const {
  std::lock_guard lock(impl_->mu);
  std::string out(kMagic);
  PutU16(out, kVersion);
  size_t total = 0;
  for (const auto& map : impl_->keys) total += map.size();
  PutU32(out, static_cast<uint32_t>(total));
  for (size_t d = 0; d < kReputationDims; ++d) {
    // Sorted, so the same state always gives the same bytes.
    std::vector<const Entry*> entries;
    entries.reserve(impl_->keys[d].size());
    for (const auto& e : impl_->keys[d]) entries.push_back(&e);
    std::sort(entries.begin(), entries.end(),
              [](const auto* a, const auto* b) { return a->first < b->first; });
    for (const auto* e : entries) {
      const KeyState& k = *e->second;
      PutU8(out, static_cast<uint8_t>(d));
      PutU16(out, static_cast<uint16_t>(e->first.size()));
      out += e->first;
      PutU8(out, static_cast<uint8_t>(k.level));
      PutU64(out, static_cast<uint64_t>(k.acknowledged_ms));
      PutRing(out, k.hour);
      PutRing(out, k.day);
    }
  }
  PutU64(out, Fnv1a64(out));
  return out;
}

Status ReputationTracker::Impl::Parse(std::string_view data) {
  auto bad = [](size_t at, const std::string& what) {
    return MakeError(Code::kInvalidValue,
                     "reputation state: " + what + " at byte " + std::to_string(at));
  };
  constexpr size_t kHeader = 4 + 2 + 4;
  if (data.size() < kHeader + 8) return bad(0, "too short");
  if (data.substr(0, kMagic.size()) != kMagic) return bad(0, "not a reputation state");
  std::string_view body = data.substr(0, data.size() - 8);
  Reader sum(data.substr(body.size()));
  int64_t stored;
  (void)sum.I64(stored);
  if (static_cast<uint64_t>(stored) != Fnv1a64(body)) {
    return bad(body.size(), "checksum mismatch");
  }
  Reader in(body);
  std::string_view magic;
  uint16_t version;
  uint32_t count;
  (void)in.Bytes(kMagic.size(), magic);
  (void)in.U16(version);
  (void)in.U32(count);
  if (version != kVersion) return bad(4, "unsupported version " + std::to_string(version));
  if (count > kMaxKeysPerDimension * kReputationDims) return bad(6, "too many keys");
  for (uint32_t i = 0; i < count; ++i) {
    size_t at = in.pos();
    uint8_t dim, level;
    uint16_t length;
    std::string_view key;
    int64_t acknowledged;
    if (!in.U8(dim) || !in.U16(length) || !in.Bytes(length, key) || !in.U8(level) ||
        !in.I64(acknowledged)) {
      return bad(at, "truncated key");
    }
    if (dim >= kReputationDims) return bad(at, "bad dimension " + std::to_string(dim));
    if (length == 0 || length > kMaxKeyBytes) return bad(at, "bad key length");
    if (level > static_cast<uint8_t>(ReputationLevel::kPause)) return bad(at, "bad level");
    bool tenant = dim == static_cast<uint8_t>(ReputationDim::kTenant);
    if (!tenant && (level != 0 || acknowledged != kNone)) {
      return bad(at, "level on a key that is not a tenant");
    }
    auto& map = keys[dim];
    if (map.size() >= kMaxKeysPerDimension) return bad(at, "too many keys in a dimension");
    auto [it, fresh] = map.try_emplace(std::string(key), nullptr);
    if (!fresh) return bad(at, "duplicate key");
    it->second = std::make_unique<KeyState>();
    KeyState& k = *it->second;
    k.level = static_cast<ReputationLevel>(level);
    k.acknowledged_ms = acknowledged;
    if (auto e = ReadRing(in, k.hour); !e.empty()) return bad(at, e + " (1 h window)");
    if (auto e = ReadRing(in, k.day); !e.empty()) return bad(at, e + " (24 h window)");
  }
  if (in.left() != 0) return bad(in.pos(), "trailing bytes");
  return Status::Ok();
}

Status ReputationTracker::Restore(std::string_view data) {
  std::lock_guard lock(impl_->mu);
  impl_->Clear();
  Status s = impl_->Parse(data);
  if (!s.ok()) impl_->Clear();
  return s;
}

size_t ReputationTracker::Prune(int64_t now_ms) {
  std::lock_guard lock(impl_->mu);
  int64_t hour = FloorDiv(now_ms, kHourBucketMs);
  int64_t day = FloorDiv(now_ms, kDayBucketMs);
  size_t removed = 0;
  for (size_t d = 0; d < kReputationDims; ++d) {
    auto& map = impl_->keys[d];
    for (auto it = map.begin(); it != map.end();) {
      const KeyState& k = *it->second;
      WindowCounts h = k.hour.Sum(hour, kNone), w = k.day.Sum(day, kNone);
      bool idle = h.sent == 0 && h.bounced == 0 && h.complained == 0 && w.sent == 0 &&
                  w.bounced == 0 && w.complained == 0;
      if (idle && k.level == ReputationLevel::kHealthy) {
        it = map.erase(it);
        ++removed;
      } else {
        ++it;
      }
    }
    map.rehash(0);  // give back the bucket array of the keys gone
  }
  return removed;
}

size_t ReputationTracker::KeyCount(ReputationDim dim) const {
  std::lock_guard lock(impl_->mu);
  return impl_->keys[static_cast<size_t>(dim)].size();
}

uint64_t ReputationTracker::dropped_keys() const {
  std::lock_guard lock(impl_->mu);
  return impl_->dropped;
}

size_t ReputationTracker::MemoryBytes() const {
  std::lock_guard lock(impl_->mu);
  // A libstdc++ hash node (next pointer, key, state pointer, cached hash), the state apart, and
  // the allocator's 16 bytes on each.
  constexpr size_t kNode = sizeof(void*) + sizeof(Entry) + 8 + 16 + sizeof(KeyState) + 16;
  const size_t inline_capacity = std::string().capacity();
  size_t bytes = sizeof(Impl);
  for (const auto& map : impl_->keys) {
    bytes += map.size() * kNode + map.bucket_count() * sizeof(void*);
    for (const auto& [key, k] : map) {
      if (key.capacity() > inline_capacity) bytes += key.capacity() + 1;
    }
  }
  return bytes;
}

}  // namespace mp::feedback
