// Webhook endpoints of the authenticated tenant (its API key):
//   GET    /v1/webhooks                          list
//   POST   /v1/webhooks {url, event_types?, description?, batch_size?, secret?}   create (201;
//          the answer shows the secret, the only time it is shown besides a rotation)
//   GET    /v1/webhooks/{id}                     endpoint and delivery state
//   PATCH  /v1/webhooks/{id} {url?, event_types?, description?, batch_size?}
//   DELETE /v1/webhooks/{id}
//   POST   /v1/webhooks/{id}/enable {cursor? | since?}   enable (again), optionally from a position
//   POST   /v1/webhooks/{id}/disable
//   POST   /v1/webhooks/{id}/replay {cursor | since}     send again everything after a position
//   POST   /v1/webhooks/{id}/rotate-secret {keep_old_seconds?}  new secret; old ones sign on for
//          keep_old_seconds (default 86400)
#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "api/admin_util.h"
#include "api/handlers.h"
#include "api/problem.h"
#include "core/clock.h"
#include "events/webhook_service.h"
#include "store/event_log.h"

namespace mp {
namespace asio = boost::asio;
namespace json = boost::json;
using events::WebhookChange;
using events::WebhookView;

namespace {

json::value TimeOrNull(int64_t ms) { return ms ? json::value(FormatRfc3339(ms)) : nullptr; }
json::value StrOrNull(const std::string& s) {
  return s.empty() ? json::value(nullptr) : json::value(s);
}

json::object View(const WebhookView& v, bool with_secret) {
  const auto& e = v.endpoint;
  const auto& s = v.state;
  json::array types;
  for (const auto& t : e.event_types) types.emplace_back(t);
  json::object o{{"id", e.id},
                 {"url", e.url},
                 {"description", e.description},
                 {"event_types", std::move(types)},
                 {"batch_size", e.batch_size ? json::value(e.batch_size) : nullptr},
                 {"enabled", s.enabled},
                 {"disabled_reason", StrOrNull(s.disabled_reason)},
                 {"disabled_at", TimeOrNull(s.disabled_ms)},
                 {"created_at", FormatRfc3339(e.created_ms)},
                 {"updated_at", FormatRfc3339(e.updated_ms)}};
  o["delivery"] =
      json::object{{"cursor", s.cursor},
                   {"failures", s.failures},
                   {"failing_since", TimeOrNull(s.failing_since_ms)},
                   {"next_attempt_at", TimeOrNull(s.next_attempt_ms)},
                   {"last_status", s.last_status ? json::value(s.last_status) : nullptr},
                   {"last_error", StrOrNull(s.last_error)},
                   {"last_attempt_at", TimeOrNull(s.last_attempt_ms)},
                   {"last_success_at", TimeOrNull(s.last_success_ms)},
                   {"events_delivered", s.events_delivered},
                   {"requests_ok", s.requests_ok},
                   {"requests_failed", s.requests_failed}};
  if (with_secret && !e.secrets.empty()) o["secret"] = e.secrets.front().value;
  o["secrets_active"] = e.secrets.size();
  return o;
}

HttpResponse ViewResponse(int status, const Result<WebhookView>& r, bool with_secret) {
  if (!r.ok()) return ProblemResponse(r.error());
  return JsonResponse(status, json::serialize(View(r.value(), with_secret)));
}

// The fields of a create or update body.
Result<WebhookChange> ParseChange(const json::object& o) {
  WebhookChange c;
  if (const json::value* v = o.if_contains("url")) {
    if (!v->is_string()) return MakeError(Code::kInvalidValue, "url must be a string", "url");
    c.url = std::string(v->as_string());
  }
  if (const json::value* v = o.if_contains("description")) {
    if (!v->is_string()) {
      return MakeError(Code::kInvalidValue, "description must be a string", "description");
    }
    c.description = std::string(v->as_string());
  }
  if (const json::value* v = o.if_contains("event_types")) {
    if (!v->is_array()) {
      return MakeError(Code::kInvalidValue, "event_types must be an array of event type names",
                       "event_types");
    }
    std::vector<std::string> types;
    for (const json::value& t : v->as_array()) {
      if (!t.is_string()) {
        return MakeError(Code::kInvalidValue, "event_types must be an array of strings",
                         "event_types");
      }
      types.emplace_back(t.as_string());
    }
    c.event_types = std::move(types);
  }
  if (const json::value* v = o.if_contains("batch_size")) {
    if (!v->is_int64()) {
      return MakeError(Code::kInvalidValue, "batch_size must be an integer", "batch_size");
    }
    int64_t n = v->as_int64();
    c.batch_size = static_cast<int>(std::clamp<int64_t>(n, -1, 1'000'000));
  }
  return c;
}

// A stream position from {cursor} or {since: RFC 3339 time}; "" when neither is there.
Result<std::string> ParsePosition(const json::object& o) {
  const json::value* cursor = o.if_contains("cursor");
  const json::value* since = o.if_contains("since");
  if (cursor && since) {
    return MakeError(Code::kInvalidValue, "give cursor or since, not both", "cursor");
  }
  if (cursor) {
    if (!cursor->is_string()) {
      return MakeError(Code::kInvalidValue, "cursor must be a string", "cursor");
    }
    return std::string(cursor->as_string());
  }
  if (since) {
    if (!since->is_string()) {
      return MakeError(Code::kInvalidValue, "since must be an RFC 3339 time", "since");
    }
    int64_t ms = 0;
    if (!ParseRfc3339(std::string_view(since->as_string()), &ms)) {
      return MakeError(Code::kInvalidValue, "since must be an RFC 3339 time", "since");
    }
    return EventCursorAt(ms);
  }
  return std::string();
}

}  // namespace

asio::awaitable<HttpResponse> HandleWebhooks(ApiContext& ctx, HttpRequest& req,
                                             const std::string& tenant) {
  if (!ctx.webhooks) co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
  events::WebhookService& service = *ctx.webhooks;
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (p == "/v1/webhooks") {
    if (m == "GET") {
      json::array items;
      for (const WebhookView& v : service.List(tenant)) items.push_back(View(v, false));
      co_return JsonResponse(200, json::serialize(json::object{{"webhooks", std::move(items)}}));
    }
    if (m != "POST") co_return MethodNotAllowed("GET, POST");
    Status st1 = RequireJson(req);
    if (!st1.ok()) co_return ProblemResponse(st1.error());
    auto body = BodyObject(req);
    if (!body.ok()) co_return ProblemResponse(body.error());
    Status st2 =
        OnlyFields(body.value(), {"url", "event_types", "description", "batch_size", "secret"});
    if (!st2.ok()) co_return ProblemResponse(st2.error());
    auto change = ParseChange(body.value());
    if (!change.ok()) co_return ProblemResponse(change.error());
    std::string secret;
    if (const json::value* v = body.value().if_contains("secret")) {
      if (!v->is_string()) {
        co_return ProblemResponse(
            MakeError(Code::kInvalidValue, "secret must be a whsec_ string", "secret"));
      }
      secret = std::string(v->as_string());
    }
    auto fn = [&] { return service.Create(tenant, change.value(), secret); };
    Result<WebhookView> r = co_await RunBlocking<Result<WebhookView>>(ctx.blocking, fn);
    co_return ViewResponse(201, r, true);
  }

  std::string_view rest = std::string_view(p).substr(std::string_view("/v1/webhooks/").size());
  std::string id(rest.substr(0, rest.find('/')));
  std::string_view action =
      rest.find('/') == std::string_view::npos ? "" : rest.substr(rest.find('/') + 1);
  if (id.empty()) co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));

  if (action.empty()) {
    if (m == "GET") co_return ViewResponse(200, service.Get(tenant, id), false);
    if (m == "DELETE") {
      auto fn = [&] { return service.Delete(tenant, id); };
      Status s = co_await RunBlocking<Status>(ctx.blocking, fn);
      if (!s.ok()) co_return ProblemResponse(s.error());
      HttpResponse r;
      r.status = 204;
      co_return r;
    }
    if (m != "PATCH") co_return MethodNotAllowed("GET, PATCH, DELETE");
    Status st3 = RequireJson(req);
    if (!st3.ok()) co_return ProblemResponse(st3.error());
    auto body = BodyObject(req);
    if (!body.ok()) co_return ProblemResponse(body.error());
    Status st4 = OnlyFields(body.value(), {"url", "event_types", "description", "batch_size"});
    if (!st4.ok()) co_return ProblemResponse(st4.error());
    auto change = ParseChange(body.value());
    if (!change.ok()) co_return ProblemResponse(change.error());
    auto fn = [&] { return service.Update(tenant, id, change.value()); };
    Result<WebhookView> r = co_await RunBlocking<Result<WebhookView>>(ctx.blocking, fn);
    co_return ViewResponse(200, r, false);
  }

  if (action != "enable" && action != "disable" && action != "replay" &&
      action != "rotate-secret") {
    co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
  }
  if (m != "POST") co_return MethodNotAllowed("POST");
  auto body = BodyObject(req);
  if (!body.ok()) co_return ProblemResponse(body.error());
  const json::object& o = body.value();
  if (action == "disable") {
    Status st5 = OnlyFields(o, {});
    if (!st5.ok()) co_return ProblemResponse(st5.error());
    auto fn = [&] { return service.Disable(tenant, id); };
    Result<WebhookView> r = co_await RunBlocking<Result<WebhookView>>(ctx.blocking, fn);
    co_return ViewResponse(200, r, false);
  }
  if (action == "rotate-secret") {
    Status st6 = OnlyFields(o, {"keep_old_seconds"});
    if (!st6.ok()) co_return ProblemResponse(st6.error());
    int64_t keep = 86400;
    if (const json::value* v = o.if_contains("keep_old_seconds")) {
      if (!v->is_int64() || v->as_int64() < 0 || v->as_int64() > 30 * 86400) {
        co_return ProblemResponse(MakeError(Code::kInvalidValue,
                                            "keep_old_seconds must be 0 to 2592000 (30 days)",
                                            "keep_old_seconds"));
      }
      keep = v->as_int64();
    }
    auto fn = [&] { return service.RotateSecret(tenant, id, keep * 1000); };
    Result<WebhookView> r = co_await RunBlocking<Result<WebhookView>>(ctx.blocking, fn);
    co_return ViewResponse(200, r, true);
  }
  Status st7 = OnlyFields(o, {"cursor", "since"});
  if (!st7.ok()) co_return ProblemResponse(st7.error());
  auto position = ParsePosition(o);
  if (!position.ok()) co_return ProblemResponse(position.error());
  if (action == "replay" && position.value().empty()) {
    co_return ProblemResponse(
        MakeError(Code::kInvalidValue, "replay needs a cursor or a since time", "cursor"));
  }
  const std::string& pos = position.value();
  auto fn = [&] {
    return action == "replay" ? service.Replay(tenant, id, pos) : service.Enable(tenant, id, pos);
  };
  Result<WebhookView> r = co_await RunBlocking<Result<WebhookView>>(ctx.blocking, fn);
  co_return ViewResponse(200, r, false);
}

}  // namespace mp
