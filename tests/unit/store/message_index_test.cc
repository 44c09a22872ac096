// The message list indexes: a new message is found by every filter; a status change moves its
// status entry in the same batch; pages are newest first with cursors that stay put while newer
// messages arrive; time bounds; retention sees the index keys' tenant and time.
#include "store/message_index.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/config.h"
#include "store/event_log.h"
#include "test_util.h"

namespace mp {
namespace {

class MessageIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kv = OpenRocksDbStore(dir.path(), SpoolConfig{});
    ASSERT_TRUE(kv.ok());
    store = std::move(kv.value());
  }
  Envelope Add(const std::string& tenant, int64_t created, std::vector<std::string> rcpts,
               std::vector<std::string> tags = {}, std::string from = "app@example.com") {
    clock.Set(created);
    Envelope e;
    e.id = NewId(clock);
    e.tenant_id = tenant;
    e.mail_from = std::move(from);
    e.created_ms = e.send_at_ms = e.updated_ms = created;
    for (auto& r : rcpts) {
      RecipientRecord rr;
      rr.address = r;
      e.recipients.push_back(rr);
    }
    e.tags = std::move(tags);
    e.metadata_json = "{}";
    WriteBatch b;
    AddNewMessage(b, e, "body");
    EXPECT_TRUE(store->CommitAndWait(std::move(b)).ok());
    return e;
  }
  std::vector<MessageId> Ids(const MessageQuery& q) {
    auto page = QueryMessages(*store, q);
    EXPECT_TRUE(page.ok());
    std::vector<MessageId> out;
    if (page.ok()) {
      for (const auto& e : page.value().messages) out.push_back(e.id);
    }
    return out;
  }
  MessageQuery Q(std::string tenant = "tn_a") {
    MessageQuery q;
    q.tenant = std::move(tenant);
    return q;
  }
  test::TempDir dir;
  std::unique_ptr<KvStore> store;
  ManualClock clock{1'800'000'000'000};
};

TEST_F(MessageIndexTest, FiltersNewestFirst) {
  Envelope a = Add("tn_a", 1'800'000'001'000, {"Bob@Example.com"}, {"welcome"});
  Envelope b = Add("tn_a", 1'800'000'002'000, {"carol@example.com", "bob@example.com"});
  Envelope c = Add("tn_a", 1'800'000'003'000, {"dave@example.com"}, {}, "news@example.com");
  Add("tn_b", 1'800'000'004'000, {"bob@example.com"});
  EXPECT_EQ(Ids(Q()), (std::vector<MessageId>{c.id, b.id, a.id}));
  MessageQuery r = Q();
  r.recipient = "BOB@example.com";
  EXPECT_EQ(Ids(r), (std::vector<MessageId>{b.id, a.id})) << "any case; not tn_b's";
  MessageQuery f = Q();
  f.from = "news@example.com";
  EXPECT_EQ(Ids(f), (std::vector<MessageId>{c.id}));
  MessageQuery g = Q();
  g.tag = "welcome";
  EXPECT_EQ(Ids(g), (std::vector<MessageId>{a.id}));
  MessageQuery both = Q();
  both.recipient = "bob@example.com";
  both.tag = "welcome";
  EXPECT_EQ(Ids(both), (std::vector<MessageId>{a.id})) << "the second filter on the envelope";
  MessageQuery window = Q();
  window.since_ms = 1'800'000'002'000;
  window.until_ms = 1'800'000'003'000;
  EXPECT_EQ(Ids(window), (std::vector<MessageId>{b.id})) << "since inclusive, until exclusive";
}

