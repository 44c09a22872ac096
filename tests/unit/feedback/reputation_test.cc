// Sender reputation: counts and rates over the rolling 1 h and 24 h windows, buckets rolling off
// and stale buckets cleared, out-of-order records, the minimum volume, review and pause reported
// once each, the 1 h burst rule, return to healthy, Acknowledge's grace, persistence (round trip,
// garbage refused), pruning, threshold changes, and bounded memory. Every time is explicit.
#include "feedback/reputation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace mp::feedback {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;
// A multiple of 15 minutes, so bucket boundaries are easy to name.
constexpr int64_t kT0 = 1'700'000'100'000;
static_assert(kT0 % (15 * kMinute) == 0);

using O = ReputationOutcome;
using D = ReputationDim;
using L = ReputationLevel;

// ok delivered and bounced hard-bounced recipients of tenant (domain d.<tenant>, one site, one
// pool) at at_ms.
void Send(ReputationTracker& t, const std::string& tenant, int64_t at_ms, uint64_t ok,
          uint64_t bounced, uint64_t complained = 0) {
  const std::string domain = "d." + tenant, site = "mx:mx.example.net", pool = "pool-a";
  t.Record(O::kSent, tenant, domain, site, pool, at_ms, ok);
  t.Record(O::kBounced, tenant, domain, site, pool, at_ms, bounced);
  t.Record(O::kComplained, tenant, domain, site, pool, at_ms, complained);
}

WindowCounts Hour(const ReputationTracker& t, D dim, const std::string& key, int64_t now) {
  auto s = t.Get(dim, key, now);
  return s ? s->hour : WindowCounts{};
}

WindowCounts Day(const ReputationTracker& t, D dim, const std::string& key, int64_t now) {
  auto s = t.Get(dim, key, now);
  return s ? s->day : WindowCounts{};
}

void ExpectCounts(const WindowCounts& w, uint64_t sent, uint64_t bounced, uint64_t complained,
                  const std::string& what) {
  EXPECT_EQ(w.sent, sent) << what;
  EXPECT_EQ(w.bounced, bounced) << what;
  EXPECT_EQ(w.complained, complained) << what;
}

TEST(Reputation, NamesAreStable) {
  EXPECT_EQ(ReputationDimName(D::kTenant), "tenant");
  EXPECT_EQ(ReputationDimName(D::kDomain), "domain");
  EXPECT_EQ(ReputationDimName(D::kSite), "site");
  EXPECT_EQ(ReputationDimName(D::kPool), "pool");
  EXPECT_EQ(ReputationLevelName(L::kHealthy), "healthy");
  EXPECT_EQ(ReputationLevelName(L::kReview), "review");
  EXPECT_EQ(ReputationLevelName(L::kPause), "pause");
}

TEST(ReputationTracker, CountsAndRatesInBothWindows) {
  ReputationTracker t;
  t.Record(O::kSent, "tn_a", "a.example", "mx:mx.a.example", "pool-a", kT0, 90);
  t.Record(O::kBounced, "tn_a", "a.example", "mx:mx.a.example", "pool-a", kT0 + 5 * kMinute, 10);
  t.Record(O::kComplained, "tn_a", "a.example", "mx:mx.a.example", "pool-a", kT0 + 10 * kMinute);
  ExpectCounts(Hour(t, D::kTenant, "tn_a", kT0 + 10 * kMinute), 100, 10, 1, "tenant 1 h early");
  WindowCounts day = Day(t, D::kTenant, "tn_a", kT0 + 10 * kMinute);
  EXPECT_DOUBLE_EQ(day.bounce_rate(), 0.10);
  EXPECT_DOUBLE_EQ(day.complaint_rate(), 0.01);
  // Only the tenant is known for this one.
  t.Record(O::kSent, "tn_a", "", "", "", kT0 + 2 * kHour, 100);

  const int64_t now = kT0 + 2 * kHour + kMinute;
  ExpectCounts(Hour(t, D::kTenant, "tn_a", now), 100, 0, 0, "tenant 1 h");
  day = Day(t, D::kTenant, "tn_a", now);
  ExpectCounts(day, 200, 10, 1, "tenant 24 h");
  EXPECT_DOUBLE_EQ(day.bounce_rate(), 0.05);
  EXPECT_DOUBLE_EQ(day.complaint_rate(), 0.005);
  for (auto [dim, key] : {std::pair{D::kDomain, "a.example"},
                          std::pair{D::kSite, "mx:mx.a.example"}, std::pair{D::kPool, "pool-a"}}) {
    ExpectCounts(Hour(t, dim, key, now), 0, 0, 0, key);
    ExpectCounts(Day(t, dim, key, now), 100, 10, 1, key);
  }
  EXPECT_FALSE(t.Get(D::kDomain, "tn_a", now));  // dimensions are separate
  EXPECT_FALSE(t.Get(D::kSite, "mx:other.example", now));
  EXPECT_FALSE(t.Get(D::kPool, "", now));
  for (D d : {D::kTenant, D::kDomain, D::kSite, D::kPool}) EXPECT_EQ(t.KeyCount(d), 1u);

  // A bounce by DSN after the receiver accepted the message: one more bounce, not one more send.
  t.Record(O::kLateBounced, "tn_a", "a.example", "", "", now, 5);
  ExpectCounts(Day(t, D::kTenant, "tn_a", now), 200, 15, 1, "late bounce");
  t.Record(O::kSent, "tn_a", "", "", "", now, 0);  // nothing
  ExpectCounts(Day(t, D::kTenant, "tn_a", now), 200, 15, 1, "n = 0");

  WindowCounts none;
  EXPECT_EQ(none.bounce_rate(), 0.0);
  EXPECT_EQ(none.complaint_rate(), 0.0);
}

