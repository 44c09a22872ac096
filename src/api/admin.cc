// Admin API: tenants and their keys, guarded by admin.token.
//   GET  /v1/admin/tenants                      list
//   POST /v1/admin/tenants {name}               create (201, key shown once)
//   GET  /v1/admin/tenants/{id}                 read
//   POST /v1/admin/tenants/{id}/rotate-key {grace_seconds}
//   POST /v1/admin/tenants/{id}/disable | /enable
//   POST /v1/admin/tenants/{id}/limits {weight, rate, burst, daily_quota, over_limit}  (merged)
//   POST /v1/admin/tenants/{id}/pause | /resume    sending paused: mail is accepted and waits
//   POST /v1/admin/tenants/{id}/settings {unsubscribe?: {url, mailto} | null,
//                                         retention_days?: 1..3650 | null}  tenant defaults
#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "api/admin_util.h"
#include "api/handlers.h"
#include "api/problem.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "ingest/send_limits.h"
#include "ingest/submission.h"
#include "ingest/tenants.h"

namespace mp {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

json::object LimitsView(const TenantLimits& l) {
  return json::object{{"weight", l.weight},
                      {"rate", l.rate},
                      {"burst", l.burst},
                      {"daily_quota", l.daily_quota},
                      {"over_limit", l.hold ? "hold" : "reject"}};
}

// Reads a limits body over the current limits; unknown fields and bad values are errors.
Result<TenantLimits> ParseLimits(const json::object& o, TenantLimits l) {
  Status s = OnlyFields(o, {"weight", "rate", "burst", "daily_quota", "over_limit"});
  if (!s.ok()) return s.error();
  auto integer = [&o](const char* k, int64_t lo, int64_t hi, int64_t* out) -> Status {
    const json::value* v = o.if_contains(k);
    if (!v) return Status::Ok();
    if (!v->is_int64() || v->get_int64() < lo || v->get_int64() > hi) {
      return MakeError(Code::kInvalidValue,
                       std::string(k) + " must be an integer from " + std::to_string(lo) + " to " +
                           std::to_string(hi),
                       k);
    }
    *out = v->get_int64();
    return Status::Ok();
  };
  int64_t weight = l.weight, burst = l.burst, quota = l.daily_quota;
  for (Status st : {integer("weight", 1, 1000, &weight), integer("burst", 0, 1000000, &burst),
                    integer("daily_quota", 0, int64_t{1} << 40, &quota)}) {
    if (!st.ok()) return st.error();
  }
  l.weight = static_cast<int>(weight);
  l.burst = static_cast<int>(burst);
  l.daily_quota = quota;
  if (const json::value* r = o.if_contains("rate")) {
    double rate = r->is_number() ? r->to_number<double>() : -1;
    if (!(rate == 0 || (rate >= 0.001 && rate <= 1e6))) {
      return MakeError(Code::kInvalidValue,
                       "rate must be 0 (no limit) or from 0.001 to 1000000 recipients a second",
                       "rate");
    }
    l.rate = r->to_number<double>();
  }
  if (const json::value* h = o.if_contains("over_limit")) {
    if (!h->is_string() || (h->get_string() != "reject" && h->get_string() != "hold")) {
      return MakeError(Code::kInvalidValue, "over_limit must be \"reject\" or \"hold\"",
                       "over_limit");
    }
    l.hold = h->get_string() == "hold";
  }
  return l;
}

json::object TenantView(const TenantRecord& t) {
  json::array keys;
  for (const ApiKeyRecord& k : t.keys) {
    json::object ko{{"key_id", k.key_id}, {"created_at", FormatRfc3339(k.created_ms)}};
    ko["expires_at"] =
        k.expires_ms ? json::value(FormatRfc3339(k.expires_ms)) : json::value(nullptr);
    keys.push_back(std::move(ko));
  }
  json::object o{
      {"tenant_id", t.id},      {"name", t.name},     {"created_at", FormatRfc3339(t.created_ms)},
      {"disabled", t.disabled}, {"paused", t.paused}, {"limits", LimitsView(t.limits)},
      {"keys", std::move(keys)}};
  o["retention_days"] = t.retention_days > 0 ? json::value(t.retention_days) : nullptr;
  o["unsubscribe"] =
      t.unsubscribe_url.empty() && t.unsubscribe_mailto.empty()
          ? json::value(nullptr)
          : json::value(json::object{{"url", t.unsubscribe_url}, {"mailto", t.unsubscribe_mailto}});
  return o;
}

json::object IssuedView(const IssuedKey& k) {
  json::object o = TenantView(k.tenant);
  o["api_key"] = k.api_key;
  o["key_id"] = k.key_id;
  return o;
}

}  // namespace

