// Suppression lists over HTTP (docs/suppression.md; storage in src/store/suppression.h).
// Tenant routes (its API key; its own list, and the global list where that applies to it):
//   GET    /v1/suppressions?address_prefix=&domain=&reason=&cursor=&limit=&include_expired=
//   GET    /v1/suppressions/{address}   the entry that stops mail to address: the tenant's own,
//                                       else the global one ("scope" says which), or 404
//   PUT    /v1/suppressions/{address} {reason?, expires_at?, detail?}   add or replace (201/200)
//   DELETE /v1/suppressions/{address}   the tenant's own entry (409 when only a global one exists)
//   POST   /v1/suppressions/import      text/csv body -> {imported, failed, errors: [{line,
//   message}]} GET    /v1/suppressions/export      text/csv, every entry (expired ones too) GET
//   /v1/suppressions/settings    PUT /v1/suppressions/settings {auto?, use_global?}
// Admin routes (admin token): the same under /v1/admin/suppressions, on the global list, or with
// ?tenant=<id> on that tenant's list; GET {address} there gives that list's own entry.
//
// SECURITY: every path, query, JSON body and CSV file is untrusted. Addresses are percent-decoded
// and normalized strictly before they become keys; a CSV import is bounded by the HTTP body
// limit and 100,000 rows and is parsed on the blocking pool; an export is capped at
// kMaxExportEntries entries; exported CSV carries the formula-injection guard of
// SuppressionCsvLine. A tenant reads and changes only its own list and reads global entries one
// address at a time (never lists the global list).
// Thread-safety: handlers run on I/O threads; writes and long scans run on ctx.blocking.
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <unordered_map>

#include "api/admin_util.h"
#include "api/handlers.h"
#include "api/problem.h"
#include "core/clock.h"
#include "ingest/tenants.h"
#include "store/suppression.h"

