// Events of the authenticated tenant:
//   GET /v1/messages/{id}/events                          a message's timeline, oldest first
//   GET /v1/events?type=&since=&until=&limit=&cursor=     the tenant's stream, oldest first;
//       with `Accept: application/x-ndjson` (or format=ndjson) one event per line, up to 100,000
//       a request, the next cursor in the Mailplane-Next-Cursor header (an export)
#include <algorithm>
#include <boost/json.hpp>

#include "api/admin_util.h"
#include "api/handlers.h"
#include "api/problem.h"
#include "core/clock.h"
#include "store/event_log.h"
#include "store/spool.h"

namespace mp {
namespace json = boost::json;

namespace {

Result<int64_t> TimeParam(const HttpRequest& req, const char* name) {
  auto v = QueryParam(req.query, name);
  if (!v || v->empty()) return int64_t{0};
  int64_t ms = 0;
  if (!ParseRfc3339(*v, &ms) || ms < 0) {
    return MakeError(Code::kInvalidValue,
                     std::string(name) + " must be an RFC 3339 time like 2026-11-25T10:00:00Z",
                     name);
  }
  return ms;
}

}  // namespace

HttpResponse GetMessageEvents(ApiContext& ctx, const std::string& tenant_id, std::string_view id) {
  auto mid = MessageId::Parse(id);
  if (!mid) return ProblemResponse(MakeError(Code::kNotFound, "no such message"));
  auto env = ReadEnvelope(ctx.kv, *mid);
  if (!env.ok()) return ProblemResponse(env.error());
  if (!env.value() || env.value()->tenant_id != tenant_id) {
    return ProblemResponse(MakeError(Code::kNotFound, "no such message"));
  }
  auto events = ReadMessageEvents(ctx.kv, *mid);
  if (!events.ok()) return ProblemResponse(events.error());
  std::string body = "{\"message_id\":\"" + mid->ToString() + "\",\"events\":[";
  bool first = true;
  for (const Event& e : events.value()) {
    if (e.tenant != tenant_id) continue;
    if (!first) body.push_back(',');
    first = false;
    body += EventJson(e);
  }
  body += "]}";
  return JsonResponse(200, std::move(body));
}

HttpResponse ListEvents(ApiContext& ctx, const HttpRequest& req, const std::string& tenant_id) {
  std::string type = QueryParam(req.query, "type").value_or("");
  if (!type.empty() && !IsEventType(type)) {
    std::string all;
    for (std::string_view t : kEventTypes) {
      if (!all.empty()) all += ", ";
      all += t;
    }
    return ProblemResponse(MakeError(Code::kInvalidValue, "type must be one of " + all, "type"));
  }
  auto since = TimeParam(req, "since");
  if (!since.ok()) return ProblemResponse(since.error());
  auto until = TimeParam(req, "until");
  if (!until.ok()) return ProblemResponse(until.error());
  bool ndjson = req.Header("accept").find("application/x-ndjson") != std::string_view::npos ||
                QueryParam(req.query, "format").value_or("") == "ndjson";
  size_t max_limit = ndjson ? 100000 : 1000;
  size_t limit = ndjson ? 10000 : 100;
  if (auto l = QueryParam(req.query, "limit")) {
    char* end = nullptr;
    long v = std::strtol(l->c_str(), &end, 10);
    if (l->empty() || *end || v < 1 || static_cast<size_t>(v) > max_limit) {
      return ProblemResponse(
          MakeError(Code::kInvalidValue,
                    "limit must be an integer from 1 to " + std::to_string(max_limit), "limit"));
    }
    limit = static_cast<size_t>(v);
  }
  std::string cursor = QueryParam(req.query, "cursor").value_or("");
  auto page =
      ReadTenantEvents(ctx.kv, tenant_id, since.value(), until.value(), cursor, type, limit);
  if (!page.ok()) return ProblemResponse(page.error());
  HttpResponse r;
  r.status = 200;
  if (ndjson) {
    r.content_type = "application/x-ndjson";
    for (const Event& e : page.value().events) {
      r.body += EventJson(e);
      r.body.push_back('\n');
    }
    if (!page.value().next_cursor.empty()) {
      r.headers.emplace_back("Mailplane-Next-Cursor", page.value().next_cursor);
    }
    return r;
  }
  r.body = "{\"events\":[";
  bool first = true;
  for (const Event& e : page.value().events) {
    if (!first) r.body.push_back(',');
    first = false;
    r.body += EventJson(e);
  }
  r.body += "],\"next_cursor\":";
  r.body += page.value().next_cursor.empty() ? "null" : "\"" + page.value().next_cursor + "\"";
  r.body += "}";
  return r;
}

}  // namespace mp
