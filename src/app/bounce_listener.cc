#include "app/bounce_listener.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <vector>

#include "app/reputation_monitor.h"
#include "core/ascii.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "feedback/classify.h"
#include "feedback/report.h"
#include "feedback/verp.h"
#include "smtp/listener.h"
#include "smtp/server_session.h"
#include "store/event_log.h"
#include "store/kv.h"
#include "store/spool.h"
#include "store/suppression.h"

namespace mp {
namespace asio = boost::asio;

namespace {

constexpr std::string_view kKeyStateKey = "bounces/key";

std::string DomainOf(std::string_view address) {
  size_t at = address.rfind('@');
  return at == std::string_view::npos ? "" : AsciiLower(address.substr(at + 1));
}

// Strips a DSN address type ("rfc822;"), spaces and angle brackets.
std::string BareAddress(std::string_view a) {
  if (size_t semi = a.find(';'); semi != std::string_view::npos && semi < 16) {
    a = a.substr(semi + 1);
  }
  while (!a.empty() && (a.front() == ' ' || a.front() == '<')) a.remove_prefix(1);
  while (!a.empty() && (a.back() == ' ' || a.back() == '>')) a.remove_suffix(1);
  return AsciiLower(a);
}

}  // namespace

struct BounceListener::Impl {
  Impl(const BouncesConfig& c, KvStore& k, const Clock& cl, const feedback::BounceClassifier* cls,
       ReputationMonitor* rep, Hooks h)
      : config(c), kv(k), clock(cl), classifier(cls), reputation(rep), hooks(std::move(h)) {
    Metrics& m = Metrics::Global();
    const std::string help = "Messages received by the bounce listener, by kind";
    for (auto kind : {feedback::ReportKind::kDsn, feedback::ReportKind::kComplaint,
                      feedback::ReportKind::kAutoReply, feedback::ReportKind::kUnknown}) {
      received[static_cast<int>(kind)] =
          &m.GetCounter("mailplane_bounce_reports_total", help,
                        {{"kind", std::string(feedback::ReportKindName(kind))}});
    }
  }

  const BouncesConfig& config;
  KvStore& kv;
  const Clock& clock;
  const feedback::BounceClassifier* classifier;
  ReputationMonitor* reputation;
  Hooks hooks;
  std::string key;
  Counter* received[4] = {};
  smtp::SmtpServer server;

  std::string BounceDomain(const std::string& mail_from) const {
    if (!config.return_path_domain.empty()) return AsciiLower(config.return_path_domain);
    return "bounces." + DomainOf(mail_from);
  }

  bool IsBounceDomain(const std::string& domain) const {
    if (!config.return_path_domain.empty()) return domain == AsciiLower(config.return_path_domain);
    return domain.rfind("bounces.", 0) == 0 && domain.size() > 8;
  }

  std::optional<MessageId> Target(const std::string& rcpt) const {
    std::string domain = DomainOf(rcpt);
    if (!IsBounceDomain(domain)) return std::nullopt;
    auto t = feedback::ParseVerpAddress(key, rcpt, domain, config.prefix);
    if (!t) return std::nullopt;
    return t->message;
  }

  // The recipient of e a report names (any of the addresses), else e's only recipient.
  int FindRecipient(const Envelope& e, const std::vector<std::string>& named) const {
    for (size_t i = 0; i < e.recipients.size(); ++i) {
      std::string a = AsciiLower(e.recipients[i].address);
      for (const std::string& n : named) {
        if (!n.empty() && BareAddress(n) == a) return static_cast<int>(i);
      }
    }
    return e.recipients.size() == 1 ? 0 : -1;
  }

  void Suppress(WriteBatch& batch, const Envelope& e, const std::string& address,
                const std::string& reason, const Event& ev) {
    AddAutoSuppression(kv, batch, e, address, reason, ev);
  }

