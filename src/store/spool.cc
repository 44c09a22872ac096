#include "store/spool.h"

#include <boost/json.hpp>

#include "store/event_log.h"
#include "store/message_index.h"
#include "store/message_retention.h"

namespace mp {
namespace {

constexpr char kEnvelopeFormatV1 = 1;
namespace json = boost::json;

template <typename E, size_t N>
bool FromName(std::string_view name, const std::string_view (&names)[N], E* out) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) {
      *out = static_cast<E>(i);
      return true;
    }
  }
  return false;
}

constexpr std::string_view kMessageStatus[] = {"queued",    "scheduled", "canceled",
                                               "delivered", "bounced",   "partially_delivered",
                                               "deferred",  "suppressed"};
constexpr std::string_view kRecipientStatus[] = {"queued",   "scheduled", "canceled",  "delivered",
                                                 "deferred", "bounced",   "suppressed"};
constexpr std::string_view kRecipientKind[] = {"to", "cc", "bcc"};

}  // namespace

std::string_view MessageStatusName(MessageStatus s) { return kMessageStatus[static_cast<int>(s)]; }
std::string_view RecipientStatusName(RecipientStatus s) {
  return kRecipientStatus[static_cast<int>(s)];
}
std::string_view RecipientKindName(RecipientKind k) { return kRecipientKind[static_cast<int>(k)]; }

std::string EnvelopeKey(const MessageId& id) { return std::string(id.Raw()); }

std::string QueueKeyPrefix(const std::string& tenant_id) {
  std::string k;
  k.reserve(tenant_id.size() + 25);
  k.append(tenant_id).push_back('\0');
  return k;
}

std::string QueueKey(const std::string& tenant_id, int64_t due_ms, const MessageId& id) {
  std::string k = QueueKeyPrefix(tenant_id);
  AppendU64BE(k, static_cast<uint64_t>(due_ms));
  k.append(id.Raw());
  return k;
}

bool ParseQueueKey(std::string_view key, std::string* tenant_id, int64_t* due_ms, MessageId* id) {
  size_t nul = key.find('\0');
  if (nul == std::string_view::npos || nul == 0 || key.size() != nul + 1 + 24) return false;
  auto parsed = MessageId::FromRaw(key.substr(nul + 9));
  if (!parsed) return false;
  tenant_id->assign(key.substr(0, nul));
  *due_ms = static_cast<int64_t>(ReadU64BE(key.substr(nul + 1, 8)));
  *id = *parsed;
  return true;
}

std::string HeldKeyPrefix(const std::string& tenant_id) {
  std::string k;
  k.reserve(kHeldKeyPrefix.size() + tenant_id.size() + 17);
  k.append(kHeldKeyPrefix).append(tenant_id).push_back('\0');
  return k;
}

std::string HeldKey(const std::string& tenant_id, const MessageId& id) {
  std::string k = HeldKeyPrefix(tenant_id);
  k.append(id.Raw());
  return k;
}

bool ParseHeldKey(std::string_view key, std::string* tenant_id, MessageId* id) {
  if (key.substr(0, kHeldKeyPrefix.size()) != kHeldKeyPrefix) return false;
  key.remove_prefix(kHeldKeyPrefix.size());
  size_t nul = key.find('\0');
  if (nul == std::string_view::npos || nul == 0 || key.size() != nul + 1 + 16) return false;
  auto parsed = MessageId::FromRaw(key.substr(nul + 1));
  if (!parsed) return false;
  tenant_id->assign(key.substr(0, nul));
  *id = *parsed;
  return true;
}

std::string EncodeEnvelope(const Envelope& e) {
  json::object o;
  o["id"] = e.id.ToString();
  o["tenant"] = e.tenant_id;
  o["mail_from"] = e.mail_from;
  o["subject"] = e.subject;
  o["message_id"] = e.message_id;
  o["status"] = MessageStatusName(e.status);
  o["ixs"] = MessageStatusName(e.indexed_status.value_or(e.status));
  o["created"] = e.created_ms;
  o["send_at"] = e.send_at_ms;
  o["updated"] = e.updated_ms;
  if (e.due_ms >= 0) o["due"] = e.due_ms;
  o["size"] = e.size;
  json::array rcpts;
  rcpts.reserve(e.recipients.size());
  for (const RecipientRecord& r : e.recipients) {
    json::array ra{json::string(r.address), json::string(RecipientKindName(r.kind)),
                   json::string(RecipientStatusName(r.status))};
    if (r.attempts_total > 0 || !r.reason.empty()) {
      ra.emplace_back(r.attempts_total);
      ra.emplace_back(r.next_attempt_ms);
      ra.emplace_back(r.reason);
      json::array atts;
      for (const Attempt& a : r.attempts) {
        atts.push_back(json::object{{"at", a.at_ms},
                                    {"mx", a.mx},
                                    {"ip", a.ip},
                                    {"code", a.code},
                                    {"enhanced", a.enhanced},
                                    {"text", a.text},
                                    {"tls", a.tls_version},
                                    {"cipher", a.tls_cipher},
                                    {"pool", a.pool},
                                    {"source", a.source},
                                    {"site", a.site}});
      }
      ra.emplace_back(std::move(atts));
    }
    rcpts.push_back(std::move(ra));
  }
  o["rcpts"] = std::move(rcpts);
  json::array tags;
  for (const std::string& t : e.tags) tags.emplace_back(t);
  o["tags"] = std::move(tags);
  o["metadata"] = e.metadata_json;
  o["source"] = e.source;
  if (e.redacted) o["redacted"] = true;
  if (e.held) o["held"] = true;  // only when set: records of messages never held are unchanged
  std::string out(1, kEnvelopeFormatV1);
  out += json::serialize(o);
  return out;
}

