#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/clock.h"
#include "store/idempotency_store.h"
#include "store/spool.h"
#include "store/tenant_store.h"

namespace mp {
namespace {

TEST(EnvelopeRecord, RoundTripsEveryField) {
  ManualClock clock(1795000000000);
  Envelope e;
  e.id = NewId(clock);
  e.tenant_id = "tn_x";
  e.mail_from = "a@example.com";
  e.subject = "Grüße \"quoted\"";
  e.message_id = "m@example.com";
  e.status = MessageStatus::kScheduled;
  e.created_ms = 1;
  e.send_at_ms = 2;
  e.updated_ms = 3;
  e.size = 12345;
  e.recipients = {{"b@example.org", RecipientKind::kCc, RecipientStatus::kScheduled},
                  {"c@example.org", RecipientKind::kBcc, RecipientStatus::kCanceled}};
  e.tags = {"t1", "t2"};
  e.metadata_json = R"({"a":1})";
  e.source = "http";
  auto back = DecodeEnvelope(EncodeEnvelope(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, e.id);
  EXPECT_EQ(back->subject, e.subject);
  EXPECT_EQ(back->status, e.status);
  EXPECT_EQ(back->send_at_ms, 2);
  EXPECT_EQ(back->size, 12345u);
  ASSERT_EQ(back->recipients.size(), 2u);
  EXPECT_EQ(back->recipients[1].kind, RecipientKind::kBcc);
  EXPECT_EQ(back->recipients[1].status, RecipientStatus::kCanceled);
  EXPECT_EQ(back->tags, e.tags);
  EXPECT_EQ(back->metadata_json, e.metadata_json);
}

TEST(EnvelopeRecord, CorruptDataIsRejectedNotCrashing) {
  EXPECT_FALSE(DecodeEnvelope(""));
  EXPECT_FALSE(DecodeEnvelope("\x02{}"));
  EXPECT_FALSE(DecodeEnvelope("\x01{}"));
  EXPECT_FALSE(DecodeEnvelope("\x01not json"));
  EXPECT_FALSE(DecodeEnvelope("\x01{\"id\":5}"));
}

TEST(QueueKey, OrdersByDueTimeThenId) {
  ManualClock clock(1795000000000);
  MessageId a = NewId(clock), b = NewId(clock);
  EXPECT_LT(QueueKey("tn_a", 100, b), QueueKey("tn_a", 200, a));
  EXPECT_LT(QueueKey("tn_a", 100, a), QueueKey("tn_a", 100, b));
  EXPECT_EQ(QueueKey("tn_a", 1, a).size(), 5u + 24u);
  // Each tenant's entries are one range: another tenant's never sort in between.
  EXPECT_LT(QueueKey("tn_a", 999999, b), QueueKey("tn_b", 0, a));
  EXPECT_EQ(QueueKey("tn_a", 1, a).rfind(QueueKeyPrefix("tn_a"), 0), 0u);
}

TEST(QueueMove, MovesDeletesAndCanBeBuiltAgain) {
  ManualClock clock(1000);
  Envelope e;
  e.id = NewId(clock);
  e.tenant_id = "tn_x";
  e.send_at_ms = 1000;
  auto ops = [](const WriteBatch& b) {
    std::vector<std::string> out;
    for (const auto& op : b.ops()) {
      out.push_back(std::string(ColumnName(op.column)) + (op.erase ? " del" : " put"));
    }
    return out;
  };
  WriteBatch moved;
  AddQueueMove(moved, e, 1000, 5000);
  EXPECT_EQ(e.due_ms, 5000);
  EXPECT_EQ(QueueDue(e), 5000);
  EXPECT_EQ(ops(moved), (std::vector<std::string>{"envelope put", "queue del", "queue put"}));
  EXPECT_EQ(moved.ops()[1].key, QueueKey("tn_x", 1000, e.id));
  EXPECT_EQ(moved.ops()[2].key, QueueKey("tn_x", 5000, e.id));
  // Built again (a retried commit): the same operations, from the same original entry.
  WriteBatch again;
  AddQueueMove(again, e, 1000, 5000);
  EXPECT_EQ(again.ops()[1].key, moved.ops()[1].key);
  EXPECT_EQ(again.ops()[2].key, moved.ops()[2].key);
  // Nothing pending: the entry goes, the envelope keeps its last due time.
  WriteBatch done;
  AddQueueMove(done, e, 5000, -1);
  EXPECT_EQ(ops(done), (std::vector<std::string>{"envelope put", "queue del"}));
  EXPECT_EQ(e.due_ms, 5000);
  // Same time: only the envelope.
  WriteBatch same;
  AddQueueMove(same, e, 5000, 5000);
  EXPECT_EQ(ops(same), (std::vector<std::string>{"envelope put"}));
}

TEST(TenantRecord, RoundTrips) {
  TenantRecord t{"tn_1", "acme", 5, true, {{"abc", std::string(32, 'h'), 6, 7}}};
  auto back = DecodeTenant(EncodeTenant(t));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->name, "acme");
  EXPECT_TRUE(back->disabled);
  ASSERT_EQ(back->keys.size(), 1u);
  EXPECT_EQ(back->keys[0].hash, std::string(32, 'h'));
  EXPECT_EQ(back->keys[0].expires_ms, 7);
  EXPECT_FALSE(back->paused);
  EXPECT_EQ(back->limits.weight, 1);

  t.paused = true;
  t.limits = TenantLimits{5, 12.5, 40, 100000, true};
  back = DecodeTenant(EncodeTenant(t));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->paused);
  EXPECT_EQ(back->limits.weight, 5);
  EXPECT_EQ(back->limits.rate, 12.5);
  EXPECT_EQ(back->limits.burst, 40);
  EXPECT_EQ(back->limits.daily_quota, 100000);
  EXPECT_TRUE(back->limits.hold);
}

TEST(IdempotencyRecord, RoundTripsAndRejectsShortData) {
  IdempotencyRecord r{std::string(32, 'x'), 1795000000000, 202, "{\"id\":\"x\"}"};
  auto back = DecodeIdempotency(EncodeIdempotency(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->created_ms, r.created_ms);
  EXPECT_EQ(back->http_status, 202);
  EXPECT_EQ(back->request_hash, r.request_hash);
  EXPECT_EQ(back->response_body, r.response_body);
  EXPECT_FALSE(DecodeIdempotency("\x01short"));
}

}  // namespace
}  // namespace mp
