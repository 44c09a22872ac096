// Message handlers: submit, batch, read, read raw, cancel.
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <unordered_map>

#include "api/admin_util.h"
#include "api/handlers.h"
#include "api/problem.h"
#include "core/ascii.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "ingest/domains.h"
#include "ingest/idempotency.h"
#include "ingest/send_limits.h"
#include "ingest/submission.h"
#include "ingest/tenants.h"
#include "store/event_log.h"
#include "store/message_index.h"
#include "store/redaction.h"
#include "store/spool.h"
#include "store/suppression.h"

namespace mp {
namespace asio = boost::asio;
namespace json = boost::json;

asio::awaitable<Status> AsyncCommit(KvStore& kv, WriteBatch batch) {
  // Not a coroutine itself: the batch moves into the store before anything suspends.
  auto initiate = [&kv](auto handler, WriteBatch&& b) {
    using H = decltype(handler);
    auto h = std::make_shared<H>(std::move(handler));
    kv.Commit(std::move(b), [h = std::move(h)](Status s) mutable {
      auto ex = asio::get_associated_executor(*h);
      asio::post(ex,
                 [h = std::move(h), s = std::move(s)]() mutable { std::move (*h)(std::move(s)); });
    });
  };
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Status)>(
      initiate, asio::use_awaitable, std::move(batch));
}

namespace {

// Parses a request body as JSON, reporting the byte offset of a syntax error.
Result<json::value> ParseJson(std::string_view body, json::storage_ptr sp = {}) {
  json::parse_options opt;
  opt.max_depth = 32;
  json::stream_parser p(std::move(sp), opt);
  boost::system::error_code ec;
  size_t n = p.write_some(body.data(), body.size(), ec);
  if (!ec && n < body.size()) ec = json::error::extra_data;
  if (!ec) p.finish(ec);
  if (ec) {
    return MakeError(Code::kInvalidJson, "request body is not valid JSON (" + ec.message() +
                                             " at byte " + std::to_string(n) + ")");
  }
  return p.release();
}

void AppendAccepted(std::string& out, const Envelope& e) {
  out.append("{\"id\":\"").append(e.id.ToString()).append("\",\"status\":\"");
  out.append(MessageStatusName(e.status)).append("\",\"recipients\":[");
  for (size_t i = 0; i < e.recipients.size(); ++i) {
    if (i) out.push_back(',');
    out.append("{\"address\":");
    log::AppendJsonString(out, e.recipients[i].address);
    out.append(",\"status\":\"").append(RecipientStatusName(e.recipients[i].status)).append("\"}");
  }
  out.append("]}");
}

std::string MessageView(const Envelope& e) {
  json::object o;
  o["id"] = e.id.ToString();
  o["status"] = MessageStatusName(e.status);
  o["from"] = e.mail_from;
  o["subject"] = e.subject;
  o["message_id"] = e.message_id;
  o["created_at"] = FormatRfc3339(e.created_ms);
  o["send_at"] = FormatRfc3339(e.send_at_ms);
  o["updated_at"] = FormatRfc3339(e.updated_ms);
  o["size"] = e.size;
  o["source"] = e.source;
  o["held"] = e.held;
  if (e.redacted) o["redacted"] = true;
  json::array tags;
  for (const auto& t : e.tags) tags.emplace_back(t);
  o["tags"] = std::move(tags);
  boost::system::error_code ec;
  json::value md = json::parse(e.metadata_json, ec);
  o["metadata"] = ec ? json::value(json::object()) : std::move(md);
  json::array rcpts;
  for (const RecipientRecord& r : e.recipients) {
    json::object ro{{"address", r.address},
                    {"type", RecipientKindName(r.kind)},
                    {"status", RecipientStatusName(r.status)},
                    {"attempts_total", r.attempts_total}};
    if (r.status == RecipientStatus::kDeferred) {
      ro["next_attempt_at"] = FormatRfc3339(r.next_attempt_ms);
    }
    if (!r.reason.empty()) ro["reason"] = r.reason;
    json::array atts;
    for (const Attempt& a : r.attempts) {
      json::object ao{
          {"at", FormatRfc3339(a.at_ms)}, {"mx", a.mx},    {"ip", a.ip}, {"code", a.code},
          {"enhanced_code", a.enhanced},  {"text", a.text}};
      ao["pool"] = a.pool.empty() ? json::value(nullptr) : json::value(a.pool);
      ao["source"] = a.source.empty() ? json::value(nullptr) : json::value(a.source);
      ao["site"] = a.site.empty() ? json::value(nullptr) : json::value(a.site);
      if (!a.tls_version.empty()) {
        ao["tls"] = json::object{{"version", a.tls_version}, {"cipher", a.tls_cipher}};
      } else {
        ao["tls"] = nullptr;
      }
      atts.push_back(std::move(ao));
    }
    ro["attempts"] = std::move(atts);
    rcpts.push_back(std::move(ro));
  }
  o["recipients"] = std::move(rcpts);
  return json::serialize(o);
}

// Ends the engine's cancel protocol for a message when the rewrite is over (any way out).
struct EndCancelGuard {
  ApiContext& ctx;
  MessageId id;
  ~EndCancelGuard() { ctx.end_cancel(id); }
};

// Reads an envelope for a tenant: anything not theirs is "not found".
Result<Envelope> LoadOwned(ApiContext& ctx, const std::string& tenant_id,
                           std::string_view id_text) {
  Error not_found = MakeError(Code::kNotFound, "no such message", "id");
  auto id = MessageId::Parse(id_text);
  if (!id) return not_found;
  auto e = ReadEnvelope(ctx.kv, *id);
  if (!e.ok()) return e.error();
  if (!e.value() || e.value()->tenant_id != tenant_id) return not_found;
  return std::move(*e.value());
}

Counter& AcceptedCounter(const std::string& tenant_id) {
  thread_local std::unordered_map<std::string, Counter*> cache;  // registry lock paid once
  Counter*& slot = cache[tenant_id];
  if (!slot) {
    slot = &Metrics::Global().GetCounter("mailplane_messages_accepted_total",
                                         "Messages accepted into the spool, by tenant",
                                         {{"tenant", tenant_id}});
  }
  return *slot;
}

// The tenant's send rate and daily quota, charged per accepted message. A refusal fails the
// whole request (nothing of a batch is stored) with 429 and Retry-After; a hold schedules the
// message for when the limit allows it.
class Admission {
 public:
  Admission(ApiContext& ctx, const std::string& tenant)
      : ctx_(ctx), tenant_(tenant), limits_(ctx.tenants.Limits(tenant)) {
    limited_ = ctx.limiter && (limits_.rate > 0 || limits_.daily_quota > 0);
  }
  ~Admission() { Refund(); }

