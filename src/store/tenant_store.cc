#include "store/tenant_store.h"

#include <boost/json.hpp>

#include "core/id.h"

namespace mp {
namespace {
namespace json = boost::json;
constexpr char kTenantFormatV1 = 1;
constexpr std::string_view kTenantPrefix = "tenant/";
constexpr std::string_view kNamePrefix = "tenant-name/";

std::string Unhex(std::string_view hex) {
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  if (hex.size() % 2) return {};
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nib(hex[i]), lo = nib(hex[i + 1]);
    if (hi < 0 || lo < 0) return {};
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

}  // namespace

std::string TenantKey(std::string_view tenant_id) {
  return std::string(kTenantPrefix) + std::string(tenant_id);
}
std::string TenantNameKey(std::string_view name) {
  return std::string(kNamePrefix) + std::string(name);
}

std::string EncodeTenant(const TenantRecord& t) {
  json::object o;
  o["id"] = t.id;
  o["name"] = t.name;
  o["created"] = t.created_ms;
  o["disabled"] = t.disabled;
  json::array keys;
  for (const ApiKeyRecord& k : t.keys) {
    keys.push_back(json::object{{"key_id", k.key_id},
                                {"sha256", HexEncode(k.hash)},
                                {"created", k.created_ms},
                                {"expires", k.expires_ms}});
  }
  o["keys"] = std::move(keys);
  o["paused"] = t.paused;
  if (t.retention_days > 0) o["retention_days"] = t.retention_days;
  if (!t.unsubscribe_url.empty() || !t.unsubscribe_mailto.empty()) {
    o["unsubscribe"] = json::object{{"url", t.unsubscribe_url}, {"mailto", t.unsubscribe_mailto}};
  }
  o["limits"] = json::object{{"weight", t.limits.weight},
                             {"rate", t.limits.rate},
                             {"burst", t.limits.burst},
                             {"daily_quota", t.limits.daily_quota},
                             {"hold", t.limits.hold}};
  return std::string(1, kTenantFormatV1) + json::serialize(o);
}

std::optional<TenantRecord> DecodeTenant(std::string_view data) {
  if (data.empty() || data[0] != kTenantFormatV1) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(data.substr(1), ec);
  if (ec || !v.is_object()) return std::nullopt;
  try {
    const json::object& o = v.get_object();
    TenantRecord t;
    t.id = o.at("id").as_string();
    t.name = o.at("name").as_string();
    t.created_ms = o.at("created").to_number<int64_t>();
    t.disabled = o.at("disabled").as_bool();
    for (const json::value& kv : o.at("keys").as_array()) {
      const json::object& k = kv.as_object();
      ApiKeyRecord r;
      r.key_id = k.at("key_id").as_string();
      r.hash = Unhex(k.at("sha256").as_string());
      r.created_ms = k.at("created").to_number<int64_t>();
      r.expires_ms = k.at("expires").to_number<int64_t>();
      if (r.hash.size() != 32) return std::nullopt;
      t.keys.push_back(std::move(r));
    }
    // Records written before tenant limits have neither field.
    if (const json::value* p = o.if_contains("paused")) t.paused = p->as_bool();
    if (const json::value* r = o.if_contains("retention_days")) {
      t.retention_days = r->to_number<int>();
    }
    if (const json::value* u = o.if_contains("unsubscribe")) {
      t.unsubscribe_url = u->as_object().at("url").as_string();
      t.unsubscribe_mailto = u->as_object().at("mailto").as_string();
    }
    if (const json::value* l = o.if_contains("limits")) {
      const json::object& lo = l->as_object();
      t.limits.weight = lo.at("weight").to_number<int>();
      t.limits.rate = lo.at("rate").to_number<double>();
      t.limits.burst = lo.at("burst").to_number<int>();
      t.limits.daily_quota = lo.at("daily_quota").to_number<int64_t>();
      t.limits.hold = lo.at("hold").as_bool();
    }
    return t;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void AddTenantPut(WriteBatch& batch, const TenantRecord& t) {
  batch.Put(Column::kState, TenantKey(t.id), EncodeTenant(t));
  batch.Put(Column::kState, TenantNameKey(t.name), t.id);
}

Result<std::vector<TenantRecord>> ReadAllTenants(KvStore& kv) {
  std::vector<TenantRecord> out;
  bool corrupt = false;
  Status s = kv.Scan(Column::kState, kTenantPrefix, [&](std::string_view, std::string_view v) {
    auto t = DecodeTenant(v);
    if (!t) {
      corrupt = true;
      return false;
    }
    out.push_back(std::move(*t));
    return true;
  });
  if (!s.ok()) return s.error();
  if (corrupt) return MakeError(Code::kStorage, "corrupt tenant record");
  return out;
}

}  // namespace mp
