#include "store/message_retention.h"

#include <chrono>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "store/spool.h"

namespace mp {
namespace {

constexpr std::string_view kPrefix = "mret/";
constexpr std::string_view kBackfillKey = "mret-backfill/v1";
constexpr size_t kBatchMessages = 256;

std::string TenantPrefix(std::string_view tenant) {
  std::string k(kPrefix);
  k.append(tenant);
  k.push_back('\0');
  return k;
}

std::string EntryKey(std::string_view tenant, int64_t created_ms, const MessageId& id) {
  std::string k = TenantPrefix(tenant);
  AppendU64BE(k, static_cast<uint64_t>(std::max<int64_t>(created_ms, 0)));
  k.append(id.Raw());
  return k;
}

// The end of the index's key range: "mret0" ('/' + 1).
std::string IndexEnd() {
  std::string end(kPrefix);
  end.back() = static_cast<char>(end.back() + 1);
  return end;
}

// The first tenant in the index at or after `from`, "" when there is none.
Result<std::string> NextTenant(KvStore& kv, const std::string& from) {
  std::string tenant;
  Status s =
      kv.ScanRange(Column::kState, from, IndexEnd(), [&](std::string_view key, std::string_view) {
        std::string_view rest = key.substr(kPrefix.size());
        size_t nul = rest.find('\0');
        if (nul != std::string_view::npos) tenant.assign(rest.substr(0, nul));
        return false;
      });
  if (!s.ok()) return s.error();
  return tenant;
}

}  // namespace

void AddRetentionEntry(WriteBatch& batch, const Envelope& e) {
  batch.Put(Column::kState, EntryKey(e.tenant_id, e.created_ms, e.id), {});
}

Result<ReapResult> ReapExpiredMessages(KvStore& kv, const RetentionCutoff& cutoff, int64_t now_ms,
                                       size_t max_messages, const ReapGuard& guard) {
  ReapResult result;
  size_t seen = 0;
  std::string from(kPrefix);
  while (seen < max_messages) {
    auto next = NextTenant(kv, from);
    if (!next.ok()) return next.error();
    const std::string tenant = next.value();
    if (tenant.empty()) break;
    const std::string prefix = TenantPrefix(tenant);
    from = prefix;
    from.back() = '\x01';  // the next tenant's entries start after every key of this one
    const int64_t cut = cutoff(tenant);
    if (cut <= 0) continue;
    std::string to = prefix;
    AppendU64BE(to, static_cast<uint64_t>(cut));
    // This tenant's expired entries, a batch at a time; scan_from moves past each batch (busy
    // entries stay in the index for the next round).
    std::string scan_from = prefix;
    for (bool tenant_done = false; !tenant_done && seen < max_messages;) {
      std::vector<std::pair<std::string, MessageId>> due;
      const size_t want = std::min(kBatchMessages, max_messages - seen);
      Status s =
          kv.ScanRange(Column::kState, scan_from, to, [&](std::string_view key, std::string_view) {
            if (due.size() >= want) return false;
            if (key.size() != prefix.size() + 8 + 16) return true;  // not ours: skip
            auto id = MessageId::FromRaw(key.substr(prefix.size() + 8));
            if (id) due.emplace_back(std::string(key), *id);
            return true;
          });
      if (!s.ok()) return s.error();
      tenant_done = due.size() < want;
      if (due.empty()) break;
      scan_from = due.back().first;
      scan_from.push_back('\0');
      WriteBatch batch;
      std::vector<MessageId> held;  // guards taken, released after the commit
      Status failed;
      for (const auto& [key, id] : due) {
        ++seen;
        if (guard.begin && !guard.begin(id)) {
          ++result.busy;
          continue;
        }
        if (guard.end) held.push_back(id);
        auto env = ReadEnvelope(kv, id);
        if (!env.ok()) {
          failed = env.error();
          break;
        }
        batch.Delete(Column::kState, key);
        if (!env.value()) {
          ++result.stale;
          continue;
        }
        const Envelope& e = *env.value();
        if (e.held || AnyPending(e)) {
          // Still to be delivered (or held by an operator): never deleted under a sender's
          // feet; looked at again one retention from now.
          batch.Put(Column::kState, EntryKey(tenant, now_ms, id), {});
          ++result.postponed;
          continue;
        }
        batch.Delete(Column::kEnvelope, EnvelopeKey(id));
        batch.Delete(Column::kBody, EnvelopeKey(id));
        ++result.deleted;
      }
      if (failed.ok()) failed = kv.CommitAndWait(std::move(batch));
      for (const MessageId& id : held) guard.end(id);
      if (!failed.ok()) return failed.error();
    }
  }
  if (seen >= max_messages) result.more = true;
  return result;
}

Result<size_t> BackfillRetentionIndex(KvStore& kv) {
  auto done = kv.Get(Column::kState, kBackfillKey);
  if (!done.ok()) return done.error();
  if (done.value()) return size_t{0};
  size_t indexed = 0;
  WriteBatch batch;
  size_t in_batch = 0;
  Status failed;
  Status s = kv.Scan(Column::kEnvelope, "", [&](std::string_view, std::string_view value) {
    auto e = DecodeEnvelope(value);
    if (!e) return true;  // corrupt: the reader reports it; nothing to index
    AddRetentionEntry(batch, *e);
    ++indexed;
    if (++in_batch >= 1000) {
      failed = kv.CommitAndWait(std::move(batch));
      batch = WriteBatch();
      in_batch = 0;
      if (!failed.ok()) return false;
    }
    return true;
  });
  if (!s.ok()) return s.error();
  if (!failed.ok()) return failed.error();
  batch.Put(Column::kState, std::string(kBackfillKey), "1");
  if (Status c = kv.CommitAndWait(std::move(batch)); !c.ok()) return c.error();
  return indexed;
}

Status MarkRetentionIndexComplete(KvStore& kv) {
  WriteBatch batch;
  batch.Put(Column::kState, std::string(kBackfillKey), "1");
  return kv.CommitAndWait(std::move(batch));
}

MessageReaper::MessageReaper(KvStore& kv, const Clock& clock, RetentionCutoff cutoff,
                             int interval_seconds)
    : kv_(kv), clock_(clock), cutoff_(std::move(cutoff)), interval_seconds_(interval_seconds) {}

MessageReaper::~MessageReaper() { Stop(); }

void MessageReaper::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void MessageReaper::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MessageReaper::Loop() {
  Counter& reaped = Metrics::Global().GetCounter(
      "mailplane_messages_reaped_total",
      "Finished messages deleted (envelope and body) at the end of their tenant's retention");
  bool backfilled = false;
  for (;;) {
    bool more = false;
    if (!backfilled) {
      auto n = BackfillRetentionIndex(kv_);
      if (n.ok()) {
        backfilled = true;
        if (n.value() > 0) log::Info("retention.backfilled", {{"messages", n.value()}});
      } else {
        log::Warn("retention.backfill_failed", {{"error", n.error().detail}});
      }
    }
    if (backfilled) {
      auto r = ReapExpiredMessages(kv_, cutoff_, clock_.NowMs(), 10000, guard_);
      if (!r.ok()) {
        log::Warn("retention.reap_failed", {{"error", r.error().detail}});
      } else {
        reaped.Inc(r.value().deleted);
        more = r.value().more;
        if (r.value().deleted + r.value().postponed > 0) {
          log::Info("retention.reaped", {{"deleted", r.value().deleted},
                                         {"postponed", r.value().postponed},
                                         {"busy", r.value().busy},
                                         {"more", more}});
        }
      }
    }
    std::unique_lock lock(mu_);
    // A round that stopped at its limit goes on after a short pause (other writers first).
    auto wait = more ? std::chrono::milliseconds(200) : std::chrono::seconds(interval_seconds_);
    if (cv_.wait_for(lock, wait, [this] { return stopping_; })) return;
  }
}

}  // namespace mp