  // Charges e's recipients and applies a hold to e. False: refused (Refused() says why).
  bool Admit(Envelope& e, WriteBatch& batch) {
    if (!limited_) return true;
    auto d = ctx_.limiter->Admit(tenant_, limits_, static_cast<int>(e.recipients.size()), batch);
    if (!d.ok) {
      refused_ = d;
      return false;
    }
    SendLimiter::ApplyHold(e, d, ctx_.clock.NowMs());
    taken_.push_back(d);
    return true;
  }
  Error Refused() const {
    if (refused_.permanent) return MakeError(Code::kInvalidValue, refused_.reason, "to");
    return MakeError(Code::kRateLimited, refused_.reason + "; retry in " +
                                             std::to_string(refused_.retry_after_s) + " s");
  }
  int64_t RetryAfter() const { return refused_.retry_after_s; }
  void Refund() {
    for (const auto& d : taken_) ctx_.limiter->Refund(tenant_, d);
    taken_.clear();
  }
  void Keep() { taken_.clear(); }  // stored: nothing to give back

 private:
  ApiContext& ctx_;
  const std::string& tenant_;
  TenantLimits limits_;
  bool limited_ = false;
  std::vector<SendLimiter::Decision> taken_;
  SendLimiter::Decision refused_;
};

// The shared frame of both submission routes: content type, JSON, idempotency, commit.
// build() turns the parsed JSON into a response body and the batch to commit, or an Error.
struct Built {
  std::string body;
  WriteBatch batch;
  size_t accepted = 0;
};

template <typename Build>
asio::awaitable<HttpResponse> Submit(ApiContext& ctx, HttpRequest& req,
                                     const std::string& tenant_id, Build build) {
  Status s = RequireJson(req);
  if (!s.ok()) co_return ProblemResponse(s.error());
  std::string idem_key;
  std::string request_hash;
  // Releases an in-flight Idempotency-Key on every way out, exceptions included.
  struct KeyRelease {
    Idempotency* idem = nullptr;
    const std::string* tenant = nullptr;
    const std::string* key = nullptr;
    ~KeyRelease() {
      if (idem) idem->Release(*tenant, *key);
    }
  } release;
  if (req.HasHeader("idempotency-key")) {
    idem_key = std::string(req.Header("idempotency-key"));
    s = Idempotency::CheckKey(idem_key);
    if (!s.ok()) co_return ProblemResponse(s.error());
    request_hash = Idempotency::RequestHash(req.method, req.path, req.body);
    auto prior = ctx.idempotency.Begin(tenant_id, idem_key, request_hash);
    if (!prior.ok()) co_return ProblemResponse(prior.error());
    if (prior.value()) {
      HttpResponse r = JsonResponse(prior.value()->http_status, prior.value()->response_body);
      r.headers.emplace_back("Idempotent-Replayed", "true");
      co_return r;
    }
    release.tenant = &tenant_id;
    release.key = &idem_key;
    release.idem = &ctx.idempotency;
  }
  unsigned char arena[16384];
  json::monotonic_resource mr(arena, sizeof arena);
  auto parsed = ParseJson(req.body, &mr);
  Admission admission(ctx, tenant_id);
  Result<Built> built =
      parsed.ok() ? build(parsed.value(), admission) : Result<Built>(parsed.error());
  if (!built.ok()) {
    admission.Refund();  // now: the frame (and the destructor) may end after the response
    HttpResponse r = ProblemResponse(built.error());
    if (built.error().code == Code::kRateLimited) {
      r.headers.emplace_back("Retry-After", std::to_string(admission.RetryAfter()));
    }
    co_return r;
  }
  if (!idem_key.empty()) {
    ctx.idempotency.Record(built.value().batch, tenant_id, idem_key, request_hash, 202,
                           built.value().body);
  }
  s = co_await AsyncCommit(ctx.kv, std::move(built.value().batch));
  if (!s.ok()) {
    log::Error("submit.commit_failed", {{"tenant", tenant_id}, {"reason", s.error().detail}});
    admission.Refund();
    co_return ProblemResponse(s.error());
  }
  admission.Keep();
  AcceptedCounter(tenant_id).Inc(built.value().accepted);
  ctx.on_accepted(tenant_id);
  co_return JsonResponse(202, std::move(built.value().body));
}

}  // namespace