TEST(ReputationTracker, RollsOffAfterAnHourAndADay) {
  ReputationTracker t;
  t.Record(O::kBounced, "tn_a", "", "", "", kT0, 3);
  // The 1 h window is the current minute and the 59 before it.
  ExpectCounts(Hour(t, D::kTenant, "tn_a", kT0 + 60 * kMinute - 1), 3, 3, 0, "59 min 59 s");
  ExpectCounts(Hour(t, D::kTenant, "tn_a", kT0 + 60 * kMinute), 0, 0, 0, "60 min");
  ExpectCounts(Day(t, D::kTenant, "tn_a", kT0 + 60 * kMinute), 3, 3, 0, "24 h after 1 h");
  // The 24 h window is the current quarter of an hour and the 95 before it.
  ExpectCounts(Day(t, D::kTenant, "tn_a", kT0 + kDay - 1), 3, 3, 0, "23 h 59");
  ExpectCounts(Day(t, D::kTenant, "tn_a", kT0 + kDay), 0, 0, 0, "24 h");
  // Recorded a little ahead of the reader's clock: counted.
  t.Record(O::kSent, "tn_a", "", "", "", kT0 + 2 * kMinute, 1);
  ExpectCounts(Hour(t, D::kTenant, "tn_a", kT0 + kMinute), 4, 3, 0, "ahead of now");
}

TEST(ReputationTracker, AGapClearsStaleBuckets) {
  ReputationTracker t;
  t.Record(O::kSent, "tn_a", "", "", "", kT0, 50);
  t.Record(O::kSent, "tn_a", "", "", "", kT0 + 30 * kMinute, 5);
  // Exactly one ring later the same slots are reused: the old counts must not leak in.
  t.Record(O::kSent, "tn_a", "", "", "", kT0 + kHour, 7);
  ExpectCounts(Hour(t, D::kTenant, "tn_a", kT0 + kHour), 12, 0, 0, "next hour, same slot");
  t.Record(O::kSent, "tn_a", "", "", "", kT0 + kDay, 1);
  ExpectCounts(Day(t, D::kTenant, "tn_a", kT0 + kDay), 13, 0, 0, "next day, same slot");
  ExpectCounts(Hour(t, D::kTenant, "tn_a", kT0 + kDay), 1, 0, 0, "next day, 1 h");
  // Days later: only the new record.
  t.Record(O::kBounced, "tn_a", "", "", "", kT0 + 5 * kDay + 7 * kMinute, 2);
  ExpectCounts(Hour(t, D::kTenant, "tn_a", kT0 + 5 * kDay + 8 * kMinute), 2, 2, 0, "days, 1 h");
  ExpectCounts(Day(t, D::kTenant, "tn_a", kT0 + 5 * kDay + 8 * kMinute), 2, 2, 0, "days, 24 h");
}

TEST(ReputationTracker, OutOfOrderRecordsCountInTheirBucket) {
  ReputationTracker t;
  t.Record(O::kSent, "tn_a", "", "", "", kT0 + 3 * kHour, 10);
  t.Record(O::kSent, "tn_a", "", "", "", kT0 + 3 * kHour - 20 * kMinute, 4);  // within both
  t.Record(O::kBounced, "tn_a", "", "", "", kT0 + kHour, 2);    // older than the 1 h ring
  t.Record(O::kComplained, "tn_a", "", "", "", kT0 - kDay, 9);  // older than the 24 h ring
  const int64_t now = kT0 + 3 * kHour;
  ExpectCounts(Hour(t, D::kTenant, "tn_a", now), 14, 0, 0, "1 h");
  ExpectCounts(Day(t, D::kTenant, "tn_a", now), 16, 2, 0, "24 h");
  // The 20-minute-old record leaves the 1 h window 20 minutes before the newer one.
  ExpectCounts(Hour(t, D::kTenant, "tn_a", now + 45 * kMinute), 10, 0, 0, "45 min later");
}