TEST_F(MessageIndexTest, StatusEntryFollowsTheMessage) {
  Envelope e = Add("tn_a", 1'800'000'001'000, {"bob@example.com"});
  MessageQuery queued = Q();
  queued.status = MessageStatus::kQueued;
  MessageQuery bounced = Q();
  bounced.status = MessageStatus::kBounced;
  EXPECT_EQ(Ids(queued).size(), 1u);
  EXPECT_TRUE(Ids(bounced).empty());
  auto read = ReadEnvelope(*store, e.id);
  ASSERT_TRUE(read.ok() && read.value());
  Envelope back = *read.value();
  back.recipients[0].status = RecipientStatus::kBounced;
  back.status = DeriveStatus(back);
  WriteBatch b;
  AddQueueMove(b, back, QueueDue(back), -1);
  ASSERT_TRUE(store->CommitAndWait(std::move(b)).ok());
  EXPECT_TRUE(Ids(queued).empty()) << "the old status entry went in the same batch";
  EXPECT_EQ(Ids(bounced), (std::vector<MessageId>{e.id}));
  auto again = ReadEnvelope(*store, e.id);
  EXPECT_EQ(again.value()->indexed_status, MessageStatus::kBounced);
}

// The object given to AddNewMessage can be written again: it knows where its status entry is.
TEST_F(MessageIndexTest, TheSubmittedObjectMovesItsStatusEntryToo) {
  Envelope e = Add("tn_a", 1'800'000'001'000, {"bob@example.com"});
  ASSERT_EQ(e.indexed_status, MessageStatus::kQueued);
  e.recipients[0].status = RecipientStatus::kDelivered;
  e.status = DeriveStatus(e);
  WriteBatch b;
  AddQueueMove(b, e, QueueDue(e), -1);
  ASSERT_TRUE(store->CommitAndWait(std::move(b)).ok());
  MessageQuery queued = Q();
  queued.status = MessageStatus::kQueued;
  EXPECT_TRUE(Ids(queued).empty());
  MessageQuery delivered = Q();
  delivered.status = MessageStatus::kDelivered;
  EXPECT_EQ(Ids(delivered), (std::vector<MessageId>{e.id}));
}

TEST_F(MessageIndexTest, CursorsStayPutWhileNewerMessagesArrive) {
  std::vector<MessageId> made;
  for (int i = 0; i < 7; ++i)
    made.push_back(Add("tn_a", 1'800'000'000'000 + i * 1000, {"x@y.com"}).id);
  MessageQuery q = Q();
  q.limit = 3;
  auto p1 = QueryMessages(*store, q);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1.value().messages.size(), 3u);
  ASSERT_FALSE(p1.value().next_cursor.empty());
  Add("tn_a", 1'800'000'100'000, {"x@y.com"});  // newer: before the cursor, not on later pages
  q.cursor = p1.value().next_cursor;
  auto p2 = QueryMessages(*store, q);
  ASSERT_TRUE(p2.ok());
  ASSERT_EQ(p2.value().messages.size(), 3u);
  EXPECT_EQ(p2.value().messages[0].id, made[3]);
  q.cursor = p2.value().next_cursor;
  auto p3 = QueryMessages(*store, q);
  ASSERT_EQ(p3.value().messages.size(), 1u);
  EXPECT_EQ(p3.value().messages[0].id, made[0]);
  EXPECT_TRUE(p3.value().next_cursor.empty());
  q.cursor = "nonsense";
  EXPECT_FALSE(QueryMessages(*store, q).ok());
}

TEST_F(MessageIndexTest, RetentionDropsIndexEntriesWithTheEvents) {
  Add("tn_a", 1'000, {"old@example.com"});
  Envelope fresh = Add("tn_a", 5'000, {"new@example.com"});
  std::string_view tenant;
  int64_t created = 0;
  store->SetLogRetention([](std::string_view t) { return t == "tn_a" ? 2'000 : 0; });
  ASSERT_TRUE(store->Compact(Column::kLog).ok());
  EXPECT_EQ(Ids(Q()), (std::vector<MessageId>{fresh.id}));
  MessageQuery r = Q();
  r.recipient = "old@example.com";
  EXPECT_TRUE(Ids(r).empty());
  EXPECT_FALSE(ParseMessageIndexKey("ev/x", &tenant, &created));
}

}  // namespace
}  // namespace mp