namespace mp {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// Entries (2 keys each) written per commit by an import: at most 1,000 keys a batch, so one
// import never holds up the group commit with one huge write.
constexpr size_t kImportEntriesPerCommit = 500;
constexpr size_t kMaxImportRows = 100000;
// Bad rows listed in an import's answer; "failed" counts them all.
constexpr size_t kMaxImportErrors = 1000;
// An export is built in memory: at most this many entries per request, the rest through the
// Mailplane-Next-Cursor header.
constexpr size_t kMaxExportEntries = 1000000;
constexpr int64_t kMaxDurationDays = 3650;

constexpr std::string_view kAutoReasons[] = {"invalid_recipient", "bad_domain", "inactive_mailbox",
                                             "complaint", "unsubscribe"};

// Whose list a request acts on.
struct Target {
  std::string scope;  // a tenant id or kGlobalScope
  bool admin = false;
};

HttpResponse NoContent() {
  HttpResponse r;
  r.status = 204;
  return r;
}

HttpResponse Json(int status, const json::value& v) {
  return JsonResponse(status, json::serialize(v));
}

json::value TimeOrNull(int64_t ms) { return ms ? json::value(FormatRfc3339(ms)) : nullptr; }
json::value StrOrNull(const std::string& s) {
  return s.empty() ? json::value(nullptr) : json::value(s);
}

json::object EntryView(const Suppression& s, int64_t now_ms) {
  return json::object{{"address", s.address},
                      {"scope", s.scope == kGlobalScope ? "global" : "tenant"},
                      {"reason", s.reason},
                      {"source", s.source},
                      {"created_at", FormatRfc3339(s.created_ms)},
                      {"expires_at", TimeOrNull(s.expires_ms)},
                      {"expired", s.expires_ms != 0 && s.expires_ms <= now_ms},
                      {"detail", s.detail},
                      {"message_id", StrOrNull(s.message_id)},
                      {"event_id", StrOrNull(s.event_id)}};
}

std::string ReasonList() {
  return "invalid_recipient, bad_domain, inactive_mailbox, complaint, unsubscribe, manual";
}

// The address of a /{address} path: percent-decoded ('+' stays '+', it is atext) and
// normalized.
Result<std::string> PathAddress(std::string_view raw) {
  std::string decoded;
  if (!PercentDecode(raw, &decoded)) {
    return MakeError(Code::kInvalidValue, "the address in the path has a bad %-escape", "address");
  }
  return NormalizeSuppressedAddress(decoded);
}

Result<bool> BoolParam(const HttpRequest& req, const char* name) {
  auto v = QueryParam(req.query, name);
  if (!v || v->empty() || *v == "false" || *v == "0") return false;
  if (*v == "true" || *v == "1") return true;
  return MakeError(Code::kInvalidValue, std::string(name) + " must be true or false", name);
}

Result<SuppressionQuery> ListQuery(const HttpRequest& req, const std::string& scope) {
  SuppressionQuery q{.scope = scope};
  q.address_prefix = QueryParam(req.query, "address_prefix").value_or("");
  q.domain = QueryParam(req.query, "domain").value_or("");
  q.reason = QueryParam(req.query, "reason").value_or("");
  q.cursor = QueryParam(req.query, "cursor").value_or("");
  if (!q.reason.empty() && !IsSuppressionReason(q.reason)) {
    return MakeError(Code::kInvalidValue, "reason must be one of " + ReasonList(), "reason");
  }
  if (auto l = QueryParam(req.query, "limit")) {
    char* end = nullptr;
    long v = std::strtol(l->c_str(), &end, 10);
    if (l->empty() || *end || v < 1 || static_cast<size_t>(v) > kMaxSuppressionPage) {
      return MakeError(Code::kInvalidValue, "limit must be an integer from 1 to 1000", "limit");
    }
    q.limit = static_cast<size_t>(v);
  }
  auto expired = BoolParam(req, "include_expired");
  if (!expired.ok()) return expired.error();
  q.include_expired = expired.value();
  return q;
}

// ---- Entries ----

struct PutOutcome {
  bool created = false;
  Suppression entry;
};

// The body of a PUT as an entry (scope, address and times filled by the caller).
Result<Suppression> ParseEntryBody(const HttpRequest& req, int64_t now_ms) {
  auto body = BodyObject(req);
  if (!body.ok()) return body.error();
  const json::object& o = body.value();
  Status s = OnlyFields(o, {"reason", "expires_at", "detail"});
  if (!s.ok()) return s.error();
  Suppression e;
  e.reason = "manual";
  if (const json::value* v = o.if_contains("reason")) {
    if (!v->is_string()) return MakeError(Code::kInvalidType, "reason must be a string", "reason");
    if (!IsSuppressionReason(v->get_string())) {
      return MakeError(Code::kInvalidValue, "reason must be one of " + ReasonList(), "reason");
    }
    e.reason = std::string(v->get_string());
  }
  if (const json::value* v = o.if_contains("expires_at"); v && !v->is_null()) {
    int64_t ms = 0;
    if (!v->is_string() || !ParseRfc3339(std::string_view(v->get_string()), &ms)) {
      return MakeError(Code::kInvalidValue,
                       "expires_at must be an RFC 3339 time like 2027-01-01T00:00:00Z, or null "
                       "for never",
                       "expires_at");
    }
    if (ms <= now_ms) {
      return MakeError(Code::kInvalidValue, "expires_at is not in the future", "expires_at");
    }
    if (ms > kMaxSuppressionExpiresMs) {
      return MakeError(Code::kInvalidValue, "expires_at is after 9999-12-31T23:59:59Z",
                       "expires_at");
    }
    e.expires_ms = ms;
  }
  if (const json::value* v = o.if_contains("detail")) {
    if (!v->is_string()) return MakeError(Code::kInvalidType, "detail must be a string", "detail");
    if (v->get_string().size() > kMaxSuppressionDetail) {
      return MakeError(Code::kInvalidValue, "detail is longer than 512 bytes", "detail");
    }
    e.detail = std::string(v->get_string());
  }
  return e;
}

HttpResponse GetEntry(ApiContext& ctx, const HttpRequest& req, const Target& target,
                      const std::string& address) {
  int64_t now = ctx.clock.NowMs();
  std::optional<Suppression> found;
  if (target.admin) {
    auto r = ReadSuppression(ctx.kv, target.scope, address);
    if (!r.ok()) return ProblemResponse(r.error());
    found = std::move(r.value());
  } else {
    auto expired = BoolParam(req, "include_expired");
    if (!expired.ok()) return ProblemResponse(expired.error());
    auto policy = ReadSuppressionPolicy(ctx.kv, target.scope);
    if (!policy.ok()) return ProblemResponse(policy.error());
    if (expired.value()) {
      // The tenant's own entry, expired or not, else the global one.
      for (std::string_view scope : {std::string_view(target.scope), kGlobalScope}) {
        if (scope == kGlobalScope && !policy.value().use_global) break;
        auto r = ReadSuppression(ctx.kv, scope, address);
        if (!r.ok()) return ProblemResponse(r.error());
        found = std::move(r.value());
        if (found) break;
      }
    } else {
      auto r = FindSuppression(ctx.kv, target.scope, address, now, policy.value());
      if (!r.ok()) return ProblemResponse(r.error());
      found = std::move(r.value());
    }
  }
  if (!found) {
    return ProblemResponse(MakeError(Code::kNotFound, address + " is not on the suppression list"));
  }
  return Json(200, EntryView(*found, now));
}

asio::awaitable<HttpResponse> PutEntry(ApiContext& ctx, const HttpRequest& req,
                                       const Target& target, const std::string& address) {
  int64_t now = ctx.clock.NowMs();
  auto parsed = ParseEntryBody(req, now);
  if (!parsed.ok()) co_return ProblemResponse(parsed.error());
  Suppression entry = std::move(parsed.value());
  entry.scope = target.scope;
  entry.address = address;
  entry.source = "api";
  entry.created_ms = now;
  KvStore& kv = ctx.kv;
  auto put = [&kv, &entry]() -> Result<PutOutcome> {
    auto old = ReadSuppression(kv, entry.scope, entry.address);
    if (!old.ok()) return old.error();
    WriteBatch b;
    AddSuppression(b, entry);
    Status s = kv.CommitAndWait(std::move(b));
    if (!s.ok()) return s.error();
    return PutOutcome{.created = !old.value().has_value(), .entry = entry};
  };
  Result<PutOutcome> r = co_await RunBlocking<Result<PutOutcome>>(ctx.blocking, put);
  if (!r.ok()) co_return ProblemResponse(r.error());
  // What a read gives back (the detail as stored).
  auto stored = DecodeSuppression(entry.scope, entry.address, EncodeSuppression(r.value().entry));
  co_return Json(r.value().created ? 201 : 200, EntryView(stored.value_or(entry), now));
}

asio::awaitable<HttpResponse> DeleteEntry(ApiContext& ctx, const Target& target,
                                          const std::string& address) {
  KvStore& kv = ctx.kv;
  int64_t now = ctx.clock.NowMs();
  auto del = [&kv, &target, &address, now]() -> Status {
    auto own = ReadSuppression(kv, target.scope, address);
    if (!own.ok()) return own.error();
    if (own.value()) {
      WriteBatch b;
      RemoveSuppression(b, target.scope, address);
      return kv.CommitAndWait(std::move(b));
    }
    if (!target.admin) {
      auto policy = ReadSuppressionPolicy(kv, target.scope);
      if (!policy.ok()) return policy.error();
      auto applies = FindSuppression(kv, target.scope, address, now, policy.value());
      if (!applies.ok()) return applies.error();
      if (applies.value()) {
        return MakeError(Code::kConflict,
                         address +
                             " is on the global suppression list, which only the operator can "
                             "change; it stays suppressed");
      }
    }
    return MakeError(Code::kNotFound, address + " is not on the suppression list");
  };
  Status s = co_await RunBlocking<Status>(ctx.blocking, del);
  if (!s.ok()) co_return ProblemResponse(s.error());
  co_return NoContent();
}

// ---- Import and export ----

struct ImportOutcome {
  size_t imported = 0;
  size_t failed = 0;
  std::vector<SuppressionCsvError> errors;
};

Status RequireCsv(const HttpRequest& req) {
  std::string_view ct = req.Header("content-type");
  std::string_view base = ct.substr(0, ct.find(';'));
  while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
  std::string lower(base);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower != "text/csv") {
    return MakeError(Code::kUnsupportedMediaType, "Content-Type must be text/csv", "Content-Type");
  }
  return Status::Ok();
}