TEST(ReputationTracker, NothingIsJudgedBelowTheMinimumVolume) {
  ReputationTracker t;
  Send(t, "tn_small", kT0, 499, 500);  // 999 sent, half bounced
  auto s = t.Get(D::kTenant, "tn_small", kT0);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->level, L::kHealthy);
  EXPECT_EQ(s->level_reason, "999 sent over 24 h < minimum volume 1000: rates not judged");
  EXPECT_TRUE(t.Evaluate(kT0).empty());
  Send(t, "tn_small", kT0 + kMinute, 1, 0);
  auto alerts = t.Evaluate(kT0 + kMinute);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].to, L::kPause);
  EXPECT_EQ(alerts[0].sent, 1000u);
}

TEST(ReputationTracker, ReviewAndPauseAreReportedOnce) {
  ReputationTracker t;
  Send(t, "tn_a", kT0, 940, 60);   // 6% bounces
  Send(t, "tn_b", kT0, 1000, 10);  // 1%: healthy
  auto alerts = t.Evaluate(kT0 + kMinute);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].tenant, "tn_a");
  EXPECT_EQ(alerts[0].from, L::kHealthy);
  EXPECT_EQ(alerts[0].to, L::kReview);
  EXPECT_EQ(alerts[0].reason, "bounce rate 6.0% over 24 h (1000 sent) >= review threshold 5%");
  EXPECT_DOUBLE_EQ(alerts[0].bounce_rate, 0.06);
  EXPECT_EQ(alerts[0].sent, 1000u);
  EXPECT_FALSE(alerts[0].hour_window);
  EXPECT_EQ(t.Level("tn_a"), L::kReview);
  EXPECT_EQ(t.Level("tn_b"), L::kHealthy);
  EXPECT_EQ(t.Level("tn_unknown"), L::kHealthy);
  EXPECT_TRUE(t.Evaluate(kT0 + 2 * kMinute).empty());

  Send(t, "tn_a", kT0 + 2 * kHour, 0, 100);  // 160 of 1100: 14.5%
  alerts = t.Evaluate(kT0 + 2 * kHour);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].from, L::kReview);
  EXPECT_EQ(alerts[0].to, L::kPause);
  EXPECT_EQ(alerts[0].reason, "bounce rate 14.5% over 24 h (1100 sent) >= pause threshold 10%");
  EXPECT_EQ(t.Level("tn_a"), L::kPause);
  EXPECT_TRUE(t.Evaluate(kT0 + 3 * kHour).empty());

  // The other dimensions are judged in snapshots, never alerted.
  auto domain = t.Get(D::kDomain, "d.tn_a", kT0 + 3 * kHour);
  ASSERT_TRUE(domain);
  EXPECT_EQ(domain->level, L::kPause);
  auto site = t.Get(D::kSite, "mx:mx.example.net", kT0 + 3 * kHour);
  ASSERT_TRUE(site);
  EXPECT_EQ(site->level, L::kReview);  // 170 of 2110
}

TEST(ReputationTracker, ComplaintRatesJudgedToo) {
  ReputationTracker t;
  Send(t, "tn_a", kT0, 2000, 0, 2);  // 0.1%
  auto alerts = t.Evaluate(kT0);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].to, L::kReview);
  EXPECT_EQ(alerts[0].reason,
            "complaint rate 0.10% over 24 h (2000 sent) >= review threshold 0.1%");
  Send(t, "tn_a", kT0 + kMinute, 0, 220, 10);  // bounces 220/2220 = 9.9%, complaints 0.54%
  alerts = t.Evaluate(kT0 + kMinute);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].to, L::kPause);
  EXPECT_EQ(alerts[0].reason, "complaint rate 0.54% over 24 h (2220 sent) >= pause threshold 0.5%");
  Send(t, "tn_a", kT0 + 2 * kMinute, 0, 10);  // both over
  alerts = t.Evaluate(kT0 + 2 * kMinute);
  EXPECT_TRUE(alerts.empty());
  auto s = t.Get(D::kTenant, "tn_a", kT0 + 2 * kMinute);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->level_reason,
            "bounce rate 10.3% over 24 h (2230 sent) >= pause threshold 10%; complaint rate "
            "0.54% over 24 h (2230 sent) >= pause threshold 0.5%");
}

