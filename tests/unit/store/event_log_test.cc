// The event log: records round trip; a tenant's stream pages with cursors and type filters; a
// message's timeline; retention drops old records in compaction and keeps the rest.
#include "store/event_log.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/config.h"
#include "test_util.h"

namespace mp {
namespace {

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kv = OpenRocksDbStore(dir.path(), SpoolConfig{});
    ASSERT_TRUE(kv.ok());
    store = std::move(kv.value());
  }
  Event Make(const std::string& tenant, const MessageId& msg, const std::string& type, int64_t at) {
    clock.Set(at);
    Event e;
    e.id = NewId(clock);
    e.at_ms = at;
    e.tenant = tenant;
    e.type = type;
    e.message = msg;
    e.recipient = "a@example.com";
    e.code = 250;
    e.enhanced = "2.0.0";
    e.text = "ok";
    e.tags = {"t1"};
    return e;
  }
  void Write(const std::vector<Event>& events) {
    WriteBatch b;
    for (const Event& e : events) AddEvent(b, e);
    ASSERT_TRUE(store->CommitAndWait(std::move(b)).ok());
  }
  test::TempDir dir;
  std::unique_ptr<KvStore> store;
  ManualClock clock{1'800'000'000'000};
};

TEST_F(EventLogTest, RoundTrip) {
  Event e = Make("tn_a", NewId(clock), "bounced", 1'800'000'000'123);
  e.pool = "p";
  e.category = "invalid_recipient";
  auto back = DecodeEvent(EncodeEvent(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, e.id);
  EXPECT_EQ(back->message, e.message);
  EXPECT_EQ(back->category, "invalid_recipient");
  EXPECT_EQ(back->tags, e.tags);
  EXPECT_FALSE(DecodeEvent("\x01{}"));
  EXPECT_FALSE(DecodeEvent(""));
  EXPECT_NE(EventJson(e).find("\"type\":\"bounced\""), std::string::npos);
}

TEST_F(EventLogTest, StreamPagesWithCursorsTypesAndTimes) {
  MessageId m1 = NewId(clock), m2 = NewId(clock);
  std::vector<Event> all;
  for (int i = 0; i < 10; ++i) {
    all.push_back(Make("tn_a", i % 2 ? m1 : m2, i % 3 ? "delivered" : "deferred",
                       1'800'000'000'000 + i * 1000));
  }
  all.push_back(Make("tn_b", m1, "delivered", 1'800'000'000'500));  // another tenant
  Write(all);
  auto p1 = ReadTenantEvents(*store, "tn_a", 0, 0, "", "", 4);
  ASSERT_TRUE(p1.ok());
  ASSERT_EQ(p1.value().events.size(), 4u);
  EXPECT_EQ(p1.value().events[0].at_ms, 1'800'000'000'000);
  ASSERT_FALSE(p1.value().next_cursor.empty());
  auto p2 = ReadTenantEvents(*store, "tn_a", 0, 0, p1.value().next_cursor, "", 100);
  ASSERT_TRUE(p2.ok());
  ASSERT_EQ(p2.value().events.size(), 6u);
  EXPECT_EQ(p2.value().events[0].at_ms, 1'800'000'004'000);
  EXPECT_TRUE(p2.value().next_cursor.empty());
  auto deferred = ReadTenantEvents(*store, "tn_a", 0, 0, "", "deferred", 100);
  EXPECT_EQ(deferred.value().events.size(), 4u);  // i = 0, 3, 6, 9
  auto window = ReadTenantEvents(*store, "tn_a", 1'800'000'002'000, 1'800'000'005'000, "", "", 100);
  EXPECT_EQ(window.value().events.size(), 3u);
  EXPECT_FALSE(ReadTenantEvents(*store, "tn_a", 0, 0, "zz", "", 10).ok());

  auto timeline = ReadMessageEvents(*store, m1);
  ASSERT_TRUE(timeline.ok());
  EXPECT_EQ(timeline.value().size(), 6u);  // 5 of tn_a, 1 of tn_b (the caller filters by tenant)
}

// The stream is in commit order: an event made earlier but committed later comes after the ones
// already read, so a follower's cursor never skips it.
TEST_F(EventLogTest, StreamFollowsCommitOrderNotEventTime) {
  MessageId m = NewId(clock);
  Event late = Make("tn_a", m, "delivered", 1'800'000'000'000);  // made first...
  Event early = Make("tn_a", m, "accepted", 1'800'000'005'000);  // ...committed first
  Write({early});
  auto p1 = ReadTenantEvents(*store, "tn_a", 0, 0, "", "", 10);
  ASSERT_EQ(p1.value().events.size(), 1u);
  std::string cursor = EventCursor(p1.value().events[0]);
  Write({late});
  auto p2 = ReadTenantEvents(*store, "tn_a", 0, 0, cursor, "", 10);
  ASSERT_TRUE(p2.ok());
  ASSERT_EQ(p2.value().events.size(), 1u);
  EXPECT_EQ(p2.value().events[0].type, "delivered");
  EXPECT_EQ(p2.value().events[0].at_ms, 1'800'000'000'000);  // its own time is kept
  EXPECT_GT(p2.value().events[0].seq, p1.value().events[0].seq);
  // The timeline is by event time and finds both through the stamps.
  auto timeline = ReadMessageEvents(*store, m);
  ASSERT_EQ(timeline.value().size(), 2u);
  EXPECT_EQ(timeline.value()[0].type, "delivered");
  // A cursor at a time starts with what was committed from then on.
  auto from = ReadTenantEvents(*store, "tn_a", 0, 0, EventCursorAt(1'800'000'005'000), "", 10);
  EXPECT_EQ(from.value().events.size(), 2u);
}

TEST_F(EventLogTest, EveryFieldRoundTripsThroughTheRecordWithEscapes) {
  Event e = Make("tn_a", NewId(clock), "deferred", 1'800'000'000'321);
  e.recipient = "o\"brien@example.com";
  e.pool = "pool\\1";
  e.source = "src-2";
  e.site = "mx:mx.example.com";
  e.mx = "mx.example.com";
  e.ip = "192.0.2.7";
  e.code = 451;
  e.enhanced = "4.7.1";
  e.text = "line one\r\nline\ttwo \x01 caf\xc3\xa9 \"quoted\" back\\slash";
  e.category = "throttled";
  e.tags = {"a\"b", "", "\xe2\x9c\x93"};
  e.metadata_json = R"({"k":"v \"q\"","n":1})";
  auto back = DecodeEvent(EncodeEvent(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, e.id);
  EXPECT_EQ(back->at_ms, e.at_ms);
  EXPECT_EQ(back->tenant, e.tenant);
  EXPECT_EQ(back->type, e.type);
  EXPECT_EQ(back->message, e.message);
  EXPECT_EQ(back->recipient, e.recipient);
  EXPECT_EQ(back->pool, e.pool);
  EXPECT_EQ(back->source, e.source);
  EXPECT_EQ(back->site, e.site);
  EXPECT_EQ(back->mx, e.mx);
  EXPECT_EQ(back->ip, e.ip);
  EXPECT_EQ(back->code, e.code);
  EXPECT_EQ(back->enhanced, e.enhanced);
  EXPECT_EQ(back->text, e.text);
  EXPECT_EQ(back->category, e.category);
  EXPECT_EQ(back->tags, e.tags);
  EXPECT_EQ(back->metadata_json, e.metadata_json);
  e.metadata_json = "{}";  // empty metadata is not stored, and reads back empty
  EXPECT_EQ(DecodeEvent(EncodeEvent(e))->metadata_json, "");
}

