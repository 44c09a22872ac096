#include "store/spool.h"

#include <boost/json.hpp>

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

constexpr std::string_view kMessageStatus[] = {
    "queued", "scheduled", "canceled", "delivered", "bounced", "partially_delivered", "deferred"};
constexpr std::string_view kRecipientStatus[] = {"queued",    "scheduled", "canceled",
                                                 "delivered", "deferred",  "bounced"};
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

std::string EncodeEnvelope(const Envelope& e) {
  json::object o;
  o["id"] = e.id.ToString();
  o["tenant"] = e.tenant_id;
  o["mail_from"] = e.mail_from;
  o["subject"] = e.subject;
  o["message_id"] = e.message_id;
  o["status"] = MessageStatusName(e.status);
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
    return e;
  } catch (const std::exception&) {
    // Boost.JSON accessors throw on a wrong shape; a corrupt record reads as absent.
    return std::nullopt;
  }
}

void AddNewMessage(WriteBatch& batch, const Envelope& e, std::string body) {
  batch.Put(Column::kEnvelope, EnvelopeKey(e.id), EncodeEnvelope(e));
  batch.Put(Column::kBody, EnvelopeKey(e.id), std::move(body));
  batch.Put(Column::kQueue, QueueKey(e.tenant_id, e.send_at_ms, e.id), {});
}

void AddEnvelopeUpdate(WriteBatch& batch, const Envelope& e, bool remove_from_queue) {
  batch.Put(Column::kEnvelope, EnvelopeKey(e.id), EncodeEnvelope(e));
  if (remove_from_queue) batch.Delete(Column::kQueue, QueueKey(e.tenant_id, QueueDue(e), e.id));
}

void AddQueueMove(WriteBatch& batch, Envelope& e, int64_t from_due_ms, int64_t next_due_ms) {
  if (next_due_ms >= 0) e.due_ms = next_due_ms;
  batch.Put(Column::kEnvelope, EnvelopeKey(e.id), EncodeEnvelope(e));
  if (next_due_ms == from_due_ms) return;
  batch.Delete(Column::kQueue, QueueKey(e.tenant_id, from_due_ms, e.id));
  if (next_due_ms >= 0) batch.Put(Column::kQueue, QueueKey(e.tenant_id, next_due_ms, e.id), {});
}

MessageStatus DeriveStatus(const Envelope& e) {
  size_t delivered = 0, bounced = 0, canceled = 0, deferred = 0, scheduled = 0;
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
      case RecipientStatus::kQueued:
        break;
    }
  }
  size_t n = e.recipients.size();
  size_t final_count = delivered + bounced + canceled;
  if (final_count == n) {
    if (canceled == n) return MessageStatus::kCanceled;
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

}  // namespace mp
