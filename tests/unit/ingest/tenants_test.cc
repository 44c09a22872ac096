#include "ingest/tenants.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/config.h"
#include "store/event_log.h"
#include "test_util.h"

namespace mp {
namespace {

class TenantsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kv = OpenRocksDbStore(dir_.path(), SpoolConfig{});
    ASSERT_TRUE(kv.ok());
    kv_ = std::move(kv.value());
    tenants_ = std::make_unique<TenantService>(*kv_, clock_);
    ASSERT_TRUE(tenants_->Load().ok());
  }
  test::TempDir dir_;
  ManualClock clock_{1795000000000};
  std::unique_ptr<KvStore> kv_;
  std::unique_ptr<TenantService> tenants_;
};

TEST_F(TenantsTest, CreateIssuesAWorkingKeyStoredOnlyAsAHash) {
  auto k = tenants_->Create("acme");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k.value().api_key.size(), 3u + 64u);
  auto who = tenants_->Authenticate(k.value().api_key);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who.value(), k.value().tenant.id);
  // The plaintext key is nowhere in the store.
  bool found = false;
  ASSERT_TRUE(kv_->Scan(Column::kState, "",
                        [&](std::string_view key, std::string_view v) {
                          found = found ||
                                  v.find(k.value().api_key.substr(3)) != std::string_view::npos;
                          return true;
                        })
                  .ok());
  EXPECT_FALSE(found);
}

TEST_F(TenantsTest, WrongMissingAndDisabledKeysAllFailTheSameWay) {
  auto k = tenants_->Create("acme");
  ASSERT_TRUE(k.ok());
  std::string key = k.value().api_key;
  std::string wrong = key;
  wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
  for (std::string_view bad :
       {std::string_view(""), std::string_view(wrong), std::string_view("mp_short")}) {
    auto r = tenants_->Authenticate(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Code::kUnauthorized);
    EXPECT_EQ(r.error().detail, "missing or invalid API key");
  }
  ASSERT_TRUE(tenants_->SetDisabled(k.value().tenant.id, true).ok());
  auto r = tenants_->Authenticate(key);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().detail, "missing or invalid API key");
  ASSERT_TRUE(tenants_->SetDisabled(k.value().tenant.id, false).ok());
  EXPECT_TRUE(tenants_->Authenticate(key).ok());
}

TEST_F(TenantsTest, RotationWithGraceKeepsTheOldKeyUntilItExpires) {
  auto k = tenants_->Create("acme");
  ASSERT_TRUE(k.ok());
  auto r = tenants_->RotateKey(k.value().tenant.id, 60);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(tenants_->Authenticate(k.value().api_key).ok());
  EXPECT_TRUE(tenants_->Authenticate(r.value().api_key).ok());
  clock_.Advance(61 * 1000);
  EXPECT_FALSE(tenants_->Authenticate(k.value().api_key).ok());
  EXPECT_TRUE(tenants_->Authenticate(r.value().api_key).ok());
  // Without grace the previous key dies at once.
  auto r2 = tenants_->RotateKey(k.value().tenant.id, 0);
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(tenants_->Authenticate(r.value().api_key).ok());
  EXPECT_TRUE(tenants_->Authenticate(r2.value().api_key).ok());
}

TEST_F(TenantsTest, SurvivesReloadAndRejectsDuplicateOrBadNames) {
  auto k = tenants_->Create("acme");
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(tenants_->Create("acme").error().code, Code::kConflict);
  EXPECT_EQ(tenants_->Create("bad name").error().code, Code::kInvalidValue);
  EXPECT_EQ(tenants_->Create("").error().code, Code::kInvalidValue);
  TenantService reloaded(*kv_, clock_);
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_TRUE(reloaded.Authenticate(k.value().api_key).ok());
  EXPECT_EQ(reloaded.List().size(), 1u);
  EXPECT_EQ(reloaded.RotateKey("tn_nope", 0).error().code, Code::kNotFound);
}

}  // namespace
}  // namespace mp

namespace mp {
namespace {

// Per-tenant log retention: set, stored, seen through the shared table the compaction filter
// holds (also after the service is gone), back to the default with 0; pausing writes an event.
TEST_F(TenantsTest, RetentionDaysAndPauseEvents) {
  auto k = tenants_->Create("acme");
  ASSERT_TRUE(k.ok());
  const std::string id = k.value().tenant.id;
  auto table = tenants_->Retention();
  EXPECT_EQ(table->Get(id), 0);
  ASSERT_TRUE(tenants_->SetRetentionDays(id, 7).ok());
  EXPECT_EQ(table->Get(id), 7);
  TenantService again(*kv_, clock_);
  ASSERT_TRUE(again.Load().ok());
  EXPECT_EQ(again.Retention()->Get(id), 7) << "stored with the tenant";
  ASSERT_TRUE(tenants_->SetRetentionDays(id, 0).ok());
  EXPECT_EQ(table->Get(id), 0);
  tenants_.reset();
  EXPECT_EQ(table->Get(id), 0) << "the table outlives the service";

  ASSERT_TRUE(again.SetPaused(id, true, "reputation", "bounce rate 12%").ok());
  ASSERT_TRUE(again.SetPaused(id, true).ok());  // no change: no second event
  ASSERT_TRUE(again.SetPaused(id, false).ok());
  auto events = ReadTenantEvents(*kv_, id, 0, 0, "", "", 10);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events.value().events.size(), 2u);
  EXPECT_EQ(events.value().events[0].type, "tenant_paused");
  EXPECT_EQ(events.value().events[0].text, "bounce rate 12%");
  EXPECT_NE(events.value().events[0].metadata_json.find("\"by\":\"reputation\""),
            std::string::npos);
  EXPECT_EQ(events.value().events[1].type, "tenant_resumed");
}

}  // namespace
}  // namespace mp