asio::awaitable<HttpResponse> SubmitMessage(ApiContext& ctx, HttpRequest& req,
                                            const std::string& tenant_id) {
  auto [unsub_url, unsub_mailto] = ctx.tenants.UnsubscribeDefault(tenant_id);
  Unsubscribe unsubscribe{unsub_url, unsub_mailto};
  auto build = [&](const json::value& v, Admission& admission) -> Result<Built> {
    auto prepared = PrepareMessage(v, tenant_id, ctx.config.limits, ctx.clock, "", &unsubscribe);
    if (!prepared.ok()) return prepared.error();
    if (ctx.domains) {
      Status signed_ok = ctx.domains->SignPrepared(prepared.value());
      if (!signed_ok.ok()) return signed_ok.error();
    }
    Built b;
    Status suppressed = ApplySuppressions(ctx.kv, prepared.value().envelope, ctx.clock.NowMs());
    if (!suppressed.ok()) return suppressed.error();
    if (!admission.Admit(prepared.value().envelope, b.batch)) return admission.Refused();
    AppendAccepted(b.body, prepared.value().envelope);
    AddNewMessage(b.batch, prepared.value().envelope, std::move(prepared.value().body));
    b.accepted = 1;
    return b;
  };
  co_return co_await Submit(ctx, req, tenant_id, build);
}