TEST(ReputationTracker, AnHourBurstPausesALargeSender) {
  ReputationTracker t;
  // A large, clean sender over the last day: 23 000 delivered.
  for (int h = 0; h < 23; ++h) Send(t, "tn_big", kT0 + h * kHour, 1000, 0);
  EXPECT_TRUE(t.Evaluate(kT0 + 23 * kHour).empty());
  // A burst of 600 sends with a quarter bounced: over the pause rate but under the volume.
  Send(t, "tn_big", kT0 + 23 * kHour + 5 * kMinute, 450, 150);
  EXPECT_TRUE(t.Evaluate(kT0 + 23 * kHour + 10 * kMinute).empty());
  // 1 h of 1200 with 20% bounced: the 24 h rate is still 1%, the hour alone pauses.
  Send(t, "tn_big", kT0 + 23 * kHour + 20 * kMinute, 510, 90);
  auto alerts = t.Evaluate(kT0 + 23 * kHour + 30 * kMinute);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].to, L::kPause);
  EXPECT_TRUE(alerts[0].hour_window);
  EXPECT_EQ(alerts[0].sent, 1200u);
  EXPECT_DOUBLE_EQ(alerts[0].bounce_rate, 0.2);
  EXPECT_EQ(alerts[0].reason, "bounce rate 20.0% over 1 h (1200 sent) >= pause threshold 10%");
  auto s = t.Get(D::kTenant, "tn_big", kT0 + 23 * kHour + 30 * kMinute);
  ASSERT_TRUE(s);
  EXPECT_NEAR(s->day.bounce_rate(), 0.0099, 0.0001);

  // The hour only pauses: a review-level hour on a clean day is not a review.
  ReputationTracker u;
  for (int h = 0; h < 23; ++h) Send(u, "tn_big", kT0 + h * kHour, 1000, 0);
  Send(u, "tn_big", kT0 + 23 * kHour, 930, 70);  // 7% over 1 h
  EXPECT_TRUE(u.Evaluate(kT0 + 23 * kHour).empty());
}

TEST(ReputationTracker, BackToHealthy) {
  ReputationTracker t;
  Send(t, "tn_a", kT0, 930, 70);
  ASSERT_EQ(t.Evaluate(kT0).size(), 1u);
  EXPECT_EQ(t.Level("tn_a"), L::kReview);
  // Good sending dilutes the rate: 70 of 2000 = 3.5%.
  Send(t, "tn_a", kT0 + kHour, 1000, 0);
  auto alerts = t.Evaluate(kT0 + kHour);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].from, L::kReview);
  EXPECT_EQ(alerts[0].to, L::kHealthy);
  EXPECT_EQ(alerts[0].reason,
            "bounce rate 3.5%, complaint rate 0.00% over 24 h (2000 sent) under the review "
            "thresholds 5%, 0.1%");
  EXPECT_TRUE(t.Evaluate(kT0 + 2 * kHour).empty());

  // A paused tenant whose outcomes roll off the 24 h window.
  Send(t, "tn_b", kT0, 800, 200);
  ASSERT_EQ(t.Evaluate(kT0).size(), 1u);
  EXPECT_EQ(t.Level("tn_b"), L::kPause);
  EXPECT_TRUE(t.Evaluate(kT0 + kDay - 1).empty());
  alerts = t.Evaluate(kT0 + kDay);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].tenant, "tn_b");
  EXPECT_EQ(alerts[0].to, L::kHealthy);
  EXPECT_EQ(alerts[0].sent, 0u);
}

