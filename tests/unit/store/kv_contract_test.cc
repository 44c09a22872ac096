// The KvStore contract. Every backend must pass it; today the RocksDB one.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/config.h"
#include "store/kv.h"
#include "test_util.h"

namespace mp {
namespace {

class KvContract : public ::testing::Test {
 protected:
  std::unique_ptr<KvStore> Open() {
    auto kv = OpenRocksDbStore(dir_.path(), SpoolConfig{});
    EXPECT_TRUE(kv.ok()) << (kv.ok() ? "" : kv.error().detail);
    return kv.ok() ? std::move(kv.value()) : nullptr;
  }
  test::TempDir dir_;
};

TEST_F(KvContract, PutGetDeleteAcrossColumns) {
  auto kv = Open();
  WriteBatch b;
  b.Put(Column::kEnvelope, "k1", "envelope");
  b.Put(Column::kBody, "k1", "body");
  ASSERT_TRUE(kv->CommitAndWait(std::move(b)).ok());
  EXPECT_EQ(*kv->Get(Column::kEnvelope, "k1").value(), "envelope");
  EXPECT_EQ(*kv->Get(Column::kBody, "k1").value(), "body");
  EXPECT_FALSE(kv->Get(Column::kQueue, "k1").value());
  WriteBatch d;
  d.Delete(Column::kEnvelope, "k1");
  ASSERT_TRUE(kv->CommitAndWait(std::move(d)).ok());
  EXPECT_FALSE(kv->Get(Column::kEnvelope, "k1").value());
  EXPECT_TRUE(kv->Get(Column::kBody, "k1").value());
}

TEST_F(KvContract, ScanIsOrderedAndBoundedByPrefix) {
  auto kv = Open();
  WriteBatch b;
  for (std::string k : {"a/3", "a/1", "b/1", "a/2", "a"}) b.Put(Column::kState, k, k);
  ASSERT_TRUE(kv->CommitAndWait(std::move(b)).ok());
  std::vector<std::string> seen;
  ASSERT_TRUE(kv->Scan(Column::kState, "a/", [&](std::string_view k, std::string_view) {
                  seen.emplace_back(k);
                  return true;
                }).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"a/1", "a/2", "a/3"}));
  seen.clear();
  ASSERT_TRUE(kv->Scan(Column::kState, "a/", [&](std::string_view k, std::string_view) {
                  seen.emplace_back(k);
                  return false;  // stop after the first
                }).ok());
  EXPECT_EQ(seen.size(), 1u);
}

TEST_F(KvContract, ConcurrentCommitsEachCompleteOnceAndAllPersist) {
  constexpr int kThreads = 8, kPerThread = 500;
  std::atomic<int> done{0}, failed{0};
  {
    auto kv = Open();
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          WriteBatch b;
          b.Put(Column::kEnvelope, std::to_string(t) + "/" + std::to_string(i), "v");
          kv->Commit(std::move(b), [&](Status s) {
            if (!s.ok()) failed.fetch_add(1);
            done.fetch_add(1);
          });
        }
      });
    }
    for (auto& th : threads) th.join();
    kv->Close();  // finishes every queued commit
    EXPECT_EQ(done.load(), kThreads * kPerThread);
    EXPECT_EQ(failed.load(), 0);
  }
  auto kv = Open();  // reopen: everything acknowledged is there
  int count = 0;
  ASSERT_TRUE(kv->Scan(Column::kEnvelope, "", [&](std::string_view, std::string_view) {
                  ++count;
                  return true;
                }).ok());
  EXPECT_EQ(count, kThreads * kPerThread);
}

TEST_F(KvContract, CommitAfterCloseFailsWithShuttingDown) {
  auto kv = Open();
  kv->Close();
  WriteBatch b;
  b.Put(Column::kState, "x", "y");
  Status s = kv->CommitAndWait(std::move(b));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kShuttingDown);
}

TEST_F(KvContract, SecondOpenOfTheSameDirectoryFailsClearly) {
  auto kv = Open();
  auto second = OpenRocksDbStore(dir_.path(), SpoolConfig{});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Code::kStorage);
  EXPECT_NE(second.error().detail.find("lock"), std::string::npos);
}

TEST_F(KvContract, BoundedPendingQueueRefusesWithOverloaded) {
  SpoolConfig config;
  config.max_pending_writes = 1;
  config.group_commit_max_writes = 1;
  auto opened = OpenRocksDbStore(dir_.path(), config);
  ASSERT_TRUE(opened.ok());
  auto& kv = opened.value();
  std::atomic<int> overloaded{0}, ok{0};
  for (int i = 0; i < 2000; ++i) {
    WriteBatch b;
    b.Put(Column::kBody, "k" + std::to_string(i), std::string(1000, 'x'));
    kv->Commit(std::move(b), [&](Status s) {
      (s.ok() ? ok : overloaded).fetch_add(1);
      if (!s.ok()) {
        EXPECT_EQ(s.error().code, Code::kOverloaded);
      }
    });
  }
  kv->Close();
  EXPECT_EQ(ok.load() + overloaded.load(), 2000);
  EXPECT_GT(overloaded.load(), 0);
  EXPECT_GT(ok.load(), 0);
}

}  // namespace
}  // namespace mp
