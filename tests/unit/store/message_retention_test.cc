// Message retention: the reaper deletes the envelope and body of finished messages older than
// their tenant's cutoff, and only those; it keeps pending and held messages (moving their entry),
// works in bounded rounds, and indexes stores written before the index existed, once.
#include "store/message_retention.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/clock.h"
#include "core/config.h"
#include "store/spool.h"
#include "test_util.h"

namespace mp {
namespace {

constexpr int64_t kDay = 86'400'000;

class MessageRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kv = OpenRocksDbStore(dir.path(), SpoolConfig{});
    ASSERT_TRUE(kv.ok());
    store = std::move(kv.value());
  }
  Envelope Add(const std::string& tenant, int64_t created, RecipientStatus status) {
    clock.Set(created);
    Envelope e;
    e.id = NewId(clock);
    e.tenant_id = tenant;
    e.mail_from = "app@example.com";
    e.created_ms = e.send_at_ms = e.updated_ms = created;
    RecipientRecord r;
    r.address = "someone@example.net";
    r.status = status;
    e.recipients.push_back(r);
    e.status = DeriveStatus(e);
    e.metadata_json = "{}";
    WriteBatch b;
    AddNewMessage(b, e, "the body");
    EXPECT_TRUE(store->CommitAndWait(std::move(b)).ok());
    return e;
  }
  bool Stored(const Envelope& e) {
    auto env = ReadEnvelope(*store, e.id);
    auto body = ReadBody(*store, e.id);
    EXPECT_TRUE(env.ok() && body.ok());
    EXPECT_EQ(env.value().has_value(), body.value().has_value()) << "envelope without body";
    return env.value().has_value();
  }
  // tn_a keeps 30 days before now; tn_b keeps everything.
  RetentionCutoff Cutoff() {
    return [this](std::string_view tenant) -> int64_t {
      return tenant == "tn_a" ? now - 30 * kDay : 0;
    };
  }
  test::TempDir dir;
  std::unique_ptr<KvStore> store;
  int64_t now = 1'800'000'000'000;
  ManualClock clock{now};
};

TEST_F(MessageRetentionTest, DeletesOnlyFinishedMessagesPastTheirTenantsCutoff) {
  Envelope old_delivered = Add("tn_a", now - 40 * kDay, RecipientStatus::kDelivered);
  Envelope old_bounced = Add("tn_a", now - 31 * kDay, RecipientStatus::kBounced);
  Envelope recent = Add("tn_a", now - 29 * kDay, RecipientStatus::kDelivered);
  Envelope other_tenant = Add("tn_b", now - 400 * kDay, RecipientStatus::kDelivered);
  auto r = ReapExpiredMessages(*store, Cutoff(), now, 1000);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r.value().deleted, 2u);
  EXPECT_EQ(r.value().postponed, 0u);
  EXPECT_FALSE(r.value().more);
  EXPECT_FALSE(Stored(old_delivered));
  EXPECT_FALSE(Stored(old_bounced));
  EXPECT_TRUE(Stored(recent));
  EXPECT_TRUE(Stored(other_tenant));
  // Nothing more to do until time moves on; then the recent one goes too.
  EXPECT_EQ(ReapExpiredMessages(*store, Cutoff(), now, 1000).value().deleted, 0u);
  now += 2 * kDay;
  EXPECT_EQ(ReapExpiredMessages(*store, Cutoff(), now, 1000).value().deleted, 1u);
  EXPECT_FALSE(Stored(recent));
  EXPECT_TRUE(Stored(other_tenant));
}

TEST_F(MessageRetentionTest, KeepsPendingAndHeldMessagesAndLooksAgainOneRetentionLater) {
  Envelope pending = Add("tn_a", now - 40 * kDay, RecipientStatus::kDeferred);
  Envelope held = Add("tn_a", now - 40 * kDay, RecipientStatus::kQueued);
  WriteBatch b;
  AddHold(b, held);
  ASSERT_TRUE(store->CommitAndWait(std::move(b)).ok());
  auto r = ReapExpiredMessages(*store, Cutoff(), now, 1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().deleted, 0u);
  EXPECT_EQ(r.value().postponed, 2u);
  EXPECT_TRUE(Stored(pending));
  EXPECT_TRUE(Stored(held));
  // Their entries moved to `now`: the next rounds leave them alone...
  EXPECT_EQ(ReapExpiredMessages(*store, Cutoff(), now + kDay, 1000).value().postponed, 0u);
  // ...until one retention later, when the finished one goes and the held one stays.
  Envelope done = *ReadEnvelope(*store, pending.id).value();
  done.recipients[0].status = RecipientStatus::kDelivered;
  done.status = DeriveStatus(done);
  WriteBatch d;
  AddEnvelopeUpdate(d, done, /*remove_from_queue=*/true);
  ASSERT_TRUE(store->CommitAndWait(std::move(d)).ok());
  now += 31 * kDay;
  r = ReapExpiredMessages(*store, Cutoff(), now, 1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().deleted, 1u);
  EXPECT_EQ(r.value().postponed, 1u);
  EXPECT_FALSE(Stored(pending));
  EXPECT_TRUE(Stored(held));
}