TEST(ReputationTracker, AcknowledgeHoldsAtReviewUntilNewOutcomesPause) {
  ReputationTracker t;
  Send(t, "tn_a", kT0, 880, 120);  // 12%
  ASSERT_EQ(t.Evaluate(kT0 + kMinute).size(), 1u);
  ASSERT_EQ(t.Level("tn_a"), L::kPause);

  // The operator resumes the tenant two hours later.
  t.Acknowledge("tn_a", kT0 + 2 * kHour);
  EXPECT_EQ(t.Level("tn_a"), L::kHealthy);
  auto alerts = t.Evaluate(kT0 + 2 * kHour);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].from, L::kHealthy);
  EXPECT_EQ(alerts[0].to, L::kReview);
  EXPECT_EQ(alerts[0].reason,
            "bounce rate 12.0% over 24 h (1000 sent) >= pause threshold 10%; held at review: "
            "acknowledged, only outcomes after it can pause");
  // No loop: the same old outcomes never pause it again.
  for (int64_t at = kT0 + 3 * kHour; at < kT0 + kDay; at += kHour) {
    EXPECT_TRUE(t.Evaluate(at).empty()) << (at - kT0) / kHour;
  }
  // A clean hour after the resume is no reason either.
  ReputationTracker u;
  Send(u, "tn_a", kT0, 880, 120);
  (void)u.Evaluate(kT0);
  u.Acknowledge("tn_a", kT0 + 2 * kHour);
  ASSERT_EQ(u.Evaluate(kT0 + 2 * kHour).size(), 1u);
  Send(u, "tn_a", kT0 + 3 * kHour, 100, 10);  // 130 of 1110: still 11.7% over 24 h
  EXPECT_TRUE(u.Evaluate(kT0 + 3 * kHour).empty());
  EXPECT_EQ(u.Level("tn_a"), L::kReview);
  // New bad sending is: 1000 more with 15% bounced, so 1110 since the acknowledgement at 14.4%.
  Send(u, "tn_a", kT0 + 4 * kHour, 850, 150);
  alerts = u.Evaluate(kT0 + 4 * kHour + kMinute);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].from, L::kReview);
  EXPECT_EQ(alerts[0].to, L::kPause);
  EXPECT_FALSE(alerts[0].hour_window);
  EXPECT_EQ(alerts[0].sent, 1110u);
  EXPECT_EQ(alerts[0].reason,
            "bounce rate 14.4% over 24 h (1110 sent) >= pause threshold 10% (outcomes since the "
            "acknowledgement)");

  // A burst within the hour after a resume pauses by the 1 h window.
  ReputationTracker w;
  for (int h = 0; h < 10; ++h) Send(w, "tn_a", kT0 + h * kHour, 1000, 0);
  Send(w, "tn_a", kT0 + 10 * kHour, 0, 1200);  // 1200 of 11200 over 24 h, all in an hour
  ASSERT_EQ(w.Evaluate(kT0 + 10 * kHour).size(), 1u);
  w.Acknowledge("tn_a", kT0 + 11 * kHour);
  ASSERT_EQ(w.Evaluate(kT0 + 11 * kHour).size(), 1u);
  EXPECT_EQ(w.Level("tn_a"), L::kReview);
  Send(w, "tn_a", kT0 + 11 * kHour + 5 * kMinute, 800, 200);
  alerts = w.Evaluate(kT0 + 11 * kHour + 6 * kMinute);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].to, L::kPause);
  EXPECT_TRUE(alerts[0].hour_window);
  EXPECT_EQ(alerts[0].reason,
            "bounce rate 20.0% over 1 h (1000 sent) >= pause threshold 10% (outcomes since the "
            "acknowledgement)");
}

TEST(ReputationTracker, AcknowledgeWithinTheHourAndOfAHealthyTenant) {
  ReputationTracker t;
  Send(t, "tn_a", kT0, 800, 200);
  (void)t.Evaluate(kT0);
  ASSERT_EQ(t.Level("tn_a"), L::kPause);
  // Resumed in the same hour: the 1 h window still holds the bad outcomes, still no pause.
  t.Acknowledge("tn_a", kT0 + 5 * kMinute);
  auto alerts = t.Evaluate(kT0 + 5 * kMinute);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].to, L::kReview);
  auto s = t.Get(D::kTenant, "tn_a", kT0 + 6 * kMinute);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->level, L::kReview);
  // Once the old outcomes roll off: healthy.
  alerts = t.Evaluate(kT0 + kDay);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].to, L::kHealthy);

  // Acknowledging a tenant whose rates are fine changes nothing visible.
  Send(t, "tn_b", kT0 + kDay, 1000, 0);
  t.Acknowledge("tn_b", kT0 + kDay);
  EXPECT_TRUE(t.Evaluate(kT0 + kDay).empty());
  // Nor does acknowledging one never seen.
  t.Acknowledge("tn_nobody", kT0 + kDay);
  EXPECT_EQ(t.KeyCount(D::kTenant), 2u);
  EXPECT_EQ(t.Level("tn_nobody"), L::kHealthy);
}