std::optional<Envelope> DecodeEnvelope(std::string_view data) {
  if (data.empty() || data[0] != kEnvelopeFormatV1) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(data.substr(1), ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::object& o = v.get_object();
  try {
    Envelope e;
    auto id = MessageId::Parse(o.at("id").as_string());
    if (!id) return std::nullopt;
    e.id = *id;
    e.tenant_id = o.at("tenant").as_string();
    e.mail_from = o.at("mail_from").as_string();
    e.subject = o.at("subject").as_string();
    e.message_id = o.at("message_id").as_string();
    if (!FromName(std::string_view(o.at("status").as_string()), kMessageStatus, &e.status)) {
      return std::nullopt;
    }
    e.indexed_status = e.status;
    if (const json::value* ixs = o.if_contains("ixs")) {
      MessageStatus indexed;
      if (!FromName(std::string_view(ixs->as_string()), kMessageStatus, &indexed)) {
        return std::nullopt;
      }
      e.indexed_status = indexed;
    }
    e.created_ms = o.at("created").to_number<int64_t>();
    e.send_at_ms = o.at("send_at").to_number<int64_t>();
    e.updated_ms = o.at("updated").to_number<int64_t>();
    if (const json::value* due = o.if_contains("due")) e.due_ms = due->to_number<int64_t>();
    e.size = o.at("size").to_number<uint64_t>();
    for (const json::value& rv : o.at("rcpts").as_array()) {
      const json::array& ra = rv.as_array();
      RecipientRecord r;
      r.address = ra.at(0).as_string();
      if (!FromName(std::string_view(ra.at(1).as_string()), kRecipientKind, &r.kind) ||
          !FromName(std::string_view(ra.at(2).as_string()), kRecipientStatus, &r.status)) {
        return std::nullopt;
      }
      if (ra.size() != 3 && ra.size() < 7) return std::nullopt;  // a torn recipient record
      if (ra.size() >= 7) {
        r.attempts_total = ra.at(3).to_number<int>();
        r.next_attempt_ms = ra.at(4).to_number<int64_t>();
        r.reason = ra.at(5).as_string();
        for (const json::value& av : ra.at(6).as_array()) {
          const json::object& ao = av.as_object();
          Attempt a;
          a.at_ms = ao.at("at").to_number<int64_t>();
          a.mx = ao.at("mx").as_string();
          a.ip = ao.at("ip").as_string();
          a.code = ao.at("code").to_number<int>();
          a.enhanced = ao.at("enhanced").as_string();
          a.text = ao.at("text").as_string();
          a.tls_version = ao.at("tls").as_string();
          a.tls_cipher = ao.at("cipher").as_string();
          // Spools written before egress pools have no pool, source or site.
          if (const json::value* v = ao.if_contains("pool")) a.pool = v->as_string();
          if (const json::value* v = ao.if_contains("source")) a.source = v->as_string();
          if (const json::value* v = ao.if_contains("site")) a.site = v->as_string();
          r.attempts.push_back(std::move(a));
        }
      }
      e.recipients.push_back(std::move(r));
    }
    for (const json::value& t : o.at("tags").as_array()) e.tags.emplace_back(t.as_string());
    e.metadata_json = o.at("metadata").as_string();
    e.source = o.at("source").as_string();
    if (const json::value* h = o.if_contains("held")) e.held = h->as_bool();
    if (const json::value* r = o.if_contains("redacted")) e.redacted = r->as_bool();
    return e;
  } catch (const std::exception&) {
    // Boost.JSON accessors throw on a wrong shape; a corrupt record reads as absent.
    return std::nullopt;
  }
}

void AddNewMessage(WriteBatch& batch, Envelope& e, std::string body) {
  e.indexed_status = e.status;
  batch.Put(Column::kEnvelope, EnvelopeKey(e.id), EncodeEnvelope(e));
  batch.Put(Column::kBody, EnvelopeKey(e.id), std::move(body));
  if (AnyPending(e)) batch.Put(Column::kQueue, QueueKey(e.tenant_id, e.send_at_ms, e.id), {});
  // One accepted (or scheduled) event per message; the message's id is unique, so it is the
  // event's id too.
  Event ev;
  ev.id = e.id;
  ev.at_ms = e.created_ms;
  ev.tenant = e.tenant_id;
  ev.type = e.status == MessageStatus::kScheduled ? "scheduled" : "accepted";
  ev.message = e.id;
  ev.tags = e.tags;
  ev.metadata_json = e.metadata_json;
  AddEvent(batch, ev);
  // A suppressed recipient's event; its id must differ from the message's, and ids made from
  // the message id (time + incremented random part) stay unique and time-ordered.
  MessageId next = e.id;
  for (const RecipientRecord& r : e.recipients) {
    if (r.status != RecipientStatus::kSuppressed) continue;
    for (int i = 15; i >= 6 && ++next.bytes[i] == 0; --i) {
    }
    Event s = ev;
    s.id = next;
    s.type = "suppressed";
    s.recipient = r.address;
    s.text = r.reason;  // which list and why, e.g. "tenant list: invalid_recipient"
    AddEvent(batch, s);
  }
  AddMessageIndexes(batch, e);
  AddRetentionEntry(batch, e);
}

void AddEnvelopeUpdate(WriteBatch& batch, Envelope& e, bool remove_from_queue) {
  if (remove_from_queue && e.held) {
    // A held message has no queue entry; it leaves the held index instead.
    e.held = false;
    batch.Delete(Column::kState, HeldKey(e.tenant_id, e.id));
    remove_from_queue = false;
  }
  SyncStatusIndex(batch, e);
  batch.Put(Column::kEnvelope, EnvelopeKey(e.id), EncodeEnvelope(e));
  if (remove_from_queue) batch.Delete(Column::kQueue, QueueKey(e.tenant_id, QueueDue(e), e.id));
}

void AddHold(WriteBatch& batch, Envelope& e) {
  batch.Delete(Column::kQueue, QueueKey(e.tenant_id, QueueDue(e), e.id));
  e.held = true;
  e.due_ms = 0;
  batch.Put(Column::kState, HeldKey(e.tenant_id, e.id), {});
  SyncStatusIndex(batch, e);
  batch.Put(Column::kEnvelope, EnvelopeKey(e.id), EncodeEnvelope(e));
}

void AddRelease(WriteBatch& batch, Envelope& e, int64_t due_ms) {
  batch.Delete(Column::kState, HeldKey(e.tenant_id, e.id));
  e.held = false;
  bool pending = AnyPending(e);
  if (pending) e.due_ms = due_ms;
  SyncStatusIndex(batch, e);
  batch.Put(Column::kEnvelope, EnvelopeKey(e.id), EncodeEnvelope(e));
  if (pending) batch.Put(Column::kQueue, QueueKey(e.tenant_id, due_ms, e.id), {});
}

bool AnyPending(const Envelope& e) {
  for (const RecipientRecord& r : e.recipients) {
    if (r.Pending()) return true;
  }
  return false;
}

void AddQueueMove(WriteBatch& batch, Envelope& e, int64_t from_due_ms, int64_t next_due_ms) {
  if (next_due_ms >= 0) e.due_ms = next_due_ms;
  SyncStatusIndex(batch, e);
  batch.Put(Column::kEnvelope, EnvelopeKey(e.id), EncodeEnvelope(e));
  if (next_due_ms == from_due_ms) return;
  batch.Delete(Column::kQueue, QueueKey(e.tenant_id, from_due_ms, e.id));
  if (next_due_ms >= 0) batch.Put(Column::kQueue, QueueKey(e.tenant_id, next_due_ms, e.id), {});
}

MessageStatus DeriveStatus(const Envelope& e) {
  size_t delivered = 0, bounced = 0, canceled = 0, deferred = 0, scheduled = 0, suppressed = 0;
  for (const RecipientRecord& r : e.recipients) {
    switch (r.status) {
      case RecipientStatus::kDelivered:
        ++delivered;
        break;
      case RecipientStatus::kBounced:
        ++bounced;
        break;
      case RecipientStatus::kCanceled:
        ++canceled;
        break;
      case RecipientStatus::kDeferred:
        ++deferred;
        break;
      case RecipientStatus::kScheduled:
        ++scheduled;
        break;
      case RecipientStatus::kSuppressed:
        ++suppressed;
        break;
      case RecipientStatus::kQueued:
        break;
    }
  }
  size_t n = e.recipients.size();
  size_t final_count = delivered + bounced + canceled + suppressed;
  if (final_count == n) {
    if (canceled == n) return MessageStatus::kCanceled;
    if (canceled + suppressed == n) return MessageStatus::kSuppressed;
    if (delivered == 0) return MessageStatus::kBounced;
    return delivered == n ? MessageStatus::kDelivered : MessageStatus::kPartial;
  }
  if (scheduled > 0 && scheduled + final_count == n) return MessageStatus::kScheduled;
  if (deferred > 0 && deferred + final_count == n) return MessageStatus::kDeferred;
  return MessageStatus::kQueued;
}

Result<std::optional<Envelope>> ReadEnvelope(KvStore& kv, const MessageId& id) {
  auto r = kv.Get(Column::kEnvelope, EnvelopeKey(id));
  if (!r.ok()) return r.error();
  if (!r.value()) return std::optional<Envelope>();
  auto e = DecodeEnvelope(*r.value());
  if (!e) return MakeError(Code::kStorage, "corrupt envelope record for " + id.ToString());
  return e;
}

Result<std::optional<std::string>> ReadBody(KvStore& kv, const MessageId& id) {
  return kv.Get(Column::kBody, EnvelopeKey(id));
}

IndexWalk::IndexWalk(KvStore& kv, std::string tenant_id, bool queue, bool held)
    : kv_(kv), tenant_(std::move(tenant_id)), queue_(queue), held_(held) {
  phase_ = queue_ ? kQueue : held_ ? kHeld : kDone;
  from_ = Start(phase_);
}

std::string IndexWalk::Start(Phase p) const {
  if (p == kQueue) return tenant_.empty() ? std::string() : QueueKeyPrefix(tenant_);
  if (p == kHeld) return tenant_.empty() ? std::string(kHeldKeyPrefix) : HeldKeyPrefix(tenant_);
  return {};
}

std::string IndexWalk::End(Phase p) const {
  // A tenant's keys end before tenant + 0x01 (due times and ids follow its NUL); tenant ids are
  // printable ASCII, so every queue key sorts before 0xff.
  if (p == kQueue) return tenant_.empty() ? std::string(4, '\xff') : tenant_ + '\x01';
  std::string end = tenant_.empty() ? std::string(kHeldKeyPrefix) : HeldKeyPrefix(tenant_);
  ++end.back();
  return end;
}

std::string IndexWalk::Cursor() const {
  return std::string(1, phase_ == kQueue ? 'q' : 'h') + HexEncode(from_);
}

bool IndexWalk::Resume(std::string_view cursor) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (cursor.empty() || cursor.size() > 1025 || cursor.size() % 2 == 0) return false;
  Phase p = cursor[0] == 'q' ? kQueue : cursor[0] == 'h' ? kHeld : kDone;
  if (p == kDone || (p == kQueue && !queue_) || (p == kHeld && !held_)) return false;
  std::string key;
  for (size_t i = 1; i + 1 < cursor.size(); i += 2) {
    int hi = hex(cursor[i]), lo = hex(cursor[i + 1]);
    if (hi < 0 || lo < 0) return false;
    key.push_back(static_cast<char>(hi * 16 + lo));
  }
  phase_ = p;
  from_ = std::max(key, Start(p));
  return true;
}