  // Handles one report for message id; the reply for the DATA command.
  smtp::ServerReply Handle(const MessageId& id, const std::string& raw) {
    auto report = feedback::ParseReport(raw, static_cast<size_t>(config.max_message_bytes));
    if (!report.ok()) return {552, "5.3.4 " + report.error().detail};
    const feedback::Report& r = report.value();
    received[static_cast<int>(r.kind)]->Inc();
    auto read = ReadEnvelope(kv, id);
    if (!read.ok()) return {451, "4.3.0 spool read failed, try again later"};
    if (!read.value()) {
      // The message is gone (retention, redaction): nothing to attribute it to.
      log::Info("bounces.unknown_message", {{"message", id.ToString()}});
      return {250, "2.0.0 Ok: the message is no longer known"};
    }
    Envelope e = std::move(*read.value());
    const int64_t now = clock.NowMs();
    WriteBatch batch;
    bool changed = false;                      // the envelope needs writing
    std::vector<std::function<void()>> after;  // reputation counts, once the batch is durable
    auto last_path = [&e](int i, std::string* site, std::string* pool) {
      const auto& atts = e.recipients[static_cast<size_t>(i)].attempts;
      if (!atts.empty()) {
        *site = atts.back().site;
        *pool = atts.back().pool;
      }
    };

    switch (r.kind) {
      case feedback::ReportKind::kDsn: {
        for (const feedback::DsnRecipient& d : r.recipients) {
          std::string action = AsciiLower(d.action);
          if (action != "failed" && action != "delayed") continue;
          int i = FindRecipient(e, {d.final_recipient, d.original_recipient});
          if (i < 0) continue;
          RecipientRecord& rc = e.recipients[static_cast<size_t>(i)];
          bool failed = action == "failed";
          Event ev = MakeEvent(e, failed ? "bounced" : "deferred", rc.address, clock, now);
          ev.code = d.diagnostic_code ? d.diagnostic_code : (failed ? 550 : 450);
          ev.enhanced = d.status;
          ev.text =
              d.diagnostic.empty() ? "DSN from " + r.reporting_mta + ": " + action : d.diagnostic;
          ev.mx = d.remote_mta;
          ev.site = "dsn";
          if (classifier) {
            ev.category = std::string(feedback::BounceCategoryName(
                classifier->Classify(ev.code, ev.enhanced, ev.text).category));
          }
          AddEvent(batch, ev);
          if (failed) {
            Suppress(batch, e, rc.address, ev.category, ev);
            if (BounceType(ev.category) == "hard" && rc.status == RecipientStatus::kDelivered) {
              std::string site, pool;
              last_path(i, &site, &pool);
              std::string tenant = e.tenant_id, domain = SenderDomain(e.mail_from);
              after.push_back([this, tenant, domain, site, pool] {
                if (reputation) reputation->RecordLateBounce(tenant, domain, site, pool);
              });
            }
            if (rc.status == RecipientStatus::kDelivered) {
              rc.status = RecipientStatus::kBounced;
              rc.reason = "async_bounce";
              changed = true;
            }
          }
        }
        break;
      }
      case feedback::ReportKind::kComplaint: {
        std::vector<std::string> named = r.original_rcpt_to;
        named.insert(named.end(), r.original_to.begin(), r.original_to.end());
        int i = FindRecipient(e, named);
        std::string address = i >= 0 ? e.recipients[static_cast<size_t>(i)].address : "";
        Event ev = MakeEvent(e, "complained", address, clock, now);
        ev.text = "feedback-type: " + (r.feedback_type.empty() ? "abuse" : r.feedback_type);
        if (!r.user_agent.empty()) ev.text += "; user-agent: " + r.user_agent;
        ev.category = "complaint";
        AddEvent(batch, ev);
        if (i >= 0) {
          Suppress(batch, e, address, "complaint", ev);
          std::string site, pool;
          last_path(i, &site, &pool);
          std::string tenant = e.tenant_id, domain = SenderDomain(e.mail_from);
          after.push_back([this, tenant, domain, site, pool] {
            if (reputation) reputation->RecordComplaint(tenant, domain, site, pool);
          });
        }
        break;
      }
      case feedback::ReportKind::kAutoReply: {
        int i = FindRecipient(e, r.original_to);
        Event ev =
            MakeEvent(e, "auto_replied", i >= 0 ? e.recipients[static_cast<size_t>(i)].address : "",
                      clock, now);
        ev.text = r.auto_reply_signal;
        AddEvent(batch, ev);
        break;
      }
      case feedback::ReportKind::kUnknown:
        log::Info("bounces.not_a_report", {{"message", id.ToString()}, {"reason", r.reason}});
        return {250, "2.0.0 Ok: not a report, dropped"};
    }
    bool began = false;
    if (changed) {
      began = hooks.begin_change(e.id);
      if (began) {
        // Read again under the protocol: the engine may have written since.
        auto fresh = ReadEnvelope(kv, id);
        if (fresh.ok() && fresh.value()) {
          Envelope f = std::move(*fresh.value());
          for (size_t i = 0; i < f.recipients.size() && i < e.recipients.size(); ++i) {
            if (e.recipients[i].reason == "async_bounce" &&
                f.recipients[i].status == RecipientStatus::kDelivered) {
              f.recipients[i].status = RecipientStatus::kBounced;
              f.recipients[i].reason = "async_bounce";
            }
          }
          f.status = DeriveStatus(f);
          f.updated_ms = now;
          AddEnvelopeUpdate(batch, f, false);
        }
      }
    }
    Status s = kv.CommitAndWait(std::move(batch));
    if (began) hooks.end_change(e.id);
    if (!s.ok()) return {451, "4.3.0 could not record the report, try again later"};
    for (auto& f : after) f();
    return {250, "2.0.0 Ok: " + std::string(feedback::ReportKindName(r.kind)) + " recorded"};
  }
};

namespace {

class BounceHandler final : public smtp::ServerHandler {
 public:
  explicit BounceHandler(BounceListener::Impl& impl) : impl_(impl) {}
  smtp::ServerReply OnRcpt(const std::string& rcpt) override {
    if (!impl_.Target(rcpt)) return {550, "5.1.1 no such bounce address"};
    return {250, "2.1.5 Ok"};
  }
  asio::awaitable<smtp::ServerReply> OnData(std::string from, std::vector<std::string> rcpts,
                                            std::string message) override {
    smtp::ServerReply reply{250, "2.0.0 Ok"};
    // One report is for one message: the first recipient's (the others get the same answer).
    for (const std::string& rcpt : rcpts) {
      auto id = impl_.Target(rcpt);
      if (!id) continue;
      reply = impl_.Handle(*id, message);
      break;
    }
    co_return reply;
  }