TEST_F(MessageRetentionTest, RoundsAreBoundedAndGoOnWhereTheyStopped) {
  std::vector<Envelope> old;
  for (int i = 0; i < 300; ++i) {
    old.push_back(Add("tn_a", now - 40 * kDay + i, RecipientStatus::kDelivered));
  }
  auto r = ReapExpiredMessages(*store, Cutoff(), now, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().deleted, 100u);
  EXPECT_TRUE(r.value().more);
  EXPECT_FALSE(Stored(old[0]));  // oldest first
  EXPECT_TRUE(Stored(old[100]));
  r = ReapExpiredMessages(*store, Cutoff(), now, 1000);
  EXPECT_EQ(r.value().deleted, 200u);
  EXPECT_FALSE(r.value().more);
  EXPECT_FALSE(Stored(old[299]));
}

TEST_F(MessageRetentionTest, AMessageAnotherWriterHoldsIsLeftForTheNextRound) {
  Envelope busy = Add("tn_a", now - 40 * kDay, RecipientStatus::kDelivered);
  Envelope free = Add("tn_a", now - 39 * kDay, RecipientStatus::kDelivered);
  std::vector<MessageId> begun, ended;
  ReapGuard guard;
  guard.begin = [&](const MessageId& id) {
    if (id == busy.id) return false;
    begun.push_back(id);
    return true;
  };
  guard.end = [&](const MessageId& id) { ended.push_back(id); };
  auto r = ReapExpiredMessages(*store, Cutoff(), now, 1000, guard);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().busy, 1u);
  EXPECT_EQ(r.value().deleted, 1u);
  EXPECT_TRUE(Stored(busy));
  EXPECT_FALSE(Stored(free));
  EXPECT_EQ(begun, std::vector<MessageId>{free.id});
  EXPECT_EQ(ended, begun);  // every guard taken is given back
  // The busy one's entry stayed where it was: the next round takes it.
  r = ReapExpiredMessages(*store, Cutoff(), now, 1000);
  EXPECT_EQ(r.value().deleted, 1u);
  EXPECT_FALSE(Stored(busy));
}

TEST_F(MessageRetentionTest, EntriesWithoutAnEnvelopeAreDropped) {
  Envelope gone = Add("tn_a", now - 40 * kDay, RecipientStatus::kDelivered);
  WriteBatch b;
  b.Delete(Column::kEnvelope, EnvelopeKey(gone.id));
  b.Delete(Column::kBody, EnvelopeKey(gone.id));
  ASSERT_TRUE(store->CommitAndWait(std::move(b)).ok());
  auto r = ReapExpiredMessages(*store, Cutoff(), now, 1000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().stale, 1u);
  EXPECT_EQ(ReapExpiredMessages(*store, Cutoff(), now, 1000).value().stale, 0u);
}

TEST_F(MessageRetentionTest, BackfillIndexesAnOlderStoreOnce) {
  Envelope a = Add("tn_a", now - 40 * kDay, RecipientStatus::kDelivered);
  Envelope b = Add("tn_a", now - 10 * kDay, RecipientStatus::kDelivered);
  // As a store written before the index: no entries.
  std::vector<std::string> keys;
  ASSERT_TRUE(store
                  ->Scan(Column::kState, "mret/",
                         [&](std::string_view k, std::string_view) {
                           keys.emplace_back(k);
                           return true;
                         })
                  .ok());
  ASSERT_EQ(keys.size(), 2u);
  WriteBatch del;
  for (const auto& k : keys) del.Delete(Column::kState, k);
  ASSERT_TRUE(store->CommitAndWait(std::move(del)).ok());
  EXPECT_EQ(ReapExpiredMessages(*store, Cutoff(), now, 1000).value().deleted, 0u);
  auto n = BackfillRetentionIndex(*store);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n.value(), 2u);
  EXPECT_EQ(BackfillRetentionIndex(*store).value(), 0u);  // once per store
  EXPECT_EQ(ReapExpiredMessages(*store, Cutoff(), now, 1000).value().deleted, 1u);
  EXPECT_FALSE(Stored(a));
  EXPECT_TRUE(Stored(b));
}

TEST_F(MessageRetentionTest, ReaperThreadReapsOnItsFirstRound) {
  Envelope old_one = Add("tn_a", now - 40 * kDay, RecipientStatus::kDelivered);
  ManualClock at(now);
  {
    MessageReaper reaper(*store, at, Cutoff(), 3600);
    reaper.Start();
    for (int i = 0; i < 200 && Stored(old_one); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    reaper.Stop();
  }
  EXPECT_FALSE(Stored(old_one));
}

}  // namespace
}  // namespace mp