asio::awaitable<HttpResponse> SubmitBatch(ApiContext& ctx, HttpRequest& req,
                                          const std::string& tenant_id) {
  auto [unsub_url, unsub_mailto] = ctx.tenants.UnsubscribeDefault(tenant_id);
  Unsubscribe unsubscribe{unsub_url, unsub_mailto};
  auto build = [&](const json::value& v, Admission& admission) -> Result<Built> {
    if (!v.is_object()) {
      return MakeError(Code::kInvalidType, "body must be an object {\"messages\": [...]}");
    }
    for (const auto& kv : v.get_object()) {
      if (kv.key() != "messages") {
        return MakeError(Code::kUnknownField, "unknown field " + std::string(kv.key()),
                         std::string(kv.key()));
      }
    }
    const json::value* msgs = v.get_object().if_contains("messages");
    if (!msgs) return MakeError(Code::kMissingField, "messages is required", "messages");
    if (!msgs->is_array())
      return MakeError(Code::kInvalidType, "messages must be an array", "messages");
    const json::array& a = msgs->get_array();
    if (a.empty()) return MakeError(Code::kInvalidValue, "messages is empty", "messages");
    if (a.size() > static_cast<size_t>(ctx.config.limits.max_batch_messages)) {
      return MakeError(Code::kBatchTooLarge,
                       "a batch holds at most " +
                           std::to_string(ctx.config.limits.max_batch_messages) + " messages",
                       "messages");
    }
    Built b;
    b.body.reserve(a.size() * 160);
    b.body.append("{\"results\":[");
    size_t rejected = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      if (i) b.body.push_back(',');
      std::string path = "messages[" + std::to_string(i) + "]";
      auto prepared =
          PrepareMessage(a[i], tenant_id, ctx.config.limits, ctx.clock, path, &unsubscribe);
      if (prepared.ok() && ctx.domains) {
        Status signed_ok = ctx.domains->SignPrepared(prepared.value());
        if (!signed_ok.ok()) prepared = signed_ok.error();
      }
      if (!prepared.ok()) {
        b.body.append("{\"index\":").append(std::to_string(i)).append(",\"error\":");
        b.body.append(ProblemJson(prepared.error())).push_back('}');
        ++rejected;
        continue;
      }
      Status suppressed = ApplySuppressions(ctx.kv, prepared.value().envelope, ctx.clock.NowMs());
      if (!suppressed.ok()) return suppressed.error();
      if (!admission.Admit(prepared.value().envelope, b.batch)) return admission.Refused();
      AppendAccepted(b.body, prepared.value().envelope);
      b.body.insert(b.body.size() - 1, ",\"index\":" + std::to_string(i));
      AddNewMessage(b.batch, prepared.value().envelope, std::move(prepared.value().body));
      ++b.accepted;
    }
    b.body.append("],\"accepted\":").append(std::to_string(b.accepted));
    b.body.append(",\"rejected\":").append(std::to_string(rejected)).push_back('}');
    return b;
  };
  co_return co_await Submit(ctx, req, tenant_id, build);
}

HttpResponse ListMessages(ApiContext& ctx, const HttpRequest& req, const std::string& tenant_id) {
  MessageQuery q;
  q.tenant = tenant_id;
  if (auto v = QueryParam(req.query, "status"); v && !v->empty()) {
    q.status = ParseMessageStatus(*v);
    if (!q.status) {
      return ProblemResponse(
          MakeError(Code::kInvalidValue,
                    "status must be one of queued, scheduled, canceled, "
                    "delivered, bounced, partially_delivered, deferred, suppressed",
                    "status"));
    }
  }
  q.recipient = QueryParam(req.query, "recipient").value_or("");
  q.from = QueryParam(req.query, "from").value_or("");
  q.tag = QueryParam(req.query, "tag").value_or("");
  for (auto [name, field] : {std::pair{"recipient", &q.recipient}, std::pair{"from", &q.from},
                             std::pair{"tag", &q.tag}}) {
    if (field->size() > 320 || field->find('\0') != std::string::npos) {
      return ProblemResponse(
          MakeError(Code::kInvalidValue, std::string(name) + " is not a valid filter", name));
    }
  }
  for (auto [name, out] : {std::pair{"since", &q.since_ms}, std::pair{"until", &q.until_ms}}) {
    auto v = QueryParam(req.query, name);
    if (!v || v->empty()) continue;
    if (!ParseRfc3339(*v, out) || *out <= 0) {
      return ProblemResponse(MakeError(
          Code::kInvalidValue,
          std::string(name) + " must be an RFC 3339 time like 2026-11-25T10:00:00Z", name));
    }
  }
  if (auto v = QueryParam(req.query, "limit"); v && !v->empty()) {
    char* end = nullptr;
    long n = std::strtol(v->c_str(), &end, 10);
    if (*end != '\0' || n < 1 || n > 100) {
      return ProblemResponse(MakeError(Code::kInvalidValue, "limit must be 1 to 100", "limit"));
    }
    q.limit = static_cast<size_t>(n);
  }
  q.cursor = QueryParam(req.query, "cursor").value_or("");
  auto page = QueryMessages(ctx.kv, q);
  if (!page.ok()) return ProblemResponse(page.error());
  json::array items;
  for (const Envelope& e : page.value().messages) {
    json::array rcpts, tags;
    for (const RecipientRecord& r : e.recipients) {
      rcpts.push_back(json::object{{"address", r.address},
                                   {"type", RecipientKindName(r.kind)},
                                   {"status", RecipientStatusName(r.status)}});
    }
    for (const auto& t : e.tags) tags.emplace_back(t);
    boost::system::error_code ec;
    json::value md = json::parse(e.metadata_json, ec);
    items.push_back(json::object{{"id", e.id.ToString()},
                                 {"status", MessageStatusName(e.status)},
                                 {"from", e.mail_from},
                                 {"subject", e.subject},
                                 {"created_at", FormatRfc3339(e.created_ms)},
                                 {"updated_at", FormatRfc3339(e.updated_ms)},
                                 {"tags", std::move(tags)},
                                 {"metadata", ec ? json::value(json::object()) : std::move(md)},
                                 {"recipients", std::move(rcpts)}});
  }
  json::object o{{"messages", std::move(items)}};
  o["next_cursor"] = page.value().next_cursor.empty() ? json::value(nullptr)
                                                      : json::value(page.value().next_cursor);
  return JsonResponse(200, json::serialize(o));
}