asio::awaitable<HttpResponse> Import(ApiContext& ctx, const HttpRequest& req,
                                     const Target& target) {
  Status ct = RequireCsv(req);
  if (!ct.ok()) co_return ProblemResponse(ct.error());
  KvStore& kv = ctx.kv;
  int64_t now = ctx.clock.NowMs();
  size_t max_bytes = ctx.config.http.max_body_bytes;
  auto run_import = [&kv, &req, &target, now, max_bytes]() -> Result<ImportOutcome> {
    auto parsed = ParseSuppressionCsv(req.body, kMaxImportRows, max_bytes);
    if (!parsed.ok()) return parsed.error();
    SuppressionCsvResult& csv = parsed.value();
    // An address repeated in the file is one entry: its last row wins.
    std::unordered_map<std::string_view, size_t> last;
    for (size_t i = 0; i < csv.rows.size(); ++i) last[csv.rows[i].address] = i;
    ImportOutcome out;
    out.failed = csv.errors.size();
    if (csv.errors.size() > kMaxImportErrors) csv.errors.resize(kMaxImportErrors);
    out.errors = std::move(csv.errors);
    WriteBatch b;
    size_t in_batch = 0;
    auto flush = [&]() -> Status {
      if (in_batch == 0) return Status::Ok();
      Status s = kv.CommitAndWait(std::move(b));
      b = WriteBatch();
      if (!s.ok()) {
        Error e = s.error();
        e.detail += " (" + std::to_string(out.imported) +
                    " entries of this file were imported before the failure)";
        return e;
      }
      out.imported += in_batch;
      in_batch = 0;
      return Status::Ok();
    };
    for (size_t i = 0; i < csv.rows.size(); ++i) {
      const SuppressionCsvRow& row = csv.rows[i];
      if (last[row.address] != i) continue;
      Suppression s{.scope = target.scope,
                    .address = row.address,
                    .reason = row.reason,
                    .source = "import",
                    .created_ms = now,
                    .expires_ms = row.expires_ms,
                    .message_id = {},
                    .event_id = {},
                    .detail = row.detail};
      AddSuppression(b, s);
      if (++in_batch == kImportEntriesPerCommit) {
        Status st = flush();
        if (!st.ok()) return st.error();
      }
    }
    Status st = flush();
    if (!st.ok()) return st.error();
    return out;
  };
  Result<ImportOutcome> r = co_await RunBlocking<Result<ImportOutcome>>(ctx.blocking, run_import);
  if (!r.ok()) co_return ProblemResponse(r.error());
  json::array errors;
  for (const SuppressionCsvError& e : r.value().errors) {
    errors.push_back(json::object{{"line", e.line}, {"message", e.message}});
  }
  co_return Json(200, json::object{{"imported", r.value().imported},
                                   {"failed", r.value().failed},
                                   {"errors", std::move(errors)}});
}