// Parses an optional JSON object body; empty body = {}.
Result<json::object> BodyObject(const HttpRequest& req) {
  if (req.body.empty()) return json::object();
  Status s = RequireJson(req);
  if (!s.ok()) return s.error();
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec) return MakeError(Code::kInvalidJson, "request body is not valid JSON: " + ec.message());
  if (!v.is_object()) return MakeError(Code::kInvalidType, "body must be a JSON object");
  return std::move(v.get_object());
}

Status OnlyFields(const json::object& o, std::initializer_list<std::string_view> allowed) {
  for (const auto& kv : o) {
    bool ok = false;
    for (auto a : allowed) ok = ok || kv.key() == a;
    if (!ok) {
      return MakeError(Code::kUnknownField, "unknown field " + std::string(kv.key()),
                       std::string(kv.key()));
    }
  }
  return Status::Ok();
}

bool PercentDecode(std::string_view in, std::string* out) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || hex(in[i + 1]) < 0 || hex(in[i + 2]) < 0) return false;
    out->push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
    i += 2;
  }
  return true;
}

std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  auto decode = [&hex](std::string_view in) {
    std::string out;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == '+') {
        out.push_back(' ');
      } else if (in[i] == '%' && i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
        out.push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
        i += 2;
      } else {
        out.push_back(in[i]);
      }
    }
    return out;
  };
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    if (decode(pair.substr(0, eq)) != name) continue;
    return eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

bool AdminAuthorized(const ApiContext& ctx, const HttpRequest& req) {
  if (ctx.config.admin.token.empty()) return false;
  std::string_view token = BearerToken(req);
  // Compare digests so the time taken says nothing about the token.
  std::string a = Sha256(token), b = Sha256(ctx.config.admin.token);
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0 && !token.empty();
}

namespace {

template <typename T>
HttpResponse ResultResponse(const Result<T>& r, int status, json::object (*view)(const T&)) {
  if (!r.ok()) return ProblemResponse(r.error());
  return JsonResponse(status, json::serialize(view(r.value())));
}

}  // namespace