TEST(ReputationTracker, SerializeRestoreRoundTrip) {
  ReputationTracker t;
  Send(t, "tn_a", kT0, 880, 120, 3);
  Send(t, "tn_b", kT0 + 3 * kHour, 5000, 10, 1);
  t.Record(O::kSent, "tn_c", "c.example", "mx:c", "pool-b", kT0 - 2 * kHour, 7);
  (void)t.Evaluate(kT0 + 3 * kHour);
  t.Acknowledge("tn_a", kT0 + 3 * kHour);
  (void)t.Evaluate(kT0 + 3 * kHour);
  ASSERT_EQ(t.Level("tn_a"), L::kReview);
  const int64_t now = kT0 + 3 * kHour + kMinute;
  std::string bytes = t.Serialize();

  ReputationTracker r;
  r.Record(O::kSent, "tn_old", "", "", "", kT0, 1);  // replaced by the restore
  Status s = r.Restore(bytes);
  ASSERT_TRUE(s.ok()) << s.error().detail;
  EXPECT_FALSE(r.Get(D::kTenant, "tn_old", now));
  EXPECT_EQ(r.Serialize(), bytes);
  for (D d : {D::kTenant, D::kDomain, D::kSite, D::kPool}) {
    auto a = t.List(d, now), b = r.List(d, now);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].key, b[i].key);
      ExpectCounts(b[i].hour, a[i].hour.sent, a[i].hour.bounced, a[i].hour.complained, a[i].key);
      ExpectCounts(b[i].day, a[i].day.sent, a[i].day.bounced, a[i].day.complained, a[i].key);
      EXPECT_EQ(a[i].level, b[i].level);
      EXPECT_EQ(a[i].level_reason, b[i].level_reason);
    }
  }
  // Levels and the grace survive: no alert again after a restart.
  EXPECT_EQ(r.Level("tn_a"), L::kReview);
  EXPECT_TRUE(r.Evaluate(now).empty());
  // The rings go on where they were: the next day's record replaces the old bucket.
  r.Record(O::kSent, "tn_b", "", "", "", kT0 + 3 * kHour + kDay, 1);
  ExpectCounts(Day(r, D::kTenant, "tn_b", kT0 + 3 * kHour + kDay), 1, 0, 0, "after restore");

  ReputationTracker empty;
  ASSERT_TRUE(r.Restore(empty.Serialize()).ok());
  EXPECT_EQ(r.KeyCount(D::kTenant), 0u);
}

// Recomputes the trailing checksum, so a test can reach the structural checks behind it.
std::string Reseal(std::string bytes) {
  bytes.resize(bytes.size() - 8);
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((h >> (8 * i)) & 0xff));
  return bytes;
}

TEST(ReputationTracker, RestoreRefusesGarbageAndLeavesTheTrackerEmpty) {
  ReputationTracker t;
  Send(t, "tn_a", kT0, 10, 2, 1);
  const std::string good = t.Serialize();
  ASSERT_TRUE(ReputationTracker().Restore(good).ok());

  auto refused = [&](std::string_view data, const std::string& what) {
    ReputationTracker r;
    r.Record(O::kSent, "tn_x", "x.example", "", "", kT0, 5);
    Status s = r.Restore(data);
    EXPECT_FALSE(s.ok()) << what;
    if (s.ok()) return;
    EXPECT_EQ(s.error().code, Code::kInvalidValue) << what;
    for (D d : {D::kTenant, D::kDomain, D::kSite, D::kPool}) EXPECT_EQ(r.KeyCount(d), 0u) << what;
  };
  refused("", "empty");
  refused("MPRP", "magic only");
  refused(std::string(200, '\0'), "zeros");
  std::mt19937 rng(7);
  for (int i = 0; i < 50; ++i) {
    std::string junk(1 + rng() % 300, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    refused(junk, "random " + std::to_string(i));
  }
  for (size_t n = 0; n < good.size(); ++n)
    refused(good.substr(0, n), "prefix " + std::to_string(n));
  for (size_t i = 0; i < good.size(); ++i) {
    std::string flipped = good;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x10);
    refused(flipped, "flipped byte " + std::to_string(i));
  }
  refused(good + "x", "trailing byte");

  // Well sealed, but wrong inside. Offsets: magic 0, version 4, key count 6, then the first key
  // (tenants come first): dimension 10, key length 11, key 13, level 17, acknowledgement 18.
  ASSERT_EQ(good.substr(13, 4), "tn_a");
  std::string v2 = good;
  v2[4] = 2;
  refused(Reseal(v2), "version 2");
  std::string dim = good;
  dim[10] = 9;
  refused(Reseal(dim), "bad dimension");
  std::string level = good;
  level[17] = 3;
  refused(Reseal(level), "bad level");
  std::string count = good;
  count[6] = static_cast<char>(count[6] + 1);
  refused(Reseal(count), "one key more than there is");
  std::string length = good;
  length[11] = 0;
  refused(Reseal(length), "empty key");
  // The 1 h ring: newest bucket number at 26, then the count of buckets, then slot 0 .. 59.
  const size_t hour_used = 13 + 4 + 1 + 8 + 8;
  ASSERT_EQ(good[hour_used], 1);
  std::string slot = good;
  slot[hour_used + 1] = 60;
  refused(Reseal(slot), "slot out of the ring");
  std::string used = good;
  used[hour_used] = 61;
  refused(Reseal(used), "more buckets than the ring");
  std::string zero = good;
  std::memset(zero.data() + hour_used + 2, 0, 12);
  refused(Reseal(zero), "an empty bucket listed");
  // Two copies of the same key.
  ReputationTracker one;
  one.Record(O::kSent, "tn_a", "", "", "", kT0, 1);
  std::string single = one.Serialize();
  std::string body = single.substr(10, single.size() - 18);
  std::string twice =
      single.substr(0, 6) + std::string("\x02\x00\x00\x00", 4) + body + body + std::string(8, '\0');
  refused(Reseal(twice), "duplicate key");
  std::string two_keys = twice;
  two_keys[10 + body.size() + 3 + 3] = 'b';  // "tn_a" -> "tn_b" in the second copy
  EXPECT_TRUE(ReputationTracker().Restore(Reseal(two_keys)).ok());
}