HttpResponse GetMessage(ApiContext& ctx, const std::string& tenant_id, std::string_view id) {
  auto e = LoadOwned(ctx, tenant_id, id);
  if (!e.ok()) return ProblemResponse(e.error());
  return JsonResponse(200, MessageView(e.value()));
}

HttpResponse GetRawMessage(ApiContext& ctx, const std::string& tenant_id, std::string_view id) {
  auto e = LoadOwned(ctx, tenant_id, id);
  if (!e.ok()) return ProblemResponse(e.error());
  auto body = ReadBody(ctx.kv, e.value().id);
  if (!body.ok()) return ProblemResponse(body.error());
  if (!body.value()) return ProblemResponse(MakeError(Code::kNotFound, "message body is gone"));
  HttpResponse r;
  r.content_type = "message/rfc822";
  r.body = std::move(*body.value());
  return r;
}

asio::awaitable<HttpResponse> CancelMessage(ApiContext& ctx, const std::string& tenant_id,
                                            std::string_view id) {
  auto loaded = LoadOwned(ctx, tenant_id, id);
  if (!loaded.ok()) co_return ProblemResponse(loaded.error());
  Envelope e = std::move(loaded.value());
  if (e.status == MessageStatus::kCanceled) co_return JsonResponse(200, MessageView(e));
  if (e.status != MessageStatus::kQueued && e.status != MessageStatus::kScheduled &&
      e.status != MessageStatus::kDeferred) {
    co_return ProblemResponse(MakeError(
        Code::kConflict,
        "message is " + std::string(MessageStatusName(e.status)) + " and cannot be canceled"));
  }
  // The delivery engine must not pick the message up while we rewrite it; if it holds it now,
  // an attempt is under way and the caller may try again in a moment.
  if (!ctx.begin_cancel(e.id)) {
    co_return ProblemResponse(MakeError(
        Code::kConflict, "message is being delivered right now; try again in a few seconds"));
  }
  EndCancelGuard end_cancel{ctx, e.id};
  // Re-read under the protection: the engine may have finished an attempt since.
  auto fresh = LoadOwned(ctx, tenant_id, id);
  if (!fresh.ok()) co_return ProblemResponse(fresh.error());
  e = std::move(fresh.value());
  if (e.status != MessageStatus::kQueued && e.status != MessageStatus::kScheduled &&
      e.status != MessageStatus::kDeferred) {
    co_return ProblemResponse(MakeError(
        Code::kConflict,
        "message is " + std::string(MessageStatusName(e.status)) + " and cannot be canceled"));
  }
  e.updated_ms = ctx.clock.NowMs();
  WriteBatch batch;
  for (RecipientRecord& r : e.recipients) {
    if (!r.Pending()) continue;
    r.status = RecipientStatus::kCanceled;
    AddEvent(batch, MakeEvent(e, "canceled", r.address, ctx.clock, e.updated_ms));
  }
  e.status = DeriveStatus(e);
  AddEnvelopeUpdate(batch, e, true);
  Status s = co_await AsyncCommit(ctx.kv, std::move(batch));
  if (!s.ok()) co_return ProblemResponse(s.error());
  co_return JsonResponse(200, MessageView(e));
}

