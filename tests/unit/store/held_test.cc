// The held flag of an envelope and the held index: encoding, hold and release batches, leaving
// the held index when a held message is canceled, and walking the queue and held indexes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "store/spool.h"
#include "test_util.h"

namespace mp {
namespace {

Envelope Pending(const Clock& clock) {
  Envelope e;
  e.id = NewId(clock);
  e.tenant_id = "tn_x";
  e.mail_from = "a@example.com";
  e.created_ms = clock.NowMs();
  e.send_at_ms = clock.NowMs();
  e.updated_ms = clock.NowMs();
  e.size = 10;
  e.metadata_json = "{}";
  e.source = "http";
  e.recipients = {{"b@example.org", RecipientKind::kTo, RecipientStatus::kDeferred},
                  {"c@example.net", RecipientKind::kTo, RecipientStatus::kDelivered}};
  e.recipients[0].attempts_total = 1;
  e.recipients[0].next_attempt_ms = clock.NowMs() + 60000;
  e.due_ms = clock.NowMs() + 60000;
  e.status = DeriveStatus(e);
  return e;
}

std::vector<std::string> Ops(const WriteBatch& b) {
  std::vector<std::string> out;
  for (const auto& op : b.ops()) {
    out.push_back(std::string(ColumnName(op.column)) + (op.erase ? " del" : " put"));
  }
  return out;
}

TEST(HeldFlag, RoundTripsAndIsWrittenOnlyWhenSet) {
  ManualClock clock(1795000000000);
  Envelope e = Pending(clock);
  std::string plain = EncodeEnvelope(e);
  EXPECT_EQ(plain.find("held"), std::string::npos);  // records of messages never held unchanged
  auto back = DecodeEnvelope(plain);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->held);

  e.held = true;
  back = DecodeEnvelope(EncodeEnvelope(e));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->held);
  EXPECT_EQ(back->recipients[0].status, RecipientStatus::kDeferred);

  // A wrong type is a corrupt record, not a silent "not held".
  std::string bad = plain;
  bad.insert(bad.size() - 1, ",\"held\":\"yes\"");
  EXPECT_FALSE(DecodeEnvelope(bad));
}

TEST(HeldIndex, KeysAreOneRangePerTenantAndParseBack) {
  ManualClock clock(1795000000000);
  MessageId a = NewId(clock), b = NewId(clock);
  std::string k = HeldKey("tn_a", a);
  EXPECT_EQ(k, std::string("held/tn_a") + '\0' + std::string(a.Raw()));
  EXPECT_EQ(k.rfind(HeldKeyPrefix("tn_a"), 0), 0u);
  EXPECT_LT(HeldKey("tn_a", a), HeldKey("tn_a", b));
  EXPECT_LT(HeldKey("tn_a", b), HeldKeyPrefix("tn_b"));
  std::string tenant;
  MessageId id;
  ASSERT_TRUE(ParseHeldKey(k, &tenant, &id));
  EXPECT_EQ(tenant, "tn_a");
  EXPECT_EQ(id, a);
  EXPECT_FALSE(ParseHeldKey("held/tn_a", &tenant, &id));
  EXPECT_FALSE(ParseHeldKey("tenant/tn_a", &tenant, &id));
  EXPECT_FALSE(ParseHeldKey(k.substr(0, k.size() - 1), &tenant, &id));

  int64_t due = 0;
  ASSERT_TRUE(ParseQueueKey(QueueKey("tn_q", 1234, b), &tenant, &due, &id));
  EXPECT_EQ(tenant, "tn_q");
  EXPECT_EQ(due, 1234);
  EXPECT_EQ(id, b);
  EXPECT_FALSE(ParseQueueKey(std::string(24, '\0'), &tenant, &due, &id));  // pre-tenant layout
}

TEST(HoldAndRelease, MoveTheMessageBetweenQueueAndHeldIndex) {
  ManualClock clock(1795000000000);
  Envelope e = Pending(clock);
  int64_t was_due = QueueDue(e);

  WriteBatch hold;
  AddHold(hold, e);
  EXPECT_EQ(Ops(hold), (std::vector<std::string>{"queue del", "state put", "envelope put"}));
  EXPECT_EQ(hold.ops()[0].key, QueueKey("tn_x", was_due, e.id));
  EXPECT_EQ(hold.ops()[1].key, HeldKey("tn_x", e.id));
  EXPECT_TRUE(e.held);
  // No queue entry can match a held envelope, so one read before the hold looks stale.
  EXPECT_EQ(QueueDue(e), 0);
  auto stored = DecodeEnvelope(hold.ops()[2].value);
  ASSERT_TRUE(stored);
  EXPECT_TRUE(stored->held);
  EXPECT_EQ(stored->recipients[0].status, RecipientStatus::kDeferred);  // states kept
  EXPECT_EQ(stored->status, MessageStatus::kDeferred);

  int64_t now = clock.NowMs() + 5000;
  WriteBatch release;
  AddRelease(release, e, now);
  EXPECT_EQ(Ops(release), (std::vector<std::string>{"state del", "envelope put", "queue put"}));
  EXPECT_EQ(release.ops()[0].key, HeldKey("tn_x", e.id));
  EXPECT_EQ(release.ops()[2].key, QueueKey("tn_x", now, e.id));
  EXPECT_FALSE(e.held);
  EXPECT_EQ(QueueDue(e), now);
  stored = DecodeEnvelope(release.ops()[1].value);
  ASSERT_TRUE(stored);
  EXPECT_FALSE(stored->held);
  EXPECT_EQ(QueueDue(*stored), now);
}