TEST(ReputationTracker, PruneRemovesIdleKeys) {
  ReputationTracker t;
  Send(t, "tn_old", kT0, 10, 0);
  Send(t, "tn_new", kT0 + 20 * kHour, 10, 0);
  Send(t, "tn_paused", kT0, 800, 200);
  (void)t.Evaluate(kT0);
  ASSERT_EQ(t.Level("tn_paused"), L::kPause);
  EXPECT_EQ(t.Prune(kT0 + 20 * kHour), 0u);
  // A day after kT0: tn_old (and its domain) go; the site and pool are shared with tn_new; the
  // paused tenant waits for its return to healthy to be reported.
  EXPECT_EQ(t.Prune(kT0 + kDay), 3u);
  EXPECT_FALSE(t.Get(D::kTenant, "tn_old", kT0 + kDay));
  EXPECT_FALSE(t.Get(D::kDomain, "d.tn_old", kT0 + kDay));
  EXPECT_FALSE(t.Get(D::kDomain, "d.tn_paused", kT0 + kDay));
  EXPECT_TRUE(t.Get(D::kTenant, "tn_paused", kT0 + kDay));
  EXPECT_TRUE(t.Get(D::kSite, "mx:mx.example.net", kT0 + kDay));
  auto alerts = t.Evaluate(kT0 + kDay);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].to, L::kHealthy);
  EXPECT_EQ(t.Prune(kT0 + kDay), 1u);
  EXPECT_EQ(t.KeyCount(D::kTenant), 1u);
  EXPECT_EQ(t.Prune(kT0 + 3 * kDay), 4u);
  for (D d : {D::kTenant, D::kDomain, D::kSite, D::kPool}) EXPECT_EQ(t.KeyCount(d), 0u);
}

TEST(ReputationTracker, ThresholdChangesTakeEffectAtTheNextEvaluate) {
  ReputationTracker t;
  Send(t, "tn_a", kT0, 940, 60);   // 6%
  Send(t, "tn_b", kT0, 400, 100);  // 500 sent, 20%
  auto alerts = t.Evaluate(kT0);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].to, L::kReview);

  ReputationThresholds loose;
  loose.review_bounce = 0.07;
  t.SetThresholds(loose);
  EXPECT_EQ(t.thresholds().review_bounce, 0.07);
  alerts = t.Evaluate(kT0);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].tenant, "tn_a");
  EXPECT_EQ(alerts[0].to, L::kHealthy);

  ReputationThresholds strict;
  strict.pause_bounce = 0.06;
  strict.min_volume = 500;
  t.SetThresholds(strict);
  alerts = t.Evaluate(kT0);
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].tenant, "tn_a");
  EXPECT_EQ(alerts[0].to, L::kPause);
  EXPECT_EQ(alerts[0].reason, "bounce rate 6.0% over 24 h (1000 sent) >= pause threshold 6%");
  EXPECT_EQ(alerts[1].tenant, "tn_b");
  EXPECT_EQ(alerts[1].to, L::kPause);
}

TEST(ReputationThresholds, Validation) {
  EXPECT_TRUE(ValidateReputationThresholds({}).ok());
  auto field = [](ReputationThresholds t) {
    Status s = ValidateReputationThresholds(t);
    return s.ok() ? std::string("ok") : s.error().field;
  };
  ReputationThresholds t;
  t.pause_bounce = 0;
  EXPECT_EQ(field(t), "pause_bounce");
  t = {};
  t.review_complaint = 1.5;
  EXPECT_EQ(field(t), "review_complaint");
  t = {};
  t.review_bounce = std::nan("");
  EXPECT_EQ(field(t), "review_bounce");
  t = {};
  t.review_bounce = 0.2;  // over pause_bounce
  EXPECT_EQ(field(t), "review_bounce");
  t = {};
  t.review_complaint = 0.01;
  EXPECT_EQ(field(t), "review_complaint");
  t = {};
  t.min_volume = 0;
  EXPECT_EQ(field(t), "min_volume");
}

