// Admin API for egress: sources, pools, routing rules, pool health. Behind admin.token.
//   GET    /v1/admin/egress                          the whole table and its version
//   GET    /v1/admin/egress/sources|pools            list
//   GET|PUT|DELETE /v1/admin/egress/sources/{name}   (PUT body: the source)
//   GET|PUT|DELETE /v1/admin/egress/pools/{name}
//   GET    /v1/admin/routes                          rules and the version
//   GET|PUT|DELETE /v1/admin/routes/{id}
//   GET    /v1/admin/routes/history?limit=&before=   changes, newest first
//   GET    /v1/admin/routes/resolve?tenant=&domain=  which rule applies and the weights in force
//   GET    /v1/admin/egress/health                   state per (site, pool), pins
//   POST   /v1/admin/egress/health/pin {pool, site, pin: in|out|auto}
//   GET    /v1/admin/egress/events?limit=            health transitions, newest first
// Changes name their actor with the X-Mailplane-Actor header (default "admin").
#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "api/admin_util.h"
#include "api/handlers.h"
#include "api/problem.h"
#include "core/clock.h"
#include "route/egress_service.h"

namespace mp {
namespace asio = boost::asio;
namespace json = boost::json;
using route::ItemKind;

namespace {

json::object TableView(const route::EgressTable& t) {
  json::array sources, pools, rules;
  for (const auto& [n, s] : t.sources) sources.push_back(route::ToJson(s, false));
  for (const auto& [n, p] : t.pools) pools.push_back(route::ToJson(p));
  for (const auto& [n, r] : t.rules) rules.push_back(route::ToJson(r));
  return json::object{{"version", t.version},
                      {"sources", std::move(sources)},
                      {"pools", std::move(pools)},
                      {"rules", std::move(rules)}};
}

json::value ParseOrString(const std::string& s) {
  if (s.empty()) return nullptr;
  boost::system::error_code ec;
  json::value v = json::parse(s, ec);
  if (ec) return json::value(s);
  // Secrets stay in the store; the history shows that they changed, not what they are.
  if (v.is_object()) {
    if (auto* pw = v.get_object().if_contains("auth_password")) *pw = "********";
  }
  return v;
}

json::object HealthJson(const route::HealthView& v) {
  json::object o{{"site", v.site},
                 {"pool", v.pool},
                 {"state", route::HealthStateName(v.state)},
                 {"pin", route::PinName(v.pin)},
                 {"outcomes", v.total},
                 {"bad", v.bad}};
  o["quarantined_until"] = v.until_ms ? json::value(FormatRfc3339(v.until_ms)) : nullptr;
  if (v.state == route::HealthState::kProbing) {
    o["probes_sent"] = v.probes_sent;
    o["probes_ok"] = v.probes_ok;
  }
  return o;
}

auto AwaitMx(ApiContext& ctx, const std::string& domain) {
  auto initiate = [&ctx, domain](auto handler) {
    using H = decltype(handler);
    auto h = std::make_shared<H>(std::move(handler));
    ctx.resolve_mx(domain, [h](MxAnswer a) {
      auto ex = asio::get_associated_executor(*h);
      asio::post(ex, [h, a = std::move(a)]() mutable { std::move (*h)(std::move(a)); });
    });
  };
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(MxAnswer)>(initiate,
                                                                              asio::use_awaitable);
}

std::string Actor(const HttpRequest& req) {
  std::string a(req.Header("x-mailplane-actor").substr(0, 128));
  for (char& c : a) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return a.empty() ? "admin" : a;
}

asio::awaitable<HttpResponse> Resolve(ApiContext& ctx, const HttpRequest& req) {
  route::EgressService& egress = *ctx.egress;
  std::string tenant = QueryParam(req.query, "tenant").value_or("");
  std::string domain = QueryParam(req.query, "domain").value_or("");
  for (char& c : domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (domain.empty() || domain.size() > 253) {
    co_return ProblemResponse(
        MakeError(Code::kMissingField, "domain is required (?domain=example.com)", "domain"));
  }
  if (tenant.empty()) tenant = "*";
  json::object out{{"tenant", tenant}, {"domain", domain}};
  std::vector<std::string> mx;
  if (ctx.resolve_mx) {
    MxAnswer a = co_await AwaitMx(ctx, domain);
    json::array hosts;
    for (const auto& h : a.hosts) hosts.push_back(json::value(h));
    out["mx"] = std::move(hosts);
    if (!a.ok) out["mx_error"] = a.error;
    mx = std::move(a.hosts);
  } else {
    out["mx"] = nullptr;
    out["mx_error"] = "delivery is off: MX hosts not looked up, site rules not considered";
  }
  std::string site = route::SiteName(mx);
  out["site"] = site;
  std::shared_ptr<const route::EgressTable> t = egress.Current();
  out["version"] = t->version;
  route::EgressTable::Match m = t->Resolve(tenant, domain, mx);
  if (!m.rule) {
    out["rule"] = nullptr;
    co_return JsonResponse(200, json::serialize(out));
  }
  out["rule"] = route::ToJson(*m.rule);
  out["why"] = m.why;
  json::array pools;
  int total = 0;
  std::vector<bool> usable;
  for (const WeightedName& p : m.rule->pools) {
    bool ok = p.weight > 0 && egress.Health().Eligible(site, p.name);
    usable.push_back(ok);
    if (ok) total += p.weight;
  }
  for (size_t i = 0; i < m.rule->pools.size(); ++i) {
    const WeightedName& p = m.rule->pools[i];
    route::HealthView h = egress.Health().View(site, p.name);
    json::object po{{"pool", p.name},
                    {"weight", p.weight},
                    {"state", route::HealthStateName(h.state)},
                    {"pin", route::PinName(h.pin)},
                    {"eligible", static_cast<bool>(usable[i])}};
    po["effective_share"] = usable[i] && total > 0 ? static_cast<double>(p.weight) / total : 0.0;
    auto pool = t->pools.find(p.name);
    if (pool != t->pools.end()) {
      json::object sources;
      for (const WeightedName& s : pool->second.sources) sources[s.name] = s.weight;
      po["sources"] = std::move(sources);
    }
    pools.push_back(std::move(po));
  }
  out["pools"] = std::move(pools);
  out["all_quarantined"] = total == 0;
  co_return JsonResponse(200, json::serialize(out));
}

// One item: GET, PUT (create or replace), DELETE.
asio::awaitable<HttpResponse> Item(ApiContext& ctx, HttpRequest& req, ItemKind kind,
                                   const std::string& name) {
  route::EgressService& egress = *ctx.egress;
  const std::string& m = req.method;
  if (m == "GET") {
    std::shared_ptr<const route::EgressTable> t = egress.Current();
    json::object o;
    bool found = false;
    if (kind == ItemKind::kSource) {
      if (auto it = t->sources.find(name); it != t->sources.end()) {
        o = route::ToJson(it->second, false);
        found = true;
      }
    } else if (kind == ItemKind::kPool) {
      if (auto it = t->pools.find(name); it != t->pools.end()) {
        o = route::ToJson(it->second);
        found = true;
      }
    } else if (auto it = t->rules.find(name); it != t->rules.end()) {
      o = route::ToJson(it->second);
      found = true;
    }
    if (!found) {
      co_return ProblemResponse(
          MakeError(Code::kNotFound, "no such " + std::string(route::ItemKindName(kind))));
    }
    o["version"] = t->version;
    co_return JsonResponse(200, json::serialize(o));
  }
  if (m != "PUT" && m != "DELETE") co_return MethodNotAllowed("GET, PUT, DELETE");
  std::string actor = Actor(req);
  Result<uint64_t> r = MakeError(Code::kInternal, "unset");
  if (m == "PUT") {
    Status s = RequireJson(req);
    if (!s.ok()) co_return ProblemResponse(s.error());
    // The name in the path is the item's name; a body that names another is a mistake.
    boost::system::error_code ec;
    json::value body = json::parse(req.body, ec);
    if (ec) {
      co_return ProblemResponse(
          MakeError(Code::kInvalidJson, "request body is not valid JSON: " + ec.message()));
    }
    if (body.is_object()) {
      const char* key = kind == ItemKind::kRule ? "id" : "name";
      if (const json::value* n = body.get_object().if_contains(key)) {
        if (!n->is_string() || n->get_string() != name) {
          co_return ProblemResponse(MakeError(
              Code::kInvalidValue, std::string(key) + " must match the path (" + name + ")", key));
        }
      }
    }
    std::string text = req.body;
    auto put = [&egress, kind, &name, &text, &actor] {
      return egress.Put(kind, name, text, actor);
    };
    r = co_await RunBlocking<Result<uint64_t>>(ctx.blocking, put);
  } else {
    auto del = [&egress, kind, &name, &actor] { return egress.Delete(kind, name, actor); };
    r = co_await RunBlocking<Result<uint64_t>>(ctx.blocking, del);
  }
  if (!r.ok()) co_return ProblemResponse(r.error());
  json::object out{{"version", r.value()},
                   {"kind", route::ItemKindName(kind)},
                   {"name", name},
                   {"deleted", m == "DELETE"}};
  co_return JsonResponse(200, json::serialize(out));
}

asio::awaitable<HttpResponse> History(ApiContext& ctx, const HttpRequest& req) {
  size_t limit = 50;
  uint64_t before = 0;
  if (auto l = QueryParam(req.query, "limit")) {
    char* end = nullptr;
    long v = std::strtol(l->c_str(), &end, 10);
    if (l->empty() || *end || v < 1 || v > 1000) {
      co_return ProblemResponse(
          MakeError(Code::kInvalidValue, "limit must be an integer from 1 to 1000", "limit"));
    }
    limit = static_cast<size_t>(v);
  }
  if (auto b = QueryParam(req.query, "before")) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(b->c_str(), &end, 10);
    if (b->empty() || *end || v < 1) {
      co_return ProblemResponse(
          MakeError(Code::kInvalidValue, "before must be a positive version number", "before"));
    }
    before = v;
  }
  route::EgressService& egress = *ctx.egress;
  auto read = [&egress, before, limit] { return egress.History(before, limit); };
  auto r = co_await RunBlocking<Result<std::vector<route::Change>>>(ctx.blocking, read);
  if (!r.ok()) co_return ProblemResponse(r.error());
  json::array changes;
  for (const route::Change& c : r.value()) {
    changes.push_back(json::object{{"version", c.version},
                                   {"at", FormatRfc3339(c.at_ms)},
                                   {"actor", c.actor},
                                   {"op", c.op},
                                   {"kind", route::ItemKindName(c.kind)},
                                   {"name", c.name},
                                   {"before", ParseOrString(c.before)},
                                   {"after", ParseOrString(c.after)}});
  }
  co_return JsonResponse(200, json::serialize(json::object{{"changes", std::move(changes)}}));
}

HttpResponse Pin(ApiContext& ctx, const HttpRequest& req) {
  auto body = BodyObject(req);
  if (!body.ok()) return ProblemResponse(body.error());
  Status s = OnlyFields(body.value(), {"pool", "site", "pin"});
  if (!s.ok()) return ProblemResponse(s.error());
  const json::object& o = body.value();
  auto str = [&o](const char* k) -> std::string {
    const json::value* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  std::string pool = str("pool"), site = str("site"), pin = str("pin");
  if (site.empty()) site = "*";
  if (!ctx.egress->Current()->pools.count(pool)) {
    return ProblemResponse(
        MakeError(Code::kInvalidValue, "pool must name an existing pool", "pool"));
  }
  if (site != "*" && (site.rfind("mx:", 0) != 0 || site.size() > 2048)) {
    return ProblemResponse(MakeError(Code::kInvalidValue,
                                     "site must be \"*\" or a site name like mx:aspmx.l.google.com",
                                     "site"));
  }
  route::Pin p;
  if (pin == "in") {
    p = route::Pin::kIn;
  } else if (pin == "out") {
    p = route::Pin::kOut;
  } else if (pin == "auto") {
    p = route::Pin::kAuto;
  } else {
    return ProblemResponse(MakeError(Code::kInvalidValue, "pin must be in, out or auto", "pin"));
  }
  ctx.egress->Health().SetPin(site, pool, p);
  return JsonResponse(200, json::serialize(json::object{
                               {"pool", pool}, {"site", site}, {"pin", route::PinName(p)}}));
}

HttpResponse HealthList(ApiContext& ctx) {
  json::array states, pins;
  for (const route::HealthView& v : ctx.egress->Health().All()) states.push_back(HealthJson(v));
  for (const auto& p : ctx.egress->Health().Pins()) {
    pins.push_back(
        json::object{{"site", p.site}, {"pool", p.pool}, {"pin", route::PinName(p.pin)}});
  }
  return JsonResponse(
      200, json::serialize(json::object{{"states", std::move(states)}, {"pins", std::move(pins)}}));
}

HttpResponse Events(ApiContext& ctx, const HttpRequest& req) {
  size_t limit = 100;
  if (auto l = QueryParam(req.query, "limit")) {
    char* end = nullptr;
    long v = std::strtol(l->c_str(), &end, 10);
    if (l->empty() || *end || v < 1 || v > 1000) {
      return ProblemResponse(
          MakeError(Code::kInvalidValue, "limit must be an integer from 1 to 1000", "limit"));
    }
    limit = static_cast<size_t>(v);
  }
  json::array events;
  for (const route::HealthEvent& e : ctx.egress->Health().Events(limit)) {
    events.push_back(json::object{{"at", FormatRfc3339(e.at_ms)},
                                  {"site", e.site},
                                  {"pool", e.pool},
                                  {"from", e.from},
                                  {"to", e.to},
                                  {"reason", e.reason}});
  }
  return JsonResponse(200, json::serialize(json::object{{"events", std::move(events)}}));
}

}  // namespace

asio::awaitable<HttpResponse> HandleAdminEgress(ApiContext& ctx, HttpRequest& req) {
  if (!ctx.egress) co_return ProblemResponse(MakeError(Code::kNotFound, "egress is not set up"));
  std::string_view p = req.path;
  if (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  const std::string& m = req.method;
  auto only = [&m](const char* allow) -> std::optional<HttpResponse> {
    if (m != allow) return MethodNotAllowed(allow);
    return std::nullopt;
  };
  if (p == "/v1/admin/egress") {
    if (auto r = only("GET")) co_return *r;
    co_return JsonResponse(200, json::serialize(TableView(*ctx.egress->Current())));
  }
  if (p == "/v1/admin/egress/health") {
    if (auto r = only("GET")) co_return *r;
    co_return HealthList(ctx);
  }
  if (p == "/v1/admin/egress/health/pin") {
    if (auto r = only("POST")) co_return *r;
    co_return Pin(ctx, req);
  }
  if (p == "/v1/admin/egress/events") {
    if (auto r = only("GET")) co_return *r;
    co_return Events(ctx, req);
  }
  if (p == "/v1/admin/routes/resolve") {
    if (auto r = only("GET")) co_return *r;
    HttpResponse r = co_await Resolve(ctx, req);
    co_return r;
  }
  if (p == "/v1/admin/routes/history") {
    if (auto r = only("GET")) co_return *r;
    HttpResponse r = co_await History(ctx, req);
    co_return r;
  }
  struct Collection {
    std::string_view prefix;
    ItemKind kind;
    const char* list_key;
  };
  for (const Collection& c : {Collection{"/v1/admin/egress/sources", ItemKind::kSource, "sources"},
                              Collection{"/v1/admin/egress/pools", ItemKind::kPool, "pools"},
                              Collection{"/v1/admin/routes", ItemKind::kRule, "rules"}}) {
    if (p == c.prefix) {
      if (auto r = only("GET")) co_return *r;
      json::object all = TableView(*ctx.egress->Current());
      co_return JsonResponse(200, json::serialize(json::object{{"version", all["version"]},
                                                               {c.list_key, all[c.list_key]}}));
    }
    if (p.size() > c.prefix.size() + 1 && p.substr(0, c.prefix.size()) == c.prefix &&
        p[c.prefix.size()] == '/') {
      std::string name(p.substr(c.prefix.size() + 1));
      if (name.find('/') != std::string::npos) break;
      HttpResponse r = co_await Item(ctx, req, c.kind, name);
      co_return r;
    }
  }
  co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
}

}  // namespace mp
