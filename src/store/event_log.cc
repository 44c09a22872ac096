#include "store/event_log.h"

#include <boost/json.hpp>

#include "core/clock.h"
#include "core/log.h"
#include "store/message_index.h"

namespace mp {
namespace json = boost::json;
namespace {

constexpr char kEventFormatV1 = 1;
constexpr std::string_view kStreamPrefix = "ev/";
constexpr std::string_view kTimelinePrefix = "mev/";

std::string StreamPrefix(const std::string& tenant) {
  std::string k(kStreamPrefix);
  k += tenant;
  k.push_back('\0');
  return k;
}

int Nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The stamp's floor: the event's time in microseconds.
uint64_t StampFloor(const Event& e) {
  return static_cast<uint64_t>(std::max<int64_t>(e.at_ms, 0)) * 1000;
}

std::string StreamKey(const Event& e) {
  std::string k = StreamPrefix(e.tenant);
  AppendU64BE(k, StampFloor(e));
  k.append(e.id.Raw());
  return k;
}

Result<std::string> DecodeCursor(const std::string& cursor) {
  if (cursor.size() != 48) {
    return MakeError(Code::kInvalidValue, "cursor is not one this API gave", "cursor");
  }
  std::string raw;
  for (size_t i = 0; i < cursor.size(); i += 2) {
    int a = Nibble(cursor[i]), b = Nibble(cursor[i + 1]);
    if (a < 0 || b < 0) {
      return MakeError(Code::kInvalidValue, "cursor is not one this API gave", "cursor");
    }
    raw.push_back(static_cast<char>(a * 16 + b));
  }
  return raw;
}

std::string TimelineKey(const Event& e) {
  std::string k(kTimelinePrefix);
  k.append(e.message.Raw());
  AppendU64BE(k, static_cast<uint64_t>(e.at_ms));
  k.append(e.id.Raw());
  return k;
}

json::object ToObject(const Event& e) {
  json::object o;
  o["id"] = e.id.ToString();
  o["type"] = e.type;
  o["at"] = FormatRfc3339(e.at_ms);
  o["message_id"] =
      e.message == MessageId{} ? json::value(nullptr) : json::value(e.message.ToString());
  o["recipient"] = e.recipient.empty() ? json::value(nullptr) : json::value(e.recipient);
  auto opt = [&o](const char* k, const std::string& v) {
    o[k] = v.empty() ? json::value(nullptr) : json::value(v);
  };
  opt("pool", e.pool);
  opt("source", e.source);
  opt("site", e.site);
  opt("mx", e.mx);
  opt("ip", e.ip);
  if (e.code) {
    o["reply"] = json::object{{"code", e.code}, {"enhanced_code", e.enhanced}, {"text", e.text}};
  } else {
    o["reply"] = nullptr;
    // Events without a remote reply may still say why (a suppression's list and reason).
    if (!e.text.empty()) o["detail"] = e.text;
  }
  opt("category", e.category);
  if (e.type == "bounced") o["bounce_type"] = BounceType(e.category);
  json::array tags;
  for (const auto& t : e.tags) tags.emplace_back(t);
  o["tags"] = std::move(tags);
  json::value meta = json::object{};
  if (!e.metadata_json.empty()) {
    boost::system::error_code ec;
    json::value parsed = json::parse(e.metadata_json, ec);
    if (!ec && parsed.is_object()) meta = std::move(parsed);
  }
  o["metadata"] = std::move(meta);
  return o;
}

}  // namespace

bool IsEventType(std::string_view type) {
  for (std::string_view t : kEventTypes) {
    if (t == type) return true;
  }
  return false;
}

std::string_view BounceType(std::string_view category) {
  if (category.empty() || category == "invalid_recipient" || category == "bad_domain" ||
      category == "inactive_mailbox" || category == "other") {
    return "hard";
  }
  return "soft";
}

// Written field by field rather than through a json::object: this runs for every event the
// server writes, and the object's allocations were most of its cost. DecodeEvent reads it back
// with the JSON parser, so the two stay in step through the round-trip tests.
std::string EncodeEvent(const Event& e) {
  std::string out;
  out.reserve(256 + e.text.size() + e.metadata_json.size());
  out.push_back(kEventFormatV1);
  auto str = [&out](std::string_view name, std::string_view v) {
    out.push_back(out.size() == 1 ? '{' : ',');
    out.push_back('"');
    out.append(name);
    out.append("\":");
    log::AppendJsonString(out, v);
  };
  str("id", HexEncode(e.id.Raw()));
  out.append(",\"at\":");
  out.append(std::to_string(e.at_ms));
  str("tenant", e.tenant);
  str("type", e.type);
  str("msg", HexEncode(e.message.Raw()));
  str("rcpt", e.recipient);
  str("pool", e.pool);
  str("source", e.source);
  str("site", e.site);
  str("mx", e.mx);
  str("ip", e.ip);
  out.append(",\"code\":");
  out.append(std::to_string(e.code));
  str("enh", e.enhanced);
  str("text", e.text);
  str("cat", e.category);
  if (!e.metadata_json.empty() && e.metadata_json != "{}") str("meta", e.metadata_json);
  out.append(",\"tags\":[");
  for (size_t i = 0; i < e.tags.size(); ++i) {
    if (i) out.push_back(',');
    log::AppendJsonString(out, e.tags[i]);
  }
  out.append("]}");
  return out;
}

std::optional<Event> DecodeEvent(std::string_view data) {
  if (data.empty() || data[0] != kEventFormatV1) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(data.substr(1), ec);
  if (ec || !v.is_object()) return std::nullopt;
  auto unhex = [](std::string_view h) -> std::optional<MessageId> {
    if (h.size() != 32) return std::nullopt;
    std::string raw;
    for (size_t i = 0; i < 32; i += 2) {
      int a = Nibble(h[i]), b = Nibble(h[i + 1]);
      if (a < 0 || b < 0) return std::nullopt;
      raw.push_back(static_cast<char>(a * 16 + b));
    }
    return MessageId::FromRaw(raw);
  };
  try {
    const json::object& o = v.get_object();
    Event e;
    auto id = unhex(o.at("id").as_string());
    auto msg = unhex(o.at("msg").as_string());
    if (!id || !msg) return std::nullopt;
    e.id = *id;
    e.message = *msg;
    e.at_ms = o.at("at").to_number<int64_t>();
    e.tenant = o.at("tenant").as_string();
    e.type = o.at("type").as_string();
    e.recipient = o.at("rcpt").as_string();
    e.pool = o.at("pool").as_string();
    e.source = o.at("source").as_string();
    e.site = o.at("site").as_string();
    e.mx = o.at("mx").as_string();
    e.ip = o.at("ip").as_string();
    e.code = o.at("code").to_number<int>();
    e.enhanced = o.at("enh").as_string();
    e.text = o.at("text").as_string();
    e.category = o.at("cat").as_string();
    for (const json::value& t : o.at("tags").as_array()) e.tags.emplace_back(t.as_string());
    if (const json::value* m = o.if_contains("meta")) e.metadata_json = m->as_string();
    return e;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string EventJson(const Event& e) { return json::serialize(ToObject(e)); }

Event MakeEvent(const Envelope& e, std::string type, std::string recipient, const Clock& clock,
                int64_t at_ms) {
  Event ev;
  ev.id = NewId(clock);
  ev.at_ms = at_ms;
  ev.tenant = e.tenant_id;
  ev.type = std::move(type);
  ev.message = e.id;
  ev.recipient = std::move(recipient);
  ev.tags = e.tags;
  ev.metadata_json = e.metadata_json;
  return ev;
}

void AddEvent(WriteBatch& batch, const Event& e) {
  auto stamp_at = static_cast<int32_t>(kStreamPrefix.size() + e.tenant.size() + 1);
  batch.PutStamped(Column::kLog, StreamKey(e), EncodeEvent(e), stamp_at, -1);
  if (e.message == MessageId{}) return;  // not about a message: no timeline
  std::string timeline;
  AppendU64BE(timeline, StampFloor(e));
  timeline += e.tenant;
  batch.PutStamped(Column::kLog, TimelineKey(e), std::move(timeline), -1, 0);
}

void AddEventRewrite(WriteBatch& batch, const Event& e) {
  std::string k = StreamPrefix(e.tenant);
  AppendU64BE(k, e.seq);
  k.append(e.id.Raw());
  batch.Put(Column::kLog, std::move(k), EncodeEvent(e));
}

std::string EventCursor(const Event& e) {
  std::string k;
  AppendU64BE(k, e.seq);
  k.append(e.id.Raw());
  return HexEncode(k);
}

std::string EventCursorAt(int64_t at_ms) {
  std::string k;
  uint64_t us = static_cast<uint64_t>(std::max<int64_t>(at_ms, 0)) * 1000;
  AppendU64BE(k, us == 0 ? 0 : us - 1);
  k.append(16, '\xff');
  return HexEncode(k);
}

Result<EventPage> ReadTenantEvents(KvStore& kv, const std::string& tenant, int64_t since_ms,
                                   int64_t until_ms, const std::string& cursor,
                                   const std::string& type, size_t limit) {
  std::string prefix = StreamPrefix(tenant);
  std::string from = prefix;
  if (!cursor.empty()) {
    auto raw = DecodeCursor(cursor);
    if (!raw.ok()) return raw.error();
    from += raw.value();
    from.push_back('\0');  // strictly after the cursor's event
  } else {
    AppendU64BE(from, static_cast<uint64_t>(std::max<int64_t>(since_ms, 0)) * 1000);
  }
  std::string to = prefix;
  AppendU64BE(to, until_ms > 0 ? static_cast<uint64_t>(until_ms) * 1000 : ~uint64_t{0});
  EventPage page;
  bool corrupt = false, more = false;
  // Type filters skip events: bound the work of one page all the same.
  size_t scanned = 0, max_scan = std::max<size_t>(limit * 20, 10000);
  std::string last_key;
  Status s = kv.ScanRange(Column::kLog, from, to, [&](std::string_view key, std::string_view v) {
    if (page.events.size() >= limit || ++scanned > max_scan) {
      more = true;
      return false;
    }
    last_key.assign(key);
    auto e = DecodeEvent(v);
    if (!e) {
      corrupt = true;
      return false;
    }
    e->seq = ReadU64BE(key.substr(prefix.size(), 8));
    if (type.empty() || e->type == type) page.events.push_back(std::move(*e));
    return true;
  });
  if (!s.ok()) return s.error();
  if (corrupt) return MakeError(Code::kStorage, "corrupt event record");
  if (more && !last_key.empty()) page.next_cursor = HexEncode(last_key.substr(prefix.size()));
  return page;
}

Result<std::vector<Event>> ReadMessageEvents(KvStore& kv, const MessageId& message) {
  std::string prefix(kTimelinePrefix);
  prefix.append(message.Raw());
  std::vector<std::string> keys;
  Status s = kv.Scan(Column::kLog, prefix, [&](std::string_view key, std::string_view value) {
    if (value.size() < 8 || key.size() != prefix.size() + 8 + 16) return true;
    std::string k(kStreamPrefix);
    k.append(value.substr(8));  // the tenant
    k.push_back('\0');
    k.append(value.substr(0, 8));             // the stamp
    k.append(key.substr(prefix.size() + 8));  // the event id
    keys.push_back(std::move(k));
    return keys.size() < 100000;
  });
  if (!s.ok()) return s.error();
  std::vector<Event> out;
  for (const std::string& k : keys) {
    auto v = kv.Get(Column::kLog, k);
    if (!v.ok()) return v.error();
    if (!v.value()) continue;  // expired meanwhile
    auto e = DecodeEvent(*v.value());
    if (!e) return MakeError(Code::kStorage, "corrupt event record");
    e->seq = ReadU64BE(std::string_view(k).substr(k.size() - 24, 8));
    out.push_back(std::move(*e));
  }
  return out;
}

size_t LogKeyOrderedPrefix(std::string_view key) {
  // Timeline keys start with the message id, whose first bytes are its creation time.
  if (key.substr(0, kTimelinePrefix.size()) == kTimelinePrefix) return kTimelinePrefix.size();
  if (key.substr(0, kStreamPrefix.size()) != kStreamPrefix) return 0;
  size_t nul = key.find('\0', kStreamPrefix.size());
  return nul == std::string_view::npos ? 0 : nul + 1;
}

bool LogKeyExpired(std::string_view key, std::string_view value,
                   const std::function<int64_t(std::string_view tenant)>& cutoff_ms) {
  std::string_view tenant;
  uint64_t at = 0;
  if (key.substr(0, kStreamPrefix.size()) == kStreamPrefix) {
    std::string_view rest = key.substr(kStreamPrefix.size());
    size_t nul = rest.find('\0');
    if (nul == std::string_view::npos || rest.size() < nul + 1 + 8) return false;
    tenant = rest.substr(0, nul);
    at = ReadU64BE(rest.substr(nul + 1, 8)) / 1000;  // the stamp is in microseconds
  } else if (key.substr(0, kTimelinePrefix.size()) == kTimelinePrefix) {
    std::string_view rest = key.substr(kTimelinePrefix.size());
    if (rest.size() < 16 + 8 || value.size() < 8) return false;
    tenant = value.substr(8);
    at = ReadU64BE(rest.substr(16, 8));
  } else {
    int64_t created = 0;
    if (!ParseMessageIndexKey(key, &tenant, &created)) return false;
    at = static_cast<uint64_t>(std::max<int64_t>(created, 0));
  }
  int64_t cutoff = cutoff_ms(tenant);
  return cutoff > 0 && static_cast<int64_t>(at) < cutoff;
}

}  // namespace mp