TEST_F(EventLogTest, MetadataRoundTripsAndShowsAsObject) {
  Event e = Make("tn_a", NewId(clock), "delivered", 1'800'000'000'000);
  e.metadata_json = R"({"user":"42"})";
  auto back = DecodeEvent(EncodeEvent(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->metadata_json, e.metadata_json);
  EXPECT_NE(EventJson(e).find(R"("metadata":{"user":"42"})"), std::string::npos);
}

TEST_F(EventLogTest, RetentionDropsOldEventsInCompaction) {
  MessageId m = NewId(clock);
  Write({Make("tn_a", m, "accepted", 1'000), Make("tn_a", m, "delivered", 5'000),
         Make("tn_b", m, "delivered", 1'000)});
  // tn_a keeps events from 2,000 ms on; tn_b everything.
  store->SetLogRetention([](std::string_view tenant) { return tenant == "tn_a" ? 2'000 : 0; });
  ASSERT_TRUE(store->Compact(Column::kLog).ok());
  auto a = ReadTenantEvents(*store, "tn_a", 0, 0, "", "", 10);
  ASSERT_EQ(a.value().events.size(), 1u);
  EXPECT_EQ(a.value().events[0].type, "delivered");
  EXPECT_EQ(ReadTenantEvents(*store, "tn_b", 0, 0, "", "", 10).value().events.size(), 1u);
  auto timeline = ReadMessageEvents(*store, m);
  EXPECT_EQ(timeline.value().size(), 2u);  // the expired one's timeline entry went too
}

}  // namespace
}  // namespace mp