asio::awaitable<HttpResponse> RedactMessageRequest(ApiContext& ctx, const std::string& tenant_id,
                                                   std::string_view id) {
  auto loaded = LoadOwned(ctx, tenant_id, id);
  if (!loaded.ok()) co_return ProblemResponse(loaded.error());
  MessageId mid = loaded.value().id;
  // As for a cancel: the engine must not hold the message while it is rewritten.
  if (!ctx.begin_cancel(mid)) {
    co_return ProblemResponse(MakeError(
        Code::kConflict, "message is being delivered right now; try again in a few seconds"));
  }
  EndCancelGuard end_cancel{ctx, mid};
  auto fresh = LoadOwned(ctx, tenant_id, id);
  if (!fresh.ok()) co_return ProblemResponse(fresh.error());
  Envelope e = std::move(fresh.value());
  if (e.redacted) co_return JsonResponse(200, MessageView(e));
  e.updated_ms = ctx.clock.NowMs();
  WriteBatch batch;
  // Pending recipients are canceled first: nothing is sent after a redaction.
  bool pending = false;
  for (RecipientRecord& r : e.recipients) {
    if (!r.Pending()) continue;
    pending = true;
    r.status = RecipientStatus::kCanceled;
    AddEvent(batch, MakeEvent(e, "canceled", r.address, ctx.clock, e.updated_ms));
  }
  e.status = DeriveStatus(e);
  if (pending) AddEnvelopeUpdate(batch, e, true);
  auto redact = [&ctx, &batch, &e] { return RedactMessage(ctx.kv, batch, e); };
  Status r = co_await RunBlocking<Status>(ctx.blocking, redact);
  if (!r.ok()) co_return ProblemResponse(r.error());
  Status s = co_await AsyncCommit(ctx.kv, std::move(batch));
  if (!s.ok()) co_return ProblemResponse(s.error());
  co_return JsonResponse(200, MessageView(e));
}

asio::awaitable<HttpResponse> DeleteMessage(ApiContext& ctx, const HttpRequest& req,
                                            const std::string& tenant_id, std::string_view id) {
  std::string redact = QueryParam(req.query, "redact").value_or("");
  if (redact == "true" || redact == "1") {
    HttpResponse r = co_await RedactMessageRequest(ctx, tenant_id, id);
    co_return r;
  }
  if (!redact.empty() && redact != "false" && redact != "0") {
    co_return ProblemResponse(
        MakeError(Code::kInvalidValue, "redact must be true or false", "redact"));
  }
  HttpResponse r = co_await CancelMessage(ctx, tenant_id, id);
  co_return r;
}

asio::awaitable<HttpResponse> ReportUnsubscribe(ApiContext& ctx, const HttpRequest& req,
                                                const std::string& tenant_id, std::string_view id) {
  std::string recipient, source = "api";
  auto body = BodyObject(req);
  if (!body.ok()) co_return ProblemResponse(body.error());
  if (Status only = OnlyFields(body.value(), {"recipient", "source"}); !only.ok()) {
    co_return ProblemResponse(only.error());
  }
  for (const json::key_value_pair& field : body.value()) {
    if (!field.value().is_string()) {
      co_return ProblemResponse(
          MakeError(Code::kInvalidType, "must be a string", std::string(field.key())));
    }
  }
  if (const json::value* r = body.value().if_contains("recipient")) {
    recipient = std::string(r->get_string());
  }
  if (const json::value* s = body.value().if_contains("source")) {
    source = std::string(s->get_string());
    bool ok = !source.empty() && source.size() <= 64;
    for (char c : source) {
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.');
    }
    if (!ok) {
      co_return ProblemResponse(
          MakeError(Code::kInvalidValue, "1 to 64 letters, digits, '-', '_' or '.'", "source"));
    }
  }
  auto loaded = LoadOwned(ctx, tenant_id, id);
  if (!loaded.ok()) co_return ProblemResponse(loaded.error());
  const Envelope e = std::move(loaded.value());
  const RecipientRecord* who = nullptr;
  if (recipient.empty()) {
    if (e.recipients.size() != 1) {
      co_return ProblemResponse(MakeError(Code::kMissingField,
                                          "the message has " + std::to_string(e.recipients.size()) +
                                              " recipients: say which one unsubscribed",
                                          "recipient"));
    }
    who = &e.recipients[0];
  } else {
    const std::string want = AsciiLower(recipient);
    for (const RecipientRecord& r : e.recipients) {
      if (AsciiLower(r.address) == want) who = &r;
    }
    if (!who) {
      co_return ProblemResponse(
          MakeError(Code::kInvalidValue, "not a recipient of this message", "recipient"));
    }
  }
  if (e.redacted || who->address == kRedactedAddress) {
    co_return ProblemResponse(
        MakeError(Code::kConflict, "the message was redacted: its recipients are not known"));
  }
  Event ev = MakeEvent(e, "unsubscribed", who->address, ctx.clock, ctx.clock.NowMs());
  ev.text = "reported by the sender (" + source + ")";
  WriteBatch batch;
  AddEvent(batch, ev);
  const std::string address = who->address;
  bool suppressed = false;
  auto suppress = [&ctx, &batch, &e, &address, &ev, &suppressed] {
    suppressed = AddAutoSuppression(ctx.kv, batch, e, address, "unsubscribe", ev);
    return Status::Ok();
  };
  Status r = co_await RunBlocking<Status>(ctx.blocking, suppress);
  if (!r.ok()) co_return ProblemResponse(r.error());
  Status s = co_await AsyncCommit(ctx.kv, std::move(batch));
  if (!s.ok()) co_return ProblemResponse(s.error());
  json::object o{{"message_id", e.id.ToString()},
                 {"recipient", address},
                 {"event_id", ev.id.ToString()},
                 {"suppressed", suppressed}};
  co_return JsonResponse(200, json::serialize(o));
}

