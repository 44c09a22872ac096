#include "api/api.h"

#include <map>

#include "api/admin_util.h"
#include "api/handlers.h"
#include "api/problem.h"
#include "core/metrics.h"
#include "ingest/tenants.h"

namespace mp {
namespace asio = boost::asio;

namespace {

Counter& RequestCounter(const std::string& route, int status) {
  // Per-thread cache: the registry's lock and label strings are paid once per (route, status).
  thread_local std::map<std::pair<std::string, int>, Counter*> cache;
  Counter*& slot = cache[{route, status}];
  if (!slot) {
    slot = &Metrics::Global().GetCounter("mailplane_http_requests_total",
                                         "HTTP requests by route and status",
                                         {{"route", route}, {"status", std::to_string(status)}});
  }
  return *slot;
}

asio::awaitable<HttpResponse> Route(ApiContext& ctx, HttpRequest& req, std::string* route) {
  const std::string& p = req.path;
  const std::string& m = req.method;
  if ((p == "/healthz" || p == "/readyz" || p == "/metrics") && m != "GET" && m != "HEAD") {
    *route = p;
    co_return MethodNotAllowed("GET, HEAD");
  }
  if (p == "/healthz") {
    *route = p;
    co_return JsonResponse(200, "{\"status\":\"ok\"}");
  }
  if (p == "/readyz") {
    *route = p;
    if (ctx.draining.load()) {
      co_return ProblemResponse(MakeError(Code::kShuttingDown, "draining"));
    }
    co_return JsonResponse(200, "{\"status\":\"ready\"}");
  }
  if (p == "/metrics") {
    *route = p;
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = Metrics::Global().Render();
    co_return r;
  }
  if (p.rfind("/v1/admin/", 0) == 0) {
    *route = "/v1/admin";
    co_return co_await HandleAdmin(ctx, req);
  }
  bool domains = p == "/v1/domains" || p.rfind("/v1/domains/", 0) == 0;
  bool events = p == "/v1/events";
  bool webhooks = p == "/v1/webhooks" || p.rfind("/v1/webhooks/", 0) == 0;
  bool suppressions = p == "/v1/suppressions" || p.rfind("/v1/suppressions/", 0) == 0;
  bool reputation = p == "/v1/reputation";
  bool recipients = p.rfind("/v1/recipients/", 0) == 0;
  if (p.rfind("/v1/messages", 0) != 0 && !domains && !events && !webhooks && !suppressions &&
      !reputation && !recipients) {
    *route = "other";
    co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
  }

  // Everything under /v1/messages needs a tenant's key (already checked if the request had a body).
  if (req.tenant_id.empty()) {
    auto tenant = ctx.tenants.Authenticate(BearerToken(req));
    if (!tenant.ok()) {
      *route = "/v1/messages";
      co_return ProblemResponse(tenant.error());
    }
    req.tenant_id = std::move(tenant.value());
  }
  const std::string& tenant_id = req.tenant_id;
  if (events) {
    *route = p;
    if (m != "GET") co_return MethodNotAllowed("GET");
    // Store reads (up to 100,000 events for an export) run on the blocking pool, so a large
    // read never stalls the other connections of this I/O thread.
    auto list = [&ctx, &req, &tenant_id] { return ListEvents(ctx, req, tenant_id); };
    HttpResponse r = co_await RunBlocking<HttpResponse>(ctx.blocking, list);
    co_return r;
  }
  if (recipients) {
    *route = "/v1/recipients/{address}";
    if (m != "DELETE") co_return MethodNotAllowed("DELETE");
    std::string address;
    if (!PercentDecode(std::string_view(p).substr(15), &address)) {
      co_return ProblemResponse(
          MakeError(Code::kInvalidValue, "bad percent-encoding in the address", "address"));
    }
    HttpResponse r = co_await EraseRecipient(ctx, tenant_id, std::move(address));
    co_return r;
  }
  if (reputation) {
    *route = p;
    if (m != "GET") co_return MethodNotAllowed("GET");
    co_return GetReputation(ctx, tenant_id);
  }
  if (suppressions) {
    *route = "/v1/suppressions";
    HttpResponse r = co_await HandleSuppressions(ctx, req, tenant_id);
    co_return r;
  }
  if (webhooks) {
    *route = "/v1/webhooks";
    HttpResponse r = co_await HandleWebhooks(ctx, req, tenant_id);
    co_return r;
  }
  if (domains) {
    *route = "/v1/domains";
    HttpResponse r = co_await HandleDomains(ctx, req, tenant_id);
    co_return r;
  }
  if (p == "/v1/messages") {
    *route = p;
    if (m == "GET") {
      auto list = [&ctx, &req, &tenant_id] { return ListMessages(ctx, req, tenant_id); };
      HttpResponse r = co_await RunBlocking<HttpResponse>(ctx.blocking, list);
      co_return r;
    }
    if (m != "POST") co_return MethodNotAllowed("GET, POST");
    co_return co_await SubmitMessage(ctx, req, tenant_id);
  }
  if (p == "/v1/messages/batch") {
    *route = p;
    if (m != "POST") co_return MethodNotAllowed("POST");
    co_return co_await SubmitBatch(ctx, req, tenant_id);
  }
  std::string_view rest = std::string_view(p).substr(std::string_view("/v1/messages/").size());
  if (p.size() > 13 && p[12] == '/') {
    if (rest.size() > 7 && rest.substr(rest.size() - 7) == "/events") {
      *route = "/v1/messages/{id}/events";
      if (m != "GET") co_return MethodNotAllowed("GET");
      std::string_view id = rest.substr(0, rest.size() - 7);
      auto timeline = [&ctx, &tenant_id, id] { return GetMessageEvents(ctx, tenant_id, id); };
      HttpResponse r = co_await RunBlocking<HttpResponse>(ctx.blocking, timeline);
      co_return r;
    }
    if (rest.size() > 12 && rest.substr(rest.size() - 12) == "/unsubscribe") {
      *route = "/v1/messages/{id}/unsubscribe";
      if (m != "POST") co_return MethodNotAllowed("POST");
      HttpResponse r =
          co_await ReportUnsubscribe(ctx, req, tenant_id, rest.substr(0, rest.size() - 12));
      co_return r;
    }
    if (rest.size() > 4 && rest.substr(rest.size() - 4) == "/raw") {
      *route = "/v1/messages/{id}/raw";
      if (m != "GET") co_return MethodNotAllowed("GET");
      co_return GetRawMessage(ctx, tenant_id, rest.substr(0, rest.size() - 4));
    }
    if (rest.find('/') == std::string_view::npos) {
      *route = "/v1/messages/{id}";
      if (m == "GET") co_return GetMessage(ctx, tenant_id, rest);
      if (m == "DELETE") co_return co_await DeleteMessage(ctx, req, tenant_id, rest);
      co_return MethodNotAllowed("GET, DELETE");
    }
  }
  *route = "other";
  co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
}

}  // namespace

std::optional<HttpResponse> PrecheckRequest(ApiContext& ctx, HttpRequest& req) {
  std::optional<HttpResponse> refused;
  const std::string& p = req.path;
  if (p.rfind("/v1/admin/", 0) == 0) {
    if (ctx.config.admin.token.empty()) {
      refused = ProblemResponse(
          MakeError(Code::kNotFound, "the admin API is disabled (set admin.token to enable it)"));
    } else if (!AdminAuthorized(ctx, req)) {
      refused = ProblemResponse(MakeError(Code::kUnauthorized, "missing or invalid admin token"));
    }
  } else if (p.rfind("/v1/messages", 0) == 0 || p.rfind("/v1/domains", 0) == 0 ||
             p == "/v1/events" || p.rfind("/v1/webhooks", 0) == 0 ||
             p.rfind("/v1/suppressions", 0) == 0 || p == "/v1/reputation" ||
             p.rfind("/v1/recipients/", 0) == 0) {
    auto tenant = ctx.tenants.Authenticate(BearerToken(req));
    if (tenant.ok()) {
      req.tenant_id = std::move(tenant.value());
    } else {
      refused = ProblemResponse(tenant.error());
    }
  }
  if (refused) {
    RequestCounter("refused_before_body", refused->status).Inc();
  }
  return refused;
}

asio::awaitable<HttpResponse> HandleRequest(ApiContext& ctx, HttpRequest& req) {
  std::string route;
  HttpResponse r = co_await Route(ctx, req, &route);
  RequestCounter(route, r.status).Inc();
  co_return r;
}

HttpResponse MethodNotAllowed(std::string allow) {
  HttpResponse r =
      ProblemResponse(MakeError(Code::kMethodNotAllowed, "this route allows only " + allow));
  r.headers.emplace_back("Allow", std::move(allow));
  return r;
}

std::string_view BearerToken(const HttpRequest& req) {
  std::string_view auth = req.Header("authorization");
  if (auth.size() < 7) return {};
  // The scheme is case-insensitive (RFC 9110 section 11.1).
  static constexpr std::string_view kScheme = "bearer ";
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(auth[i])) != kScheme[i]) return {};
  }
  std::string_view token = auth.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Status RequireJson(const HttpRequest& req) {
  std::string_view ct = req.Header("content-type");
  std::string_view base = ct.substr(0, ct.find(';'));
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  std::string lower(base);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower != "application/json") {
    return MakeError(Code::kUnsupportedMediaType, "Content-Type must be application/json",
                     "Content-Type");
  }
  return Status::Ok();
}

}  // namespace mp
