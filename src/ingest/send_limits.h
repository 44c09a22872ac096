// SendLimiter: per-tenant send rate (token bucket with a burst) and daily quota (recipients per UTC
// day), checked when mail is submitted (HTTP and SMTP). Over a limit, a tenant that chose to be
// refused gets kRateLimited with the seconds to wait; a tenant that chose "hold" has its mail
// accepted and scheduled for when the limit allows it (the bucket goes into debt; a full day moves
// the mail to the next day with room).
//
// Counting: recipients, as Amazon SES does. The day's count is kept in memory and, for tenants with
// a quota, written with every accepted message (state key usage/<tenant>/<day>), so a restart
// resumes from it; batches committed out of order may leave the stored count behind by the
// submissions in flight at a crash, or ahead by
// a refunded submission whose batch failed while a later one was stored.
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "store/kv.h"
#include "store/spool.h"
#include "store/tenant_store.h"

namespace mp {

class Clock;

class SendLimiter {
 public:
  SendLimiter(KvStore& kv, const Clock& clock);

  struct Decision {
    bool ok = true;
    int64_t hold_until_ms = 0;  // > 0: accepted, to be sent from then on
    int64_t retry_after_s = 0;  // when refused
    std::string reason;         // when refused
    bool permanent = false;     // refused for good (more recipients than the daily quota)
    int64_t day = 0;            // the day charged (for Refund)
    int recipients = 0;
  };
  // Charges n recipients to the tenant, or refuses. Adds the day's count to batch when the tenant
  // has a quota.
  Decision Admit(const std::string& tenant, const TenantLimits& limits, int n, WriteBatch& batch);
  // Gives back what an admitted submission took when it was not stored after all.
  void Refund(const std::string& tenant, const Decision& d);

  struct Usage {
    int64_t today = 0;  // recipients charged to today
    double tokens = 0;  // left in the bucket (negative: held mail in debt)
  };
  Usage Get(const std::string& tenant, const TenantLimits& limits);

  static std::string UsageKey(const std::string& tenant, int64_t day);
  // Deletes the stored counts of days before yesterday (today's and later days', which held mail
  // may be charged to, stay). Returns how many went. Housekeeping calls it.
  Result<size_t> PruneUsage();
  // Applies an admitted decision's hold to a new message: scheduled for hold_until_ms.
  static void ApplyHold(Envelope& e, const Decision& d, int64_t now_ms);

 private:
  struct State {
    double tokens = 0;
    int64_t refill_ms = 0;
    bool fresh = true;
    double rate = 0, burst = 0;       // the limits the bucket was filled for
    std::map<int64_t, int64_t> days;  // day -> recipients charged (today and, when held, later)
  };
  int64_t& DayCount(const std::string& tenant, State& s, int64_t day);  // mu_ held
  void Refill(State& s, const TenantLimits& l, int64_t now);

  KvStore& kv_;
  const Clock& clock_;
  std::mutex mu_;
  std::unordered_map<std::string, State> states_;
};

}  // namespace mp