asio::awaitable<HttpResponse> EraseRecipient(ApiContext& ctx, const std::string& tenant_id,
                                             std::string address) {
  if (address.empty() || address.size() > 320 || address.find('@') == std::string::npos ||
      address.find('\0') != std::string::npos) {
    co_return ProblemResponse(MakeError(Code::kInvalidValue, "not an email address", "address"));
  }
  // Every message of the tenant to this address, through the recipient index, in pages.
  size_t redacted = 0;
  json::array busy;
  MessageQuery q;
  q.tenant = tenant_id;
  q.recipient = address;
  q.limit = 100;
  const int64_t now = ctx.clock.NowMs();
  for (int round = 0; round < 100000; ++round) {
    auto page = QueryMessages(ctx.kv, q);
    if (!page.ok()) co_return ProblemResponse(page.error());
    for (const Envelope& listed : page.value().messages) {
      if (!ctx.begin_cancel(listed.id)) {
        busy.emplace_back(listed.id.ToString());
        continue;
      }
      EndCancelGuard end_cancel{ctx, listed.id};
      auto fresh = ReadEnvelope(ctx.kv, listed.id);
      if (!fresh.ok()) co_return ProblemResponse(fresh.error());
      if (!fresh.value()) continue;
      Envelope e = std::move(*fresh.value());
      WriteBatch batch;
      // A pending delivery to the address is canceled: an erased address gets no more mail.
      const std::string want = AsciiLower(address);
      bool canceled = false;
      for (RecipientRecord& r : e.recipients) {
        if (AsciiLower(r.address) != want || !r.Pending()) continue;
        r.status = RecipientStatus::kCanceled;
        AddEvent(batch, MakeEvent(e, "canceled", std::string(kRedactedAddress), ctx.clock, now));
        canceled = true;
      }
      e.status = DeriveStatus(e);
      e.updated_ms = now;
      if (canceled && !AnyPending(e)) AddEnvelopeUpdate(batch, e, true);
      bool found = false;
      auto redact = [&ctx, &batch, &e, &address, &found] {
        return RedactRecipient(ctx.kv, batch, e, address, &found);
      };
      Status r = co_await RunBlocking<Status>(ctx.blocking, redact);
      if (!r.ok()) co_return ProblemResponse(r.error());
      Status s = co_await AsyncCommit(ctx.kv, std::move(batch));
      if (!s.ok()) co_return ProblemResponse(s.error());
      redacted += found ? 1 : 0;
    }
    if (page.value().next_cursor.empty()) break;
    q.cursor = page.value().next_cursor;
  }
  json::object o{{"address", address},
                 {"messages_redacted", redacted},
                 {"busy", std::move(busy)},
                 {"note",
                  "suppression list entries are kept so the address gets no mail; remove them "
                  "with DELETE /v1/suppressions/{address}"}};
  co_return JsonResponse(200, json::serialize(o));
}

}  // namespace mp