 private:
  BounceListener::Impl& impl_;
};

}  // namespace

BounceListener::BounceListener(const BouncesConfig& config, KvStore& kv, const Clock& clock,
                               const feedback::BounceClassifier* classifier,
                               ReputationMonitor* reputation, Hooks hooks)
    : impl_(std::make_unique<Impl>(config, kv, clock, classifier, reputation, std::move(hooks))) {}

BounceListener::~BounceListener() { Stop(std::chrono::milliseconds(0)); }

Status BounceListener::LoadKey() {
  if (!impl_->config.key.empty()) {
    impl_->key = impl_->config.key;
    return {};
  }
  auto stored = impl_->kv.Get(Column::kState, kKeyStateKey);
  if (!stored.ok()) return stored.error();
  if (stored.value() && stored.value()->size() >= 16) {
    impl_->key = *stored.value();
    return {};
  }
  std::string key(32, '\0');
  RandomBytes(key.data(), key.size());
  WriteBatch b;
  b.Put(Column::kState, std::string(kKeyStateKey), key);
  Status s = impl_->kv.CommitAndWait(std::move(b));
  if (!s.ok()) return s;
  impl_->key = std::move(key);
  return {};
}

std::string BounceListener::ReturnPath(const Envelope& e) const {
  std::string verp = feedback::MakeVerpAddress(impl_->key, e.id, impl_->BounceDomain(e.mail_from),
                                               impl_->config.prefix);
  return verp.empty() ? e.mail_from : verp;
}

Status BounceListener::Start() {
  smtp::ServerOptions o;
  char host[256] = {};
  o.hostname = gethostname(host, sizeof host - 1) == 0 && host[0] ? host : "localhost";
  o.banner = "ESMTP mailplane bounces";
  o.max_message_bytes = static_cast<uint64_t>(impl_->config.max_message_bytes);
  o.max_recipients = 10;
  o.timeout = std::chrono::seconds(impl_->config.timeout_seconds);
  Impl* impl = impl_.get();
  // One thread: reports are rare, and each is a few store reads and one synced write.
  return impl_->server.Start(
      impl_->config.listen, std::move(o), [impl] { return std::make_unique<BounceHandler>(*impl); },
      impl_->config.max_connections, 1);
}

uint16_t BounceListener::Port() const { return impl_->server.Port(); }

void BounceListener::Stop(std::chrono::milliseconds grace) { impl_->server.Stop(grace); }

}  // namespace mp