Result<std::vector<IndexEntry>> IndexWalk::Next(size_t n) {
  std::vector<IndexEntry> out;
  while (phase_ != kDone && out.size() < n) {
    Column column = phase_ == kQueue ? Column::kQueue : Column::kState;
    Status s =
        kv_.ScanRange(column, from_, End(phase_), [&](std::string_view key, std::string_view) {
          from_.assign(key);
          from_.push_back('\0');
          IndexEntry e;
          bool ok = phase_ == kQueue ? ParseQueueKey(key, &e.tenant_id, &e.due_ms, &e.id)
                                     : ParseHeldKey(key, &e.tenant_id, &e.id);
          if (ok) {
            e.held = phase_ == kHeld;
            out.push_back(std::move(e));
          }
          return out.size() < n;
        });
    if (!s.ok()) return s.error();
    if (out.size() < n) {  // this range is exhausted
      phase_ = phase_ == kQueue && held_ ? kHeld : kDone;
      from_ = Start(phase_);
    }
  }
  return out;
}

Result<std::optional<Envelope>> ReadIndexed(KvStore& kv, const IndexEntry& entry) {
  auto r = ReadEnvelope(kv, entry.id);
  if (!r.ok()) return r.error();
  const std::optional<Envelope>& e = r.value();
  if (!e || e->tenant_id != entry.tenant_id || e->held != entry.held || !AnyPending(*e) ||
      (!entry.held && QueueDue(*e) != entry.due_ms)) {
    return std::optional<Envelope>();
  }
  return r;
}

}  // namespace mp
