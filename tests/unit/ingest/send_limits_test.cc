// SendLimiter: rate with burst, daily quota, refusals with the time to wait, holds, persistence of
// the day's count, refunds.
#include "ingest/send_limits.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/config.h"
#include "test_util.h"

namespace mp {
namespace {

constexpr int64_t kDay = 86400000;

class SendLimiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kv = OpenRocksDbStore(dir.path(), SpoolConfig{});
    ASSERT_TRUE(kv.ok());
    store = std::move(kv.value());
  }
  SendLimiter::Decision Admit(SendLimiter& l, const TenantLimits& limits, int n) {
    WriteBatch b;
    auto d = l.Admit("t1", limits, n, b);
    if (d.ok) EXPECT_TRUE(store->CommitAndWait(std::move(b)).ok());
    return d;
  }
  test::TempDir dir;
  std::unique_ptr<KvStore> store;
  ManualClock clock{20000 * kDay + 3600 * 1000};  // 01:00 UTC
};

TEST_F(SendLimiterTest, RateWithBurstRefusesWithRetryAfter) {
  SendLimiter l(*store, clock);
  TenantLimits lim;
  lim.rate = 10;
  lim.burst = 20;
  EXPECT_TRUE(Admit(l, lim, 15).ok);
  EXPECT_TRUE(Admit(l, lim, 5).ok);
  auto d = Admit(l, lim, 5);
  ASSERT_FALSE(d.ok);
  EXPECT_EQ(d.retry_after_s, 1);
  EXPECT_NE(d.reason.find("send rate"), std::string::npos);
  clock.Advance(500);  // 5 tokens back
  EXPECT_TRUE(Admit(l, lim, 5).ok);
  // A full bucket takes one submission bigger than the burst (it could never fit otherwise).
  clock.Advance(10000);
  EXPECT_TRUE(Admit(l, lim, 50).ok);
  auto wait = Admit(l, lim, 1);
  ASSERT_FALSE(wait.ok);
  EXPECT_EQ(wait.retry_after_s, 4);  // 30 in debt + 1
}

TEST_F(SendLimiterTest, HoldSchedulesInsteadOfRefusing) {
  SendLimiter l(*store, clock);
  TenantLimits lim;
  lim.rate = 10;
  lim.burst = 10;
  lim.hold = true;
  auto a = Admit(l, lim, 10);
  EXPECT_TRUE(a.ok);
  EXPECT_EQ(a.hold_until_ms, 0);
  auto b = Admit(l, lim, 20);
  ASSERT_TRUE(b.ok);
  EXPECT_EQ(b.hold_until_ms, clock.NowMs() + 2000);
  Envelope e;
  e.send_at_ms = clock.NowMs();
  e.recipients.push_back({"a@example.com"});
  e.recipients[0].status = RecipientStatus::kQueued;
  SendLimiter::ApplyHold(e, b, clock.NowMs());
  EXPECT_EQ(e.send_at_ms, clock.NowMs() + 2000);
  EXPECT_EQ(e.status, MessageStatus::kScheduled);
  EXPECT_EQ(e.recipients[0].status, RecipientStatus::kScheduled);
}

TEST_F(SendLimiterTest, DailyQuotaRefusesUntilMidnightAndSurvivesRestart) {
  TenantLimits lim;
  lim.daily_quota = 100;
  {
    SendLimiter l(*store, clock);
    EXPECT_TRUE(Admit(l, lim, 60).ok);
    EXPECT_TRUE(Admit(l, lim, 40).ok);
    auto d = Admit(l, lim, 1);
    ASSERT_FALSE(d.ok);
    EXPECT_EQ(d.retry_after_s, 23 * 3600);
    EXPECT_NE(d.reason.find("daily quota of 100"), std::string::npos);
  }
  SendLimiter again(*store, clock);  // a restart: the day's count is read back
  EXPECT_EQ(again.Get("t1", lim).today, 100);
  EXPECT_FALSE(Admit(again, lim, 1).ok);
  clock.Advance(23 * 3600 * 1000);  // the next UTC day
  EXPECT_TRUE(Admit(again, lim, 100).ok);
}

TEST_F(SendLimiterTest, QuotaHoldMovesToTheNextDayWithRoom) {
  SendLimiter l(*store, clock);
  TenantLimits lim;
  lim.daily_quota = 10;
  lim.hold = true;
  EXPECT_EQ(Admit(l, lim, 10).hold_until_ms, 0);
  auto d = Admit(l, lim, 6);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.hold_until_ms, 20001 * kDay);
  EXPECT_EQ(Admit(l, lim, 6).hold_until_ms, 20002 * kDay);  // tomorrow has 4 left
  EXPECT_EQ(Admit(l, lim, 4).hold_until_ms, 20001 * kDay);
}

TEST_F(SendLimiterTest, RefundGivesBack) {
  SendLimiter l(*store, clock);
  TenantLimits lim;
  lim.daily_quota = 10;
  WriteBatch b;
  auto d = l.Admit("t1", lim, 10, b);
  ASSERT_TRUE(d.ok);
  l.Refund("t1", d);  // never stored
  EXPECT_EQ(l.Get("t1", lim).today, 0);
  EXPECT_TRUE(Admit(l, lim, 10).ok);
}

}  // namespace
}  // namespace mp

namespace mp {
namespace {
TEST_F(SendLimiterTest, RefundedBatchLeavesTheBucketAsItWas) {
  SendLimiter l(*store, clock);
  TenantLimits lim;
  lim.rate = 2;
  lim.burst = 5;
  WriteBatch b;
  auto a = l.Admit("t1", lim, 2, b);
  auto c = l.Admit("t1", lim, 2, b);
  ASSERT_TRUE(a.ok && c.ok);
  EXPECT_FALSE(l.Admit("t1", lim, 2, b).ok);
  l.Refund("t1", a);
  l.Refund("t1", c);
  EXPECT_TRUE(l.Admit("t1", lim, 5, b).ok);
}
TEST_F(SendLimiterTest, PruneUsageDropsOnlyDaysBeforeYesterday) {
  SendLimiter l(*store, clock);
  const int64_t today = clock.NowMs() / kDay;
  WriteBatch b;
  for (int64_t day : {today - 30, today - 2, today - 1, today, today + 5}) {
    for (const char* tenant : {"t1", "t2"}) {
      std::string v;
      AppendU64BE(v, 7);
      b.Put(Column::kState, SendLimiter::UsageKey(tenant, day), v);
    }
  }
  ASSERT_TRUE(store->CommitAndWait(std::move(b)).ok());
  auto n = l.PruneUsage();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n.value(), 4u);  // today-30 and today-2, for both tenants
  for (int64_t day : {today - 30, today - 2}) {
    EXPECT_FALSE(store->Get(Column::kState, SendLimiter::UsageKey("t1", day)).value());
  }
  for (int64_t day : {today - 1, today, today + 5}) {
    EXPECT_TRUE(store->Get(Column::kState, SendLimiter::UsageKey("t2", day)).value());
  }
  EXPECT_EQ(l.PruneUsage().value(), 0u);
}

}  // namespace
}  // namespace mp
