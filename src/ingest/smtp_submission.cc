#include "ingest/smtp_submission.h"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "ingest/domains.h"
#include "ingest/send_limits.h"
#include "ingest/submission.h"
#include "ingest/tenants.h"
#include "mime/address.h"
#include "mime/encoding.h"
#include "smtp/listener.h"
#include "store/kv.h"

namespace mp {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// The SMTP reply for a submission the validation refused.
smtp::ServerReply RefusalReply(const Error& e) {
  switch (e.code) {
    case Code::kInvalidAddress:
      return {553, "5.1.3 " + e.detail};
    case Code::kMessageTooLarge:
      return {552, "5.3.4 " + e.detail};
    case Code::kOverloaded:
      return {451, "4.3.1 server busy, try again later"};
    case Code::kDomainNotVerified:
      return {550, "5.7.1 " + e.detail};
    case Code::kShuttingDown:
      return {421, "4.3.2 shutting down, try again later"};
    case Code::kStorage:
    case Code::kInternal:
      return {451, "4.3.0 temporary local problem, try again later"};
    default:
      return {554, "5.6.0 " + e.detail};
  }
}

struct Shared {
  const Config& config;
  KvStore& kv;
  TenantService& tenants;
  SendLimiter* limiter;
  const DomainService* domains;
  const Clock& clock;
  std::function<void(const std::string&)> on_accepted;
  Counter* accepted;
};

class SubmissionHandler final : public smtp::ServerHandler {
 public:
  explicit SubmissionHandler(Shared& s) : s_(s) {}

  asio::awaitable<bool> Authenticate(std::string user, std::string password) override {
    auto tenant = s_.tenants.Authenticate(password);
    if (!tenant.ok()) co_return false;
    tenant_ = tenant.value();
    co_return true;
  }

  smtp::ServerReply OnRcpt(const std::string& rcpt) override {
    auto parsed = ParseAddress(rcpt, "to");
    if (!parsed.ok()) return {553, "5.1.3 " + parsed.error().detail};
    return {250, "2.1.5 Ok"};
  }

  smtp::ServerReply OnMail(const std::string& from) override {
    if (from.empty()) return {550, "5.1.7 the null sender is not accepted for submission"};
    auto parsed = ParseAddress(from, "from");
    if (!parsed.ok()) return {553, "5.1.7 " + parsed.error().detail};
    return {250, "2.1.0 Ok"};
  }

  asio::awaitable<smtp::ServerReply> OnData(std::string from, std::vector<std::string> rcpts,
                                            std::string message) override {
    // The same validation as POST /v1/messages with a raw message.
    json::object o;
    o["from"] = from;
    json::array to;
    for (const auto& r : rcpts) to.emplace_back(r);
    o["to"] = std::move(to);
    o["raw"] = Base64Encode(message);
    message.clear();
    message.shrink_to_fit();
    json::value v(std::move(o));
    auto prepared = PrepareMessage(v, tenant_, s_.config.limits, s_.clock, "");
    if (!prepared.ok()) co_return RefusalReply(prepared.error());
    prepared.value().envelope.source = "smtp";
    if (s_.domains) {
      Status signed_ok = s_.domains->SignPrepared(prepared.value());
      if (!signed_ok.ok()) co_return RefusalReply(signed_ok.error());
    }
    std::string id = prepared.value().envelope.id.ToString();
    Status suppressed = ApplySuppressions(s_.kv, prepared.value().envelope, s_.clock.NowMs());
    if (!suppressed.ok()) co_return RefusalReply(suppressed.error());
    WriteBatch batch;
    SendLimiter::Decision admitted;
    TenantLimits limits = s_.tenants.Limits(tenant_);
    if (s_.limiter && (limits.rate > 0 || limits.daily_quota > 0)) {
      Envelope& e = prepared.value().envelope;
      admitted = s_.limiter->Admit(tenant_, limits, static_cast<int>(e.recipients.size()), batch);
      if (!admitted.ok && admitted.permanent) {
        co_return smtp::ServerReply{550, "5.7.1 " + admitted.reason};
      }
      if (!admitted.ok) {
        co_return smtp::ServerReply{451, "4.7.1 " + admitted.reason + "; try again in " +
                                             std::to_string(admitted.retry_after_s) + " s"};
      }
      SendLimiter::ApplyHold(e, admitted, s_.clock.NowMs());
    }
    AddNewMessage(batch, prepared.value().envelope, std::move(prepared.value().body));
    Status s = co_await Commit(std::move(batch));
    if (!s.ok()) {
      if (admitted.recipients > 0) s_.limiter->Refund(tenant_, admitted);
      co_return RefusalReply(s.error());
    }
    s_.accepted->Inc();
    s_.on_accepted(tenant_);
    co_return smtp::ServerReply{250, "2.0.0 Ok: queued as " + id};
  }