struct ExportOutcome {
  std::string csv;
  std::string next_cursor;
};

asio::awaitable<HttpResponse> Export(ApiContext& ctx, const HttpRequest& req,
                                     const Target& target) {
  KvStore& kv = ctx.kv;
  int64_t now = ctx.clock.NowMs();
  SuppressionQuery q{.scope = target.scope,
                     .cursor = QueryParam(req.query, "cursor").value_or(""),
                     .limit = kMaxSuppressionPage,
                     .include_expired = true};
  auto dump = [&kv, &q, now]() -> Result<ExportOutcome> {
    ExportOutcome out;
    out.csv = SuppressionCsvHeader();
    size_t n = 0;
    while (true) {
      auto page = ListSuppressions(kv, q, now);
      if (!page.ok()) return page.error();
      for (const Suppression& s : page.value().items) out.csv += SuppressionCsvLine(s);
      n += page.value().items.size();
      q.cursor = std::move(page.value().next_cursor);
      if (q.cursor.empty()) break;
      if (n >= kMaxExportEntries) {
        out.next_cursor = q.cursor;
        break;
      }
    }
    return out;
  };
  Result<ExportOutcome> r = co_await RunBlocking<Result<ExportOutcome>>(ctx.blocking, dump);
  if (!r.ok()) co_return ProblemResponse(r.error());
  HttpResponse res;
  res.content_type = "text/csv; charset=utf-8";
  res.body = std::move(r.value().csv);
  res.headers.emplace_back("Content-Disposition", "attachment; filename=\"suppressions.csv\"");
  if (!r.value().next_cursor.empty()) {
    res.headers.emplace_back("Mailplane-Next-Cursor", r.value().next_cursor);
  }
  co_return res;
}

// ---- Settings ----

json::object PolicyView(const SuppressionPolicy& p) {
  json::object autos;
  for (std::string_view reason : kAutoReasons) {
    auto it = p.auto_reasons.find(std::string(reason));
    json::value days = nullptr;
    if (it != p.auto_reasons.end() && it->second > 0) days = it->second / kSuppressionDayMs;
    autos[reason] = json::object{{"enabled", it != p.auto_reasons.end()}, {"duration_days", days}};
  }
  return json::object{{"auto", std::move(autos)}, {"use_global", p.use_global}};
}

