// Sending domains of the authenticated tenant (its API key):
//   GET    /v1/domains                 list
//   POST   /v1/domains {domain}        register: DKIM keys generated, DNS records to publish (201)
//   GET    /v1/domains/{domain}        state and DNS records
//   POST   /v1/domains/{domain}/verify check the DNS records now
//   POST   /v1/domains/{domain}/rotate new DKIM keys, used once their records are published
//   DELETE /v1/domains/{domain}
#include "ingest/domains.h"

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

namespace {

std::vector<std::string> EgressAddresses(ApiContext& ctx) {
  std::vector<std::string> out;
  if (!ctx.egress) return out;
  for (const auto& [name, s] : ctx.egress->Current()->sources) {
    if (!s.relay && !s.bind.empty()) out.push_back(s.bind);
  }
  return out;
}

json::object View(ApiContext& ctx, const DomainRecord& d) {
  json::array keys, records;
  for (const DomainKey& k : d.keys) {
    keys.push_back(json::object{{"selector", k.selector},
                                {"algorithm", dkim::AlgorithmName(k.algorithm)},
                                {"state", k.state},
                                {"published", k.published},
                                {"created_at", FormatRfc3339(k.created_ms)}});
  }
  for (const auto& r : ctx.domains->Records(d, EgressAddresses(ctx))) {
    records.push_back(json::object{{"type", r.type},
                                   {"name", r.name},
                                   {"value", r.value},
                                   {"purpose", r.purpose},
                                   {"status", r.status}});
  }
  json::object o{{"domain", d.domain},
                 {"verified", d.verified},
                 {"created_at", FormatRfc3339(d.created_ms)},
                 {"keys", std::move(keys)},
                 {"dns_records", std::move(records)}};
  o["checked_at"] = d.checked_ms ? json::value(FormatRfc3339(d.checked_ms)) : nullptr;
  o["last_error"] = d.last_error.empty() ? json::value(nullptr) : json::value(d.last_error);
  return o;
}

auto AwaitVerify(ApiContext& ctx, const std::string& tenant, const std::string& domain) {
  auto initiate = [&ctx, tenant, domain](auto handler) {
    using H = decltype(handler);
    auto h = std::make_shared<H>(std::move(handler));
    // The check ends with a store write: run it from the blocking pool, never an I/O thread.
    asio::post(ctx.blocking, [&ctx, tenant, domain, h] {
      ctx.domains->Verify(tenant, domain, ctx.lookup_txt, [h](Result<DomainRecord> r) {
        auto ex = asio::get_associated_executor(*h);
        asio::post(ex, [h, r = std::move(r)]() mutable { std::move (*h)(std::move(r)); });
      });
    });
  };
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result<DomainRecord>)>(
      initiate, asio::use_awaitable);
}

}  // namespace

asio::awaitable<HttpResponse> HandleDomains(ApiContext& ctx, HttpRequest& req,
                                            const std::string& tenant) {
  if (!ctx.domains) co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
  DomainService& domains = *ctx.domains;
  std::string_view p = req.path;
  const std::string& m = req.method;
  if (p == "/v1/domains") {
    if (m == "GET") {
      json::array list;
      for (const DomainRecord& d : domains.List(tenant)) list.push_back(View(ctx, d));
      co_return JsonResponse(200, json::serialize(json::object{{"domains", std::move(list)}}));
    }
    if (m != "POST") co_return MethodNotAllowed("GET, POST");
    auto body = BodyObject(req);
    if (!body.ok()) co_return ProblemResponse(body.error());
    Status s = OnlyFields(body.value(), {"domain"});
    if (!s.ok()) co_return ProblemResponse(s.error());
    const json::value* d = body.value().if_contains("domain");
    if (!d || !d->is_string()) {
      co_return ProblemResponse(
          MakeError(Code::kMissingField, "domain is required (a string)", "domain"));
    }
    std::string name(d->get_string());
    auto add = [&domains, &tenant, &name] { return domains.Add(tenant, name); };
    auto r = co_await RunBlocking<Result<DomainRecord>>(ctx.blocking, add);
    if (!r.ok()) co_return ProblemResponse(r.error());
    co_return JsonResponse(201, json::serialize(View(ctx, r.value())));
  }
  std::string_view rest = p.substr(std::string_view("/v1/domains/").size());
  size_t slash = rest.find('/');
  std::string domain(rest.substr(0, slash));
  std::string_view action = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (action.empty()) {
    if (m == "GET") {
      auto d = domains.Get(tenant, domain);
      if (!d) co_return ProblemResponse(MakeError(Code::kNotFound, "no such domain"));
      co_return JsonResponse(200, json::serialize(View(ctx, *d)));
    }
    if (m != "DELETE") co_return MethodNotAllowed("GET, DELETE");
    auto del = [&domains, &tenant, &domain] { return domains.Delete(tenant, domain); };
    Status s = co_await RunBlocking<Status>(ctx.blocking, del);
    if (!s.ok()) co_return ProblemResponse(s.error());
    HttpResponse r;
    r.status = 204;
    co_return r;
  }
  if (m != "POST") co_return MethodNotAllowed("POST");
  if (action == "verify") {
    if (!ctx.lookup_txt) {
      co_return ProblemResponse(MakeError(Code::kConflict, "no DNS resolver is configured"));
    }
    if (!domains.Get(tenant, domain)) {
      co_return ProblemResponse(MakeError(Code::kNotFound, "no such domain"));
    }
    Result<DomainRecord> r = co_await AwaitVerify(ctx, tenant, domain);
    if (!r.ok()) co_return ProblemResponse(r.error());
    co_return JsonResponse(200, json::serialize(View(ctx, r.value())));
  }
  if (action == "rotate") {
    auto rotate = [&domains, &tenant, &domain] { return domains.Rotate(tenant, domain); };
    auto r = co_await RunBlocking<Result<DomainRecord>>(ctx.blocking, rotate);
    if (!r.ok()) co_return ProblemResponse(r.error());
    co_return JsonResponse(200, json::serialize(View(ctx, r.value())));
  }
  co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
}

}  // namespace mp