 private:
  // The store's callback resumes the session on its own executor.
  asio::awaitable<Status> Commit(WriteBatch batch) {
    auto initiate = [this](auto handler, WriteBatch&& b) {
      using H = decltype(handler);
      auto h = std::make_shared<H>(std::move(handler));
      s_.kv.Commit(std::move(b), [h](Status st) mutable {
        auto ex = asio::get_associated_executor(*h);
        asio::post(ex, [h, st = std::move(st)]() mutable { std::move (*h)(std::move(st)); });
      });
    };
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(Status)>(
        initiate, asio::use_awaitable, std::move(batch));
  }

  Shared& s_;
  std::string tenant_;
};

}  // namespace

struct SmtpSubmission::Impl {
  explicit Impl(Shared s) : shared(std::move(s)) {}
  Shared shared;
  std::unique_ptr<asio::ssl::context> tls;  // before server: its sessions use it
  smtp::SmtpServer server;
};

SmtpSubmission::SmtpSubmission(const Config& config, KvStore& kv, TenantService& tenants,
                               SendLimiter* limiter, const DomainService* domains,
                               const Clock& clock,
                               std::function<void(const std::string&)> on_accepted)
    : impl_(std::make_unique<Impl>(
          Shared{config, kv, tenants, limiter, domains, clock, std::move(on_accepted),
                 &Metrics::Global().GetCounter("mailplane_smtp_submissions_total",
                                               "Messages accepted over SMTP submission")})) {}

SmtpSubmission::~SmtpSubmission() { Stop(std::chrono::milliseconds(0)); }

Status SmtpSubmission::Start() {
  const SubmissionConfig& c = impl_->shared.config.submission;
  smtp::ServerOptions o;
  o.hostname = c.hostname;
  if (o.hostname.empty()) {
    char buf[256] = {};
    o.hostname = gethostname(buf, sizeof buf - 1) == 0 && buf[0] ? buf : "localhost";
  }
  o.banner = "ESMTP mailplane submission";
  o.max_message_bytes = impl_->shared.config.limits.max_message_bytes;
  o.max_recipients = static_cast<size_t>(impl_->shared.config.limits.max_recipients);
  o.timeout = std::chrono::seconds(c.timeout_seconds);
  o.auth = true;
  o.auth_required = true;
  o.auth_requires_tls = c.auth_requires_tls;
  if (!c.tls_cert.empty()) {
    std::string err;
    impl_->tls = smtp::MakeServerTlsContext(c.tls_cert, c.tls_key, &err);
    if (!impl_->tls) return MakeError(Code::kInvalidValue, "submission: " + err);
    o.tls = impl_->tls.get();
  }
  Shared* shared = &impl_->shared;
  return impl_->server.Start(
      c.listen, std::move(o), [shared] { return std::make_unique<SubmissionHandler>(*shared); },
      c.max_connections, 2);
}

uint16_t SmtpSubmission::Port() const { return impl_->server.Port(); }

void SmtpSubmission::Stop(std::chrono::milliseconds grace) { impl_->server.Stop(grace); }

}  // namespace mp
