#include "ingest/idempotency.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/config.h"
#include "test_util.h"

namespace mp {
namespace {

class IdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kv = OpenRocksDbStore(dir_.path(), SpoolConfig{});
    ASSERT_TRUE(kv.ok());
    kv_ = std::move(kv.value());
    idem_ = std::make_unique<Idempotency>(*kv_, clock_, 24);
  }
  void Complete(const std::string& tenant, const std::string& key, const std::string& hash,
                const std::string& response) {
    WriteBatch b;
    idem_->Record(b, tenant, key, hash, 202, response);
    ASSERT_TRUE(kv_->CommitAndWait(std::move(b)).ok());
    idem_->Release(tenant, key);
  }
  test::TempDir dir_;
  ManualClock clock_{1795000000000};
  std::unique_ptr<KvStore> kv_;
  std::unique_ptr<Idempotency> idem_;
};

TEST_F(IdempotencyTest, SameRequestReplaysDifferentRequestConflicts) {
  std::string h1 = Idempotency::RequestHash("POST", "/v1/messages", "{a}");
  std::string h2 = Idempotency::RequestHash("POST", "/v1/messages", "{b}");
  auto first = idem_->Begin("t1", "k", h1);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first.value());  // nothing to replay: proceed
  Complete("t1", "k", h1, "{\"id\":1}");
  auto again = idem_->Begin("t1", "k", h1);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again.value());
  EXPECT_EQ(again.value()->response_body, "{\"id\":1}");
  EXPECT_EQ(again.value()->http_status, 202);
  auto other = idem_->Begin("t1", "k", h2);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Code::kIdempotencyMismatch);
  // Keys are per tenant.
  auto t2 = idem_->Begin("t2", "k", h2);
  ASSERT_TRUE(t2.ok());
  EXPECT_FALSE(t2.value());
}

TEST_F(IdempotencyTest, ConcurrentUseOfOneKeyIsRefused) {
  std::string h = Idempotency::RequestHash("POST", "/v1/messages", "{}");
  ASSERT_TRUE(idem_->Begin("t", "k", h).ok());
  auto second = idem_->Begin("t", "k", h);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Code::kIdempotencyInFlight);
  idem_->Release("t", "k");
  EXPECT_TRUE(idem_->Begin("t", "k", h).ok());
}

TEST_F(IdempotencyTest, RecordsExpireAfterTheTtlAndArePurged) {
  std::string h = Idempotency::RequestHash("POST", "/v1/messages", "{}");
  ASSERT_TRUE(idem_->Begin("t", "k", h).ok());
  Complete("t", "k", h, "r");
  clock_.Advance(int64_t{25} * 3600 * 1000);
  auto later = idem_->Begin("t", "k", Idempotency::RequestHash("POST", "/v1/messages", "{x}"));
  ASSERT_TRUE(later.ok());
  EXPECT_FALSE(later.value());  // expired: a new request may use the key
  idem_->Release("t", "k");
  auto purged = idem_->Purge();
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(purged.value(), 1u);
}

TEST(IdempotencyKey, Validation) {
  EXPECT_TRUE(Idempotency::CheckKey("abc-123_XYZ").ok());
  EXPECT_FALSE(Idempotency::CheckKey("").ok());
  EXPECT_FALSE(Idempotency::CheckKey(std::string(256, 'a')).ok());
  EXPECT_FALSE(Idempotency::CheckKey("has space").ok());
  EXPECT_FALSE(Idempotency::CheckKey("nl\n").ok());
}

}  // namespace
}  // namespace mp

namespace mp {
namespace {

TEST_F(IdempotencyTest, PurgeLeavesAKeyInUseAlone) {
  std::string h = Idempotency::RequestHash("POST", "/v1/messages", "{}");
  ASSERT_TRUE(idem_->Begin("t", "k", h).ok());
  Complete("t", "k", h, "old");
  clock_.Advance(int64_t{25} * 3600 * 1000);  // the record is now expired
  // A new request takes the key (its record will replace the expired one): purge must not delete.
  std::string h2 = Idempotency::RequestHash("POST", "/v1/messages", "{2}");
  auto begun = idem_->Begin("t", "k", h2);
  ASSERT_TRUE(begun.ok());
  auto purged = idem_->Purge();
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(purged.value(), 0u);
  Complete("t", "k", h2, "new");
  auto replay = idem_->Begin("t", "k", h2);
  ASSERT_TRUE(replay.ok());
  ASSERT_TRUE(replay.value());
  EXPECT_EQ(replay.value()->response_body, "new");
}

}  // namespace
}  // namespace mp
