#include "queue/retry.h"

#include <gtest/gtest.h>

namespace mp {
namespace {

constexpr int64_t kMin = 60 * 1000;

TEST(RetryPolicy, DoublesFromFiveMinutesToAnHourlyCap) {
  RetryPolicy p;
  // unit_random 0.5 is the middle of the jitter range: no spread.
  EXPECT_EQ(p.Delay(1, 0.5), 5 * kMin);
  EXPECT_EQ(p.Delay(2, 0.5), 10 * kMin);
  EXPECT_EQ(p.Delay(3, 0.5), 20 * kMin);
  EXPECT_EQ(p.Delay(4, 0.5), 40 * kMin);
  EXPECT_EQ(p.Delay(5, 0.5), 60 * kMin);
  EXPECT_EQ(p.Delay(500, 0.5), 60 * kMin);  // no overflow however many failures
}

TEST(RetryPolicy, JitterSpreadsWithinTheConfiguredFraction) {
  RetryPolicy p;
  EXPECT_EQ(p.Delay(1, 0.0), 4 * kMin);   // -20 %
  EXPECT_EQ(p.Delay(1, 1.0), 6 * kMin);   // +20 %
  EXPECT_EQ(p.Delay(9, 0.0), 48 * kMin);  // the cap is spread too
  RetryPolicy none;
  none.jitter = 0;
  EXPECT_EQ(none.Delay(1, 0.0), none.Delay(1, 0.99));
}

TEST(RetryPolicy, ExpiresAtMaxAgeWithALastAttemptAtTheDeadline) {
  RetryPolicy p;
  const int64_t created = 1'795'000'000'000;
  EXPECT_EQ(p.NextAttempt(created, created + kMin, 1, 0.5), created + 6 * kMin);
  const int64_t deadline = created + p.max_age_ms;
  // A failure 10 minutes before the deadline: the next try would be later, so it is at the
  // deadline.
  EXPECT_EQ(p.NextAttempt(created, deadline - 10 * kMin, 8, 0.5), deadline);
  EXPECT_FALSE(p.NextAttempt(created, deadline, 9, 0.5));
  EXPECT_FALSE(p.NextAttempt(created, deadline + 1, 9, 0.5));
}

TEST(RetryPolicy, OverAFullLifetimeAttemptsAreAtLeastFiveMinutesApart) {
  RetryPolicy p;
  const int64_t created = 0;
  int64_t now = 0;
  int failures = 0;
  int attempts = 1;
  for (;;) {
    ++failures;
    std::optional<int64_t> next = p.NextAttempt(created, now, failures, (failures % 10) / 10.0);
    if (!next) break;
    EXPECT_GE(*next - now, failures == 1 ? 4 * kMin : 0);
    EXPECT_LE(*next - now, 72 * kMin);
    now = *next;
    ++attempts;
  }
  EXPECT_GE(now, p.max_age_ms);
  // 5 days with attempts about an hour apart once the cap is reached.
  EXPECT_GT(attempts, 100);
  EXPECT_LT(attempts, 160);
}

}  // namespace
}  // namespace mp
