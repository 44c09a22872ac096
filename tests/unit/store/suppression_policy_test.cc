// Per-tenant suppression policy: defaults when nothing is stored (SES-like: hard bounces,
// complaints and unsubscribes until removed, bad_domain 30 days), round trips through a real
// store, strict decoding of corrupt values, automatic expiry times, and FindSuppression honouring
// use_global without an extra read.
#include <gtest/gtest.h>

#include "core/config.h"
#include "store/suppression.h"
#include "test_util.h"

namespace mp {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;

Suppression Entry(std::string scope, std::string address, int64_t expires_ms = 0) {
  Suppression s;
  s.scope = std::move(scope);
  s.address = std::move(address);
  s.reason = "complaint";
  s.source = "api";
  s.created_ms = kNow - 1000;
  s.expires_ms = expires_ms;
  return s;
}

// Counts point reads, so a test can tell how many lookups a call made.
class CountingStore final : public KvStore {
 public:
  explicit CountingStore(KvStore& inner) : inner_(inner) {}
  void Commit(WriteBatch batch, Done done) override { inner_.Commit(std::move(batch), done); }
  Result<std::optional<std::string>> Get(Column column, std::string_view key) override {
    ++gets;
    return inner_.Get(column, key);
  }
  Status Scan(Column column, std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) override {
    return inner_.Scan(column, prefix, fn);
  }
  Status ScanRange(Column column, std::string_view from, std::string_view to,
                   const std::function<bool(std::string_view, std::string_view)>& fn) override {
    return inner_.ScanRange(column, from, to, fn);
  }
  StoreStats Stats() override { return inner_.Stats(); }
  void SetLogRetention(std::function<int64_t(std::string_view)> cutoff) override {
    inner_.SetLogRetention(std::move(cutoff));
  }
  Status Compact(Column column) override { return inner_.Compact(column); }
  void Close() override {}
  int gets = 0;

 private:
  KvStore& inner_;
};

class SuppressionPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kv = OpenRocksDbStore(dir.path(), SpoolConfig{});
    ASSERT_TRUE(kv.ok());
    store = std::move(kv.value());
  }
  void Commit(WriteBatch b) { ASSERT_TRUE(store->CommitAndWait(std::move(b)).ok()); }
  test::TempDir dir;
  std::unique_ptr<KvStore> store;
};

TEST(SuppressionPolicyDefaults, FollowSesAndApplyTheGlobalList) {
  SuppressionPolicy p = SuppressionPolicy::Defaults();
  EXPECT_TRUE(p.use_global);
  std::map<std::string, int64_t> want = {{"invalid_recipient", 0},
                                         {"bad_domain", 30 * kSuppressionDayMs},
                                         {"inactive_mailbox", 0},
                                         {"complaint", 0},
                                         {"unsubscribe", 0}};
  EXPECT_EQ(p.auto_reasons, want);
  // "manual" is never automatic.
  EXPECT_FALSE(p.auto_reasons.contains("manual"));
  EXPECT_TRUE(IsAutoSuppressionReason("complaint"));
  EXPECT_FALSE(IsAutoSuppressionReason("manual"));
  EXPECT_FALSE(IsAutoSuppressionReason("Complaint"));
  EXPECT_FALSE(IsAutoSuppressionReason(""));
}

TEST(SuppressionPolicyExpiry, GivesTheEntrysExpiryOrNothing) {
  SuppressionPolicy p = SuppressionPolicy::Defaults();
  EXPECT_EQ(p.AutoExpiry("complaint", kNow), 0);  // until removed
  EXPECT_EQ(p.AutoExpiry("bad_domain", kNow), kNow + 30 * kSuppressionDayMs);
  EXPECT_EQ(p.AutoExpiry("manual", kNow), std::nullopt);
  p.auto_reasons.erase("complaint");
  EXPECT_EQ(p.AutoExpiry("complaint", kNow), std::nullopt);
  // A duration past year 9999 is capped where the CSV export can still write it.
  p.auto_reasons["unsubscribe"] = INT64_MAX;
  EXPECT_EQ(p.AutoExpiry("unsubscribe", kNow), kMaxSuppressionExpiresMs);
}

TEST_F(SuppressionPolicyTest, DefaultsWhenNoneIsStoredAndRoundTrips) {
  auto none = ReadSuppressionPolicy(*store, "tn_a");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none.value(), SuppressionPolicy::Defaults());

  SuppressionPolicy p;
  p.use_global = false;
  p.auto_reasons = {{"complaint", 0}, {"bad_domain", 7 * kSuppressionDayMs}};
  WriteBatch b;
  AddSuppressionPolicy(b, "tn_a", p);
  Commit(std::move(b));
  auto got = ReadSuppressionPolicy(*store, "tn_a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value(), p);
  // Per tenant: another tenant still has the defaults.
  auto other = ReadSuppressionPolicy(*store, "tn_b");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other.value(), SuppressionPolicy::Defaults());

  // An empty map (nothing automatic) is kept as such, not turned back into the defaults.
  SuppressionPolicy nothing;
  nothing.auto_reasons.clear();
  WriteBatch b2;
  AddSuppressionPolicy(b2, "tn_a", nothing);
  Commit(std::move(b2));
  got = ReadSuppressionPolicy(*store, "tn_a");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got.value().auto_reasons.empty());
  EXPECT_TRUE(got.value().use_global);
}