asio::awaitable<HttpResponse> HandleAdmin(ApiContext& ctx, HttpRequest& req) {
  if (ctx.config.admin.token.empty()) {
    co_return ProblemResponse(
        MakeError(Code::kNotFound, "the admin API is disabled (set admin.token to enable it)"));
  }
  if (!AdminAuthorized(ctx, req)) {
    co_return ProblemResponse(MakeError(Code::kUnauthorized, "missing or invalid admin token"));
  }
  std::string_view p = req.path;
  const std::string& m = req.method;
  if (p.rfind("/v1/admin/egress", 0) == 0 || p.rfind("/v1/admin/routes", 0) == 0) {
    HttpResponse r = co_await HandleAdminEgress(ctx, req);
    co_return r;
  }
  if (p == "/v1/admin/events") {
    // The operator's stream: pool quarantines and releases (tenant "*").
    if (m != "GET") co_return MethodNotAllowed("GET");
    co_return ListEvents(ctx, req, "*");
  }
  if (p == "/v1/admin/reputation") {
    if (req.method != "GET") co_return MethodNotAllowed("GET");
    co_return GetAdminReputation(ctx, req);
  }
  if (p == "/v1/admin/suppressions" || p.rfind("/v1/admin/suppressions/", 0) == 0) {
    HttpResponse r = co_await HandleAdminSuppressions(ctx, req);
    co_return r;
  }
  if (p.rfind("/v1/admin/queue", 0) == 0) {
    HttpResponse r = co_await HandleAdminQueue(ctx, req);
    co_return r;
  }
  constexpr std::string_view kBase = "/v1/admin/tenants";
  if (p.substr(0, kBase.size()) != kBase) {
    co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
  }
  std::string_view rest = p.substr(kBase.size());
  if (!rest.empty() && rest.front() != '/') {
    co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
  }
  if (rest.empty() || rest == "/") {
    if (m == "GET") {
      json::array list;
      for (const TenantRecord& t : ctx.tenants.List()) list.push_back(TenantView(t));
      co_return JsonResponse(200, json::serialize(json::object{{"tenants", std::move(list)}}));
    }
    if (m != "POST") {
      co_return MethodNotAllowed("GET, POST");
    }
    auto body = BodyObject(req);
    if (!body.ok()) co_return ProblemResponse(body.error());
    Status s = OnlyFields(body.value(), {"name"});
    if (!s.ok()) co_return ProblemResponse(s.error());
    const json::value* name = body.value().if_contains("name");
    if (!name)
      co_return ProblemResponse(MakeError(Code::kMissingField, "name is required", "name"));
    if (!name->is_string()) {
      co_return ProblemResponse(MakeError(Code::kInvalidType, "name must be a string", "name"));
    }
    std::string n(name->get_string());
    TenantService& tenants = ctx.tenants;
    auto create = [&tenants, &n] { return tenants.Create(n); };
    Result<IssuedKey> r = co_await RunBlocking<Result<IssuedKey>>(ctx.blocking, create);
    if (r.ok()) log::Info("tenant.created", {{"tenant", r.value().tenant.id}, {"name", n}});
    co_return ResultResponse<IssuedKey>(r, 201, IssuedView);
  }
  // /{id} or /{id}/action
  rest.remove_prefix(1);
  size_t slash = rest.find('/');
  std::string id(rest.substr(0, slash));
  std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  TenantService& tenants = ctx.tenants;
  if (action.empty()) {
    if (m != "GET") {
      co_return MethodNotAllowed("GET");
    }
    auto t = tenants.Get(id);
    if (!t) co_return ProblemResponse(MakeError(Code::kNotFound, "no such tenant"));
    json::object view = TenantView(*t);
    if (ctx.limiter) {
      SendLimiter::Usage u = ctx.limiter->Get(id, t->limits);
      view["usage"] = json::object{{"today", u.today}, {"tokens", u.tokens}};
    }
    co_return JsonResponse(200, json::serialize(view));
  }
  if (m != "POST") {
    co_return MethodNotAllowed("POST");
  }
  auto body = BodyObject(req);
  if (!body.ok()) co_return ProblemResponse(body.error());
  if (action == "rotate-key") {
    Status s = OnlyFields(body.value(), {"grace_seconds"});
    if (!s.ok()) co_return ProblemResponse(s.error());
    int64_t grace = 0;
    if (const json::value* g = body.value().if_contains("grace_seconds")) {
      if (!g->is_int64() || g->get_int64() < 0 || g->get_int64() > int64_t{30} * 86400) {
        co_return ProblemResponse(MakeError(Code::kInvalidValue,
                                            "grace_seconds must be an integer from 0 to 2592000",
                                            "grace_seconds"));
      }
      grace = g->get_int64();
    }
    auto rotate = [&tenants, &id, grace] { return tenants.RotateKey(id, grace); };
    Result<IssuedKey> r = co_await RunBlocking<Result<IssuedKey>>(ctx.blocking, rotate);
    if (r.ok()) log::Info("tenant.key_rotated", {{"tenant", id}, {"grace_seconds", grace}});
    co_return ResultResponse<IssuedKey>(r, 200, IssuedView);
  }
  if (action == "limits") {
    auto current = tenants.Get(id);
    if (!current) co_return ProblemResponse(MakeError(Code::kNotFound, "no such tenant"));
    auto limits = ParseLimits(body.value(), current->limits);
    if (!limits.ok()) co_return ProblemResponse(limits.error());
    TenantLimits l = limits.value();
    auto set = [&tenants, &id, l] { return tenants.SetLimits(id, l); };
    Result<TenantRecord> r = co_await RunBlocking<Result<TenantRecord>>(ctx.blocking, set);
    if (r.ok()) {
      log::Info("tenant.limits_changed", {{"tenant", id},
                                          {"weight", l.weight},
                                          {"rate", l.rate},
                                          {"burst", l.burst},
                                          {"daily_quota", l.daily_quota},
                                          {"hold", l.hold}});
      ctx.on_tenant_changed(id);
    }
    co_return ResultResponse<TenantRecord>(r, 200, TenantView);
  }
  if (action == "settings") {
    Status s = OnlyFields(body.value(), {"unsubscribe", "retention_days"});
    if (!s.ok()) co_return ProblemResponse(s.error());
    std::optional<int> retention;
    if (const json::value* v = body.value().if_contains("retention_days")) {
      if (v->is_null()) {
        retention = 0;
      } else if (!v->is_int64() || v->as_int64() < 1 || v->as_int64() > 3650) {
        co_return ProblemResponse(MakeError(
            Code::kInvalidValue, "retention_days must be 1 to 3650, or null for the default",
            "retention_days"));
      } else {
        retention = static_cast<int>(v->as_int64());
      }
    }
    const bool set_unsubscribe = body.value().contains("unsubscribe") || !retention;
    Unsubscribe u;
    if (const json::value* v = body.value().if_contains("unsubscribe"); v && !v->is_null()) {
      if (!v->is_object()) {
        co_return ProblemResponse(MakeError(Code::kInvalidType,
                                            "unsubscribe must be an object {url, mailto} or null",
                                            "unsubscribe"));
      }
      for (const auto& kv : v->get_object()) {
        if ((kv.key() != "url" && kv.key() != "mailto") || !kv.value().is_string()) {
          co_return ProblemResponse(MakeError(Code::kInvalidValue,
                                              "unsubscribe has only url and mailto, strings",
                                              "unsubscribe." + std::string(kv.key())));
        }
        (kv.key() == "url" ? u.url : u.mailto) = std::string(kv.value().get_string());
      }
      Status c = CheckUnsubscribe(u, "unsubscribe");
      if (!c.ok()) co_return ProblemResponse(c.error());
    }
    auto set = [&tenants, &id, &u, set_unsubscribe, retention]() -> Result<TenantRecord> {
      Result<TenantRecord> r = MakeError(Code::kNotFound, "no such tenant");
      if (set_unsubscribe) {
        r = tenants.SetUnsubscribe(id, u.url, u.mailto);
        if (!r.ok()) return r;
      }
      if (retention) r = tenants.SetRetentionDays(id, *retention);
      return r;
    };
    Result<TenantRecord> r = co_await RunBlocking<Result<TenantRecord>>(ctx.blocking, set);
    co_return ResultResponse<TenantRecord>(r, 200, TenantView);
  }
  if (action == "pause" || action == "resume") {
    Status s = OnlyFields(body.value(), {});
    if (!s.ok()) co_return ProblemResponse(s.error());
    bool pause = action == "pause";
    auto set = [&tenants, &id, pause] { return tenants.SetPaused(id, pause); };
    Result<TenantRecord> r = co_await RunBlocking<Result<TenantRecord>>(ctx.blocking, set);
    if (r.ok()) {
      log::Info(pause ? "tenant.paused" : "tenant.resumed", {{"tenant", id}});
      if (!pause) ctx.on_tenant_resumed(id);
      ctx.on_tenant_changed(id);
    }
    co_return ResultResponse<TenantRecord>(r, 200, TenantView);
  }
  if (action == "disable" || action == "enable") {
    Status s = OnlyFields(body.value(), {});
    if (!s.ok()) co_return ProblemResponse(s.error());
    bool disable = action == "disable";
    auto set = [&tenants, &id, disable] { return tenants.SetDisabled(id, disable); };
    Result<TenantRecord> r = co_await RunBlocking<Result<TenantRecord>>(ctx.blocking, set);
    if (r.ok()) log::Info(disable ? "tenant.disabled" : "tenant.enabled", {{"tenant", id}});
    co_return ResultResponse<TenantRecord>(r, 200, TenantView);
  }
  co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
}

}  // namespace mp