TEST(HoldAndRelease, ReleasingWithNothingPendingWritesNoQueueEntry) {
  ManualClock clock(1795000000000);
  Envelope e = Pending(clock);
  WriteBatch hold;
  AddHold(hold, e);
  e.recipients[0].status = RecipientStatus::kCanceled;
  WriteBatch release;
  AddRelease(release, e, clock.NowMs());
  EXPECT_EQ(Ops(release), (std::vector<std::string>{"state del", "envelope put"}));
}

TEST(HoldAndRelease, CancelingAHeldMessageLeavesTheHeldIndex) {
  ManualClock clock(1795000000000);
  Envelope e = Pending(clock);
  WriteBatch hold;
  AddHold(hold, e);
  // As DELETE /v1/messages/{id} does it: recipients canceled, removed from the queue.
  for (RecipientRecord& r : e.recipients) {
    if (r.Pending()) r.status = RecipientStatus::kCanceled;
  }
  e.status = DeriveStatus(e);
  WriteBatch cancel;
  AddEnvelopeUpdate(cancel, e, true);
  // The status changed, so the message list's status entry moves (log del + put).
  EXPECT_EQ(Ops(cancel),
            (std::vector<std::string>{"state del", "log del", "log put", "envelope put"}));
  EXPECT_EQ(cancel.ops()[0].key, HeldKey("tn_x", e.id));
  EXPECT_FALSE(e.held);
  auto stored = DecodeEnvelope(cancel.ops()[3].value);
  ASSERT_TRUE(stored);
  EXPECT_FALSE(stored->held);
  EXPECT_EQ(stored->status, MessageStatus::kPartial);

  // A message that is not held still leaves the queue.
  Envelope q = Pending(clock);
  WriteBatch plain;
  AddEnvelopeUpdate(plain, q, true);
  EXPECT_EQ(Ops(plain), (std::vector<std::string>{"envelope put", "queue del"}));
  EXPECT_EQ(plain.ops()[1].key, QueueKey("tn_x", QueueDue(q), q.id));
}

TEST(IndexWalk, WalksQueueThenHeldPerTenantAndResumesFromCursors) {
  test::TempDir dir;
  auto opened = OpenRocksDbStore(dir.path(), SpoolConfig{});
  ASSERT_TRUE(opened.ok());
  KvStore& kv = *opened.value();
  ManualClock clock(1795000000000);
  // tn_a: two queued (due later, due sooner) and one held; tn_b: one queued.
  std::vector<Envelope> a;
  for (int i = 0; i < 3; ++i) {
    Envelope e = Pending(clock);
    e.tenant_id = "tn_a";
    e.due_ms = clock.NowMs() + int64_t{1000} * (3 - i);
    a.push_back(e);
  }
  Envelope b = Pending(clock);
  b.tenant_id = "tn_b";
  WriteBatch batch;
  for (Envelope* e : {&a[0], &a[1], &a[2], &b}) {
    AddNewMessage(batch, *e, "body");
    AddQueueMove(batch, *e, e->send_at_ms, QueueDue(*e));
  }
  AddHold(batch, a[2]);
  batch.Put(Column::kQueue, QueueKey("tn_a", 5, NewId(clock)), {});  // stale: no envelope
  batch.Put(Column::kState, "tenant/tn_a", "x");                     // not a held key
  ASSERT_TRUE(kv.CommitAndWait(std::move(batch)).ok());

  auto all = [&](IndexWalk& w, size_t step) {
    std::vector<std::string> out;
    while (!w.done()) {
      auto got = w.Next(step);
      EXPECT_TRUE(got.ok());
      for (const IndexEntry& e : got.value()) {
        auto env = ReadIndexed(kv, e);
        EXPECT_TRUE(env.ok());
        out.push_back((e.held ? "held " : "queue ") + e.tenant_id + (env.value() ? "" : " stale"));
      }
    }
    return out;
  };
  IndexWalk every(kv, "", true, true);
  EXPECT_EQ(all(every, 2), (std::vector<std::string>{"queue tn_a stale", "queue tn_a", "queue tn_a",
                                                     "queue tn_b", "held tn_a"}));
  IndexWalk tenant_a(kv, "tn_a", true, false);
  EXPECT_EQ(all(tenant_a, 10),
            (std::vector<std::string>{"queue tn_a stale", "queue tn_a", "queue tn_a"}));
  IndexWalk held_b(kv, "tn_b", false, true);
  EXPECT_EQ(all(held_b, 10), std::vector<std::string>{});

  // Queue order within a tenant is due order: a[1] (due sooner) before a[0].
  IndexWalk first(kv, "tn_a", true, true);
  auto one = first.Next(2);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one.value().size(), 2u);
  EXPECT_EQ(one.value()[1].id, a[1].id);
  // Resumed from its cursor, a new walk goes on from there.
  IndexWalk second(kv, "tn_a", true, true);
  ASSERT_TRUE(second.Resume(first.Cursor()));
  EXPECT_EQ(all(second, 1), (std::vector<std::string>{"queue tn_a", "held tn_a"}));
  // A cursor of another tenant's range is clamped into this walk's.
  IndexWalk other(kv, "tn_b", true, false);
  ASSERT_TRUE(other.Resume(first.Cursor()));
  EXPECT_EQ(all(other, 5), (std::vector<std::string>{"queue tn_b"}));
  IndexWalk bad(kv, "tn_a", true, false);
  EXPECT_FALSE(bad.Resume("zz"));
  EXPECT_FALSE(bad.Resume("q0"));
  EXPECT_FALSE(bad.Resume("h00"));  // this walk has no held phase
  EXPECT_FALSE(bad.Resume("qzz"));
  kv.Close();
}

}  // namespace
}  // namespace mp