TEST_F(SuppressionPolicyTest, StoresOnlyAutomaticReasonsWithValidDurations) {
  SuppressionPolicy p;
  p.auto_reasons = {{"manual", 0}, {"bogus", 0}, {"complaint", -5}, {"unsubscribe", 1000}};
  auto back = DecodeSuppressionPolicy(EncodeSuppressionPolicy(p));
  ASSERT_TRUE(back);
  std::map<std::string, int64_t> want = {{"unsubscribe", 1000}};
  EXPECT_EQ(back->auto_reasons, want);
}

TEST_F(SuppressionPolicyTest, RefusesCorruptValues) {
  SuppressionPolicy p = SuppressionPolicy::Defaults();
  std::string good = EncodeSuppressionPolicy(p);
  ASSERT_TRUE(DecodeSuppressionPolicy(good));
  EXPECT_EQ(good.substr(0, 3), std::string("\x01\x01\x05", 3));  // v1, use_global, 5 reasons
  EXPECT_FALSE(DecodeSuppressionPolicy(""));
  EXPECT_FALSE(DecodeSuppressionPolicy(good.substr(0, good.size() - 1)));  // cut short
  EXPECT_FALSE(DecodeSuppressionPolicy(good + "x"));                       // bytes left over
  std::string v2 = good;
  v2[0] = 2;
  EXPECT_FALSE(DecodeSuppressionPolicy(v2));  // unknown version
  std::string flags = good;
  flags[1] = 0x03;
  EXPECT_FALSE(DecodeSuppressionPolicy(flags));  // unknown flag bit
  // A reason name that is not automatic, and the same reason twice.
  std::string manual("\x01\x01\x01\x06manual", 10);
  AppendU64BE(manual, 0);
  EXPECT_FALSE(DecodeSuppressionPolicy(manual));
  std::string twice("\x01\x00\x02", 3);
  for (int i = 0; i < 2; ++i) {
    twice += std::string("\x09") + "complaint";
    AppendU64BE(twice, 0);
  }
  EXPECT_FALSE(DecodeSuppressionPolicy(twice));
  std::string negative(
      "\x01\x00\x01\x09"
      "complaint",
      13);
  AppendU64BE(negative, static_cast<uint64_t>(-1));
  EXPECT_FALSE(DecodeSuppressionPolicy(negative));

  // Stored corrupt: a storage error, never silently the defaults.
  WriteBatch b;
  b.Put(Column::kState, SuppressionPolicyKey("tn_a"), v2);
  Commit(std::move(b));
  auto r = ReadSuppressionPolicy(*store, "tn_a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kStorage);
}

TEST_F(SuppressionPolicyTest, FindHonoursUseGlobalWithoutAnExtraRead) {
  WriteBatch b;
  AddSuppression(b, Entry(std::string(kGlobalScope), "g@example.com"));
  AddSuppression(b, Entry("tn_a", "own@example.com"));
  AddSuppression(b, Entry("tn_a", "old@example.com", kNow - 1));
  AddSuppression(b, Entry(std::string(kGlobalScope), "old@example.com"));
  Commit(std::move(b));
  CountingStore counting(*store);

  SuppressionPolicy off = SuppressionPolicy::Defaults();
  off.use_global = false;
  auto r = FindSuppression(counting, "tn_a", "g@example.com", kNow, off);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value());
  EXPECT_EQ(counting.gets, 1);  // the tenant's key only
  // The tenant's own entries still count; an expired own entry does not fall back to global.
  r = FindSuppression(counting, "tn_a", "own@example.com", kNow, off);
  ASSERT_TRUE(r.ok() && r.value());
  EXPECT_EQ(r.value()->scope, "tn_a");
  r = FindSuppression(counting, "tn_a", "old@example.com", kNow, off);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value());

  counting.gets = 0;
  SuppressionPolicy on = SuppressionPolicy::Defaults();
  r = FindSuppression(counting, "tn_a", "G@Example.com", kNow, on);
  ASSERT_TRUE(r.ok() && r.value());
  EXPECT_EQ(r.value()->scope, kGlobalScope);
  EXPECT_EQ(counting.gets, 2);
  r = FindSuppression(counting, "tn_a", "old@example.com", kNow, on);
  ASSERT_TRUE(r.ok() && r.value());
  EXPECT_EQ(r.value()->scope, kGlobalScope);
  // The overload without a policy keeps applying the global list.
  r = FindSuppression(*store, "tn_b", "g@example.com", kNow);
  ASSERT_TRUE(r.ok() && r.value());
  // An address that cannot be a recipient reads nothing.
  counting.gets = 0;
  r = FindSuppression(counting, "tn_a", "not an address", kNow, on);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value());
  EXPECT_EQ(counting.gets, 0);
}

TEST_F(SuppressionPolicyTest, PolicyKeysStayOutOfListings) {
  WriteBatch b;
  AddSuppressionPolicy(b, "tn_a", SuppressionPolicy::Defaults());
  AddSuppression(b, Entry("tn_a", "a@example.com"));
  Commit(std::move(b));
  auto page = ListSuppressions(*store, {.scope = "tn_a"}, kNow);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page.value().items.size(), 1u);
  EXPECT_EQ(page.value().items[0].address, "a@example.com");
  EXPECT_EQ(SuppressionPolicyKey("tn_a"), "suppolicy/tn_a");
}

}  // namespace
}  // namespace mp