// Applies a settings body to p. Absent members leave their setting alone; a reason object needs
// "enabled"; an enabled reason without duration_days keeps its duration (or gets its default
// when it was disabled); duration_days null is "until removed". A disabled reason has no
// duration, so duration_days is ignored with "enabled": false.
Result<SuppressionPolicy> ApplySettings(const json::object& o, SuppressionPolicy p) {
  Status s = OnlyFields(o, {"auto", "use_global"});
  if (!s.ok()) return s.error();
  if (const json::value* v = o.if_contains("use_global")) {
    if (!v->is_bool()) {
      return MakeError(Code::kInvalidType, "use_global must be true or false", "use_global");
    }
    p.use_global = v->get_bool();
  }
  const json::value* a = o.if_contains("auto");
  if (!a) return p;
  if (!a->is_object()) {
    return MakeError(Code::kInvalidType,
                     "auto must be an object like {\"complaint\": {\"enabled\": true, "
                     "\"duration_days\": null}}",
                     "auto");
  }
  const SuppressionPolicy defaults = SuppressionPolicy::Defaults();
  for (const auto& member : a->get_object()) {
    std::string reason(member.key());
    std::string field = "auto." + reason;
    if (!IsAutoSuppressionReason(reason)) {
      return MakeError(Code::kUnknownField,
                       "auto has the reasons invalid_recipient, bad_domain, inactive_mailbox, "
                       "complaint and unsubscribe (manual entries are never automatic), not " +
                           reason,
                       field);
    }
    if (!member.value().is_object()) {
      return MakeError(Code::kInvalidType,
                       field +
                           " must be an object {\"enabled\": bool, \"duration_days\": "
                           "integer or null}",
                       field);
    }
    const json::object& r = member.value().get_object();
    for (const auto& kv : r) {
      if (kv.key() != "enabled" && kv.key() != "duration_days") {
        return MakeError(Code::kUnknownField,
                         "unknown field " + field + "." + std::string(kv.key()) +
                             " (a reason has enabled and duration_days)",
                         field + "." + std::string(kv.key()));
      }
    }
    const json::value* enabled = r.if_contains("enabled");
    if (!enabled) {
      return MakeError(Code::kMissingField, field + ".enabled is required", field + ".enabled");
    }
    if (!enabled->is_bool()) {
      return MakeError(Code::kInvalidType, field + ".enabled must be true or false",
                       field + ".enabled");
    }
    std::optional<int64_t> duration_ms;  // nullopt: not given
    if (const json::value* d = r.if_contains("duration_days")) {
      if (d->is_null()) {
        duration_ms = 0;
      } else if (!d->is_int64() || d->get_int64() < 1 || d->get_int64() > kMaxDurationDays) {
        return MakeError(Code::kInvalidValue,
                         field +
                             ".duration_days must be an integer from 1 to 3650, or null for "
                             "until removed",
                         field + ".duration_days");
      } else {
        duration_ms = d->get_int64() * kSuppressionDayMs;
      }
    }
    if (!enabled->get_bool()) {
      p.auto_reasons.erase(reason);
      continue;
    }
    if (duration_ms) {
      p.auto_reasons[reason] = *duration_ms;
    } else if (!p.auto_reasons.contains(reason)) {
      auto def = defaults.auto_reasons.find(reason);
      p.auto_reasons[reason] = def == defaults.auto_reasons.end() ? 0 : def->second;
    }
  }
  return p;
}