TEST(ReputationTracker, LongKeysAndKeysPastTheCapAreNotCounted) {
  ReputationTracker t;
  const std::string long_key(ReputationTracker::kMaxKeyBytes + 1, 'a');
  t.Record(O::kSent, "tn_a", long_key, "", "", kT0);
  EXPECT_EQ(t.KeyCount(D::kDomain), 0u);
  EXPECT_EQ(t.KeyCount(D::kTenant), 1u);
  // Pools only, to keep the test small: the cap is per dimension.
  for (size_t i = 0; i < ReputationTracker::kMaxKeysPerDimension + 10; ++i) {
    t.Record(O::kSent, "", "", "", "p" + std::to_string(i), kT0);
  }
  EXPECT_EQ(t.KeyCount(D::kPool), ReputationTracker::kMaxKeysPerDimension);
  EXPECT_EQ(t.dropped_keys(), 10u);
  t.Record(O::kSent, "", "", "", "p0", kT0);  // a known key still counts
  ExpectCounts(Day(t, D::kPool, "p0", kT0), 2, 0, 0, "p0");
  EXPECT_EQ(t.Prune(kT0 + 2 * kDay), ReputationTracker::kMaxKeysPerDimension + 1);
}

TEST(ReputationTracker, AMillionRecordsOnTenThousandKeysStayBounded) {
  ReputationTracker t;
  // 10 000 keys: 1000 tenants, 4000 domains, 4990 sites, 10 pools, over three days. Each call
  // names one key (the others ""), to keep the test quick under the sanitizers.
  std::vector<std::pair<D, std::string>> keys;
  for (int i = 0; i < 10'000; ++i) {
    if (i < 1000) {
      keys.emplace_back(D::kTenant, "tn_" + std::to_string(i));
    } else if (i < 5000) {
      keys.emplace_back(D::kDomain, "d" + std::to_string(i) + ".example");
    } else if (i < 9990) {
      keys.emplace_back(D::kSite, "mx:mx" + std::to_string(i) + ".example.net");
    } else {
      keys.emplace_back(D::kPool, "pool-" + std::to_string(i));
    }
  }
  const std::string none;
  std::mt19937 rng(42);
  const std::vector<O> outcomes = {O::kSent, O::kSent, O::kSent, O::kBounced, O::kComplained};
  for (int i = 0; i < 1'000'000; ++i) {
    uint32_t r = rng();
    const auto& [dim, key] = keys[r % keys.size()];
    int64_t at = kT0 + static_cast<int64_t>(i) * (3 * kDay / 1'000'000);
    t.Record(outcomes[(r >> 16) % outcomes.size()], dim == D::kTenant ? key : none,
             dim == D::kDomain ? key : none, dim == D::kSite ? key : none,
             dim == D::kPool ? key : none, at);
  }
  EXPECT_EQ(t.KeyCount(D::kTenant), 1000u);
  EXPECT_EQ(t.KeyCount(D::kDomain), 4000u);
  EXPECT_EQ(t.KeyCount(D::kSite), 4990u);
  EXPECT_EQ(t.KeyCount(D::kPool), 10u);
  // About 2 KB a key, as the header says: 20 MB for 10 000 keys, whatever the number of records.
  const size_t bytes = t.MemoryBytes();
  EXPECT_GT(bytes, 10'000u * 1900);
  EXPECT_LT(bytes, 10'000u * 2200);
  std::string state = t.Serialize();
  EXPECT_LT(state.size(), 10'000u * 2000);
  // Only the last day's outcomes are in the windows.
  uint64_t day_sent = 0;
  for (D d : {D::kTenant, D::kDomain, D::kSite, D::kPool}) {
    for (const auto& s : t.List(d, kT0 + 3 * kDay)) day_sent += s.day.sent;
  }
  EXPECT_NEAR(static_cast<double>(day_sent), 1e6 / 3 * 0.8, 1e6 / 3 * 0.02);
  EXPECT_EQ(t.Prune(kT0 + 5 * kDay), 10'000u);
  EXPECT_LT(t.MemoryBytes(), 20'000u);
}

TEST(ReputationTracker, SafeFromManyThreads) {
  ReputationTracker t;
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&t, w] {
      for (int64_t i = 0; i < 5000; ++i) {
        const int64_t at = kT0 + i * 1000;
        Send(t, "tn_" + std::to_string(w), at, 1, i % 10 == 0 ? 1 : 0);
        if (i % 500 == 0) {
          (void)t.Evaluate(at);
          (void)t.List(D::kTenant, at);
          (void)t.Serialize();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ExpectCounts(Day(t, D::kSite, "mx:mx.example.net", kT0 + 5 * kHour), 22000, 2000, 0, "site");
}

}  // namespace
}  // namespace mp::feedback
