// RetryPolicy: when to try a deferred recipient again, and when to give up (RFC 5321 section
// 4.5.4.1: wait between attempts, give up after at least 4-5 days, parameters configurable).
//
// The delay after the n-th failed attempt is first_delay * multiplier^(n-1), capped at max_delay,
// then spread by +-jitter so that a burst of deferrals does not come back as a burst. A recipient
// whose message is older than max_age when an attempt fails is expired (bounced as such); an
// attempt that would fall after that deadline is moved to the deadline, so the last try happens.
// Defaults: 5 minutes, doubling, at most 1 hour apart, +-20 %, 5 days (Postfix: 300 s minimal
// backoff, 5 d maximal_queue_lifetime).
// Thread-safety: a value type; pure functions.
#pragma once

#include <cstdint>
#include <optional>

namespace mp {

struct RetryPolicy {
  int64_t first_delay_ms = int64_t{5} * 60 * 1000;
  double multiplier = 2.0;
  int64_t max_delay_ms = int64_t{60} * 60 * 1000;
  double jitter = 0.2;  // fraction, 0 to 0.5
  int64_t max_age_ms = int64_t{5} * 86400 * 1000;

  // Delay after the failed attempt number `failures` (1 for the first failure). unit_random is a
  // uniform draw in [0, 1) supplied by the caller, so tests are deterministic.
  int64_t Delay(int failures, double unit_random) const;

  // After a failed attempt at now_ms: the time of the next attempt, or nullopt if the message has
  // reached max_age and the recipient expires.
  std::optional<int64_t> NextAttempt(int64_t created_ms, int64_t now_ms, int failures,
                                     double unit_random) const;
};

}  // namespace mp