asio::awaitable<HttpResponse> Settings(ApiContext& ctx, const HttpRequest& req,
                                       const Target& target) {
  const std::string& m = req.method;
  if (m != "GET" && m != "PUT") co_return MethodNotAllowed("GET, PUT");
  if (target.scope == kGlobalScope) {
    co_return ProblemResponse(MakeError(
        Code::kMissingField,
        "settings belong to a tenant: give ?tenant=<tenant id> (the global list has none)",
        "tenant"));
  }
  if (m == "GET") {
    auto p = ReadSuppressionPolicy(ctx.kv, target.scope);
    if (!p.ok()) co_return ProblemResponse(p.error());
    co_return Json(200, PolicyView(p.value()));
  }
  auto body = BodyObject(req);
  if (!body.ok()) co_return ProblemResponse(body.error());
  // Checked once here, so a bad body never reaches the store.
  auto check = ApplySettings(body.value(), SuppressionPolicy::Defaults());
  if (!check.ok()) co_return ProblemResponse(check.error());
  KvStore& kv = ctx.kv;
  const json::object& o = body.value();
  auto set = [&kv, &target, &o]() -> Result<SuppressionPolicy> {
    auto current = ReadSuppressionPolicy(kv, target.scope);
    if (!current.ok()) return current.error();
    auto next = ApplySettings(o, std::move(current.value()));
    if (!next.ok()) return next.error();
    WriteBatch b;
    AddSuppressionPolicy(b, target.scope, next.value());
    Status s = kv.CommitAndWait(std::move(b));
    if (!s.ok()) return s.error();
    return next;
  };
  Result<SuppressionPolicy> r = co_await RunBlocking<Result<SuppressionPolicy>>(ctx.blocking, set);
  if (!r.ok()) co_return ProblemResponse(r.error());
  co_return Json(200, PolicyView(r.value()));
}

// ---- Routing ----

// rest: the path after the base ("/v1/suppressions" or "/v1/admin/suppressions").
asio::awaitable<HttpResponse> Dispatch(ApiContext& ctx, HttpRequest& req, const Target& target,
                                       std::string_view rest) {
  const std::string& m = req.method;
  if (rest.empty()) {
    if (m != "GET") co_return MethodNotAllowed("GET");
    auto q = ListQuery(req, target.scope);
    if (!q.ok()) co_return ProblemResponse(q.error());
    int64_t now = ctx.clock.NowMs();
    auto page = ListSuppressions(ctx.kv, q.value(), now);
    if (!page.ok()) co_return ProblemResponse(page.error());
    json::array items;
    for (const Suppression& s : page.value().items) items.push_back(EntryView(s, now));
    co_return Json(200, json::object{{"suppressions", std::move(items)},
                                     {"next_cursor", StrOrNull(page.value().next_cursor)}});
  }
  rest.remove_prefix(1);  // the '/'
  if (rest.empty()) co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
  if (rest == "import") {
    if (m != "POST") co_return MethodNotAllowed("POST");
    HttpResponse r = co_await Import(ctx, req, target);
    co_return r;
  }
  if (rest == "export") {
    if (m != "GET") co_return MethodNotAllowed("GET");
    HttpResponse r = co_await Export(ctx, req, target);
    co_return r;
  }
  if (rest == "settings") {
    HttpResponse r = co_await Settings(ctx, req, target);
    co_return r;
  }
  if (m != "GET" && m != "PUT" && m != "DELETE") co_return MethodNotAllowed("GET, PUT, DELETE");
  // Everything else is an address ('/' is atext, so it may appear unencoded too).
  auto address = PathAddress(rest);
  if (!address.ok()) co_return ProblemResponse(address.error());
  const std::string& a = address.value();
  if (m == "GET") co_return GetEntry(ctx, req, target, a);
  if (m == "PUT") {
    HttpResponse r = co_await PutEntry(ctx, req, target, a);
    co_return r;
  }
  HttpResponse r = co_await DeleteEntry(ctx, target, a);
  co_return r;
}

}  // namespace

asio::awaitable<HttpResponse> HandleSuppressions(ApiContext& ctx, HttpRequest& req,
                                                 const std::string& tenant_id) {
  Target target{.scope = tenant_id, .admin = false};
  std::string_view rest =
      std::string_view(req.path).substr(std::string_view("/v1/suppressions").size());
  HttpResponse r = co_await Dispatch(ctx, req, target, rest);
  co_return r;
}

asio::awaitable<HttpResponse> HandleAdminSuppressions(ApiContext& ctx, HttpRequest& req) {
  Target target{.scope = std::string(kGlobalScope), .admin = true};
  if (auto tenant = QueryParam(req.query, "tenant")) {
    if (!ctx.tenants.Get(*tenant)) {
      co_return ProblemResponse(MakeError(Code::kInvalidValue, "no such tenant", "tenant"));
    }
    target.scope = std::move(*tenant);
  }
  std::string_view rest =
      std::string_view(req.path).substr(std::string_view("/v1/admin/suppressions").size());
  HttpResponse r = co_await Dispatch(ctx, req, target, rest);
  co_return r;
}

}  // namespace mp
