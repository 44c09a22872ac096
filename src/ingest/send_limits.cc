#include "ingest/send_limits.h"

#include <algorithm>
#include <cmath>

#include "core/clock.h"

namespace mp {
namespace {
constexpr int64_t kDayMs = 86400000;
constexpr int kMaxHoldDays = 366;
}  // namespace

SendLimiter::SendLimiter(KvStore& kv, const Clock& clock) : kv_(kv), clock_(clock) {}

std::string SendLimiter::UsageKey(const std::string& tenant, int64_t day) {
  std::string k = "usage/" + tenant + "/";
  AppendU64BE(k, static_cast<uint64_t>(day));
  return k;
}

Result<size_t> SendLimiter::PruneUsage() {
  const int64_t keep_from = clock_.NowMs() / kDayMs - 1;
  WriteBatch batch;
  size_t n = 0;
  Status s = kv_.Scan(Column::kState, "usage/", [&](std::string_view key, std::string_view) {
    // "usage/" + tenant + "/" + u64be(day)
    if (key.size() < 6 + 1 + 8 || key[key.size() - 9] != '/') return true;
    auto day = static_cast<int64_t>(ReadU64BE(key.substr(key.size() - 8)));
    if (day < keep_from) {
      batch.Delete(Column::kState, std::string(key));
      ++n;
    }
    return true;
  });
  if (!s.ok()) return s.error();
  if (n == 0) return size_t{0};
  if (Status c = kv_.CommitAndWait(std::move(batch)); !c.ok()) return c.error();
  return n;
}

int64_t& SendLimiter::DayCount(const std::string& tenant, State& s, int64_t day) {
  auto it = s.days.find(day);
  if (it != s.days.end()) return it->second;
  // First use of this day since start: resume from the stored count, if any.
  int64_t stored = 0;
  auto r = kv_.Get(Column::kState, UsageKey(tenant, day));
  if (r.ok() && r.value() && r.value()->size() == 8) {
    stored = static_cast<int64_t>(ReadU64BE(*r.value()));
  }
  // Days gone by are of no use any more.
  int64_t today = clock_.NowMs() / kDayMs;
  while (!s.days.empty() && s.days.begin()->first < today) s.days.erase(s.days.begin());
  return s.days[day] = stored;
}

void SendLimiter::Refill(State& s, const TenantLimits& l, int64_t now) {
  double burst = l.burst > 0 ? l.burst : std::max(1.0, l.rate);
  if (s.fresh || s.rate != l.rate || s.burst != burst) {
    // New limits start with a full bucket (debts of held mail stay).
    s.tokens = s.fresh || s.tokens >= 0 ? burst : s.tokens;
    s.rate = l.rate;
    s.burst = burst;
    s.refill_ms = now;
    s.fresh = false;
  }
  if (l.rate > 0) {
    s.tokens = std::min(burst, s.tokens + (now - s.refill_ms) * l.rate / 1000.0);
  }
  s.refill_ms = now;
}

SendLimiter::Decision SendLimiter::Admit(const std::string& tenant, const TenantLimits& l, int n,
                                         WriteBatch& batch) {
  Decision d;
  d.recipients = n;
  int64_t now = clock_.NowMs();
  int64_t today = now / kDayMs;
  d.day = today;
  std::lock_guard lock(mu_);
  State& s = states_[tenant];
  if (l.daily_quota > 0 && n > l.daily_quota) {
    d.ok = false;
    d.permanent = true;
    d.reason = "the message has " + std::to_string(n) +
               " recipients, more than the daily quota of " + std::to_string(l.daily_quota);
    return d;
  }
  // Quota first: a refusal must not take tokens.
  if (l.daily_quota > 0) {
    int64_t& count = DayCount(tenant, s, today);
    if (count + n > l.daily_quota) {
      if (!l.hold) {
        d.ok = false;
        d.retry_after_s = ((today + 1) * kDayMs - now + 999) / 1000;
        d.reason = "daily quota of " + std::to_string(l.daily_quota) + " recipients reached (" +
                   std::to_string(count) + " sent today); it resets at 00:00 UTC";
        return d;
      }
      // Held: the first later day with room.
      int64_t day = today + 1;
      while (day - today < kMaxHoldDays && DayCount(tenant, s, day) + n > l.daily_quota) ++day;
      d.day = day;
      d.hold_until_ms = day * kDayMs;
    }
  }
  if (l.rate > 0) {
    Refill(s, l, now);
    double burst = l.burst > 0 ? l.burst : std::max(1.0, l.rate);
    // A full bucket admits any one submission, however many recipients it has.
    bool fits = s.tokens >= n || s.tokens >= burst;
    if (!fits && !l.hold) {
      d.ok = false;
      double missing = std::min<double>(n, burst) - s.tokens;
      d.retry_after_s = static_cast<int64_t>(std::clamp(std::ceil(missing / l.rate), 1.0, 1e9));
      d.reason = "send rate of " + std::to_string(l.rate).substr(0, 8) +
                 " recipients a second (burst " + std::to_string(static_cast<int64_t>(burst)) +
                 ") exceeded";
      return d;
    }
    s.tokens -= n;
    if (s.tokens < 0) {
      // Bounded: rates are at least 0.001 a second (admin API), debts at a year.
      double wait_ms = std::min(std::ceil(-s.tokens / l.rate * 1000), 366.0 * kDayMs);
      int64_t when = now + static_cast<int64_t>(wait_ms);
      d.hold_until_ms = std::max(d.hold_until_ms, when);
    }
  }
  int64_t& count = DayCount(tenant, s, d.day);
  count += n;
  if (l.daily_quota > 0) {
    std::string v;
    AppendU64BE(v, static_cast<uint64_t>(count));
    batch.Put(Column::kState, UsageKey(tenant, d.day), std::move(v));
  }
  return d;
}

void SendLimiter::ApplyHold(Envelope& e, const Decision& d, int64_t now_ms) {
  if (d.hold_until_ms <= std::max(e.send_at_ms, now_ms)) return;
  e.send_at_ms = d.hold_until_ms;
  e.status = MessageStatus::kScheduled;
  for (RecipientRecord& r : e.recipients) {
    if (r.status == RecipientStatus::kQueued) r.status = RecipientStatus::kScheduled;
  }
}

void SendLimiter::Refund(const std::string& tenant, const Decision& d) {
  if (!d.ok) return;
  std::lock_guard lock(mu_);
  State& s = states_[tenant];
  auto it = s.days.find(d.day);
  if (it != s.days.end()) it->second = std::max<int64_t>(0, it->second - d.recipients);
  s.tokens += d.recipients;
}

SendLimiter::Usage SendLimiter::Get(const std::string& tenant, const TenantLimits& limits) {
  int64_t now = clock_.NowMs();
  std::lock_guard lock(mu_);
  State& s = states_[tenant];
  Refill(s, limits, now);
  return Usage{DayCount(tenant, s, now / kDayMs), s.tokens};
}

}  // namespace mp
