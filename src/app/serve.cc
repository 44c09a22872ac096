// mailplane serve: wires the store, the tenant registry and the HTTP API, and runs until SIGTERM
// or SIGINT, then drains (no new requests, requests in flight finish, the spool is flushed).
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include "api/api.h"
#include "api/http_server.h"
#include "app/bounce_listener.h"
#include "app/commands.h"
#include "app/reputation_monitor.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "deliver/engine.h"
#include "events/webhook_service.h"
#include "feedback/classify.h"
#include "ingest/domains.h"
#include "ingest/idempotency.h"
#include "ingest/send_limits.h"
#include "ingest/smtp_submission.h"
#include "ingest/tenants.h"
#include "net/resolver.h"
#include "route/egress_service.h"
#include "route/health.h"
#include "route/shaping.h"
#include "store/event_log.h"
#include "store/kv.h"
#include "store/message_retention.h"
#include "store/suppression.h"

namespace mp {

sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return signals;
}

Config ResolveConfig(const CommonFlags& flags) {
  Config config = flags.config_path.empty() ? Config{} : LoadConfig(flags.config_path);
  if (flags.data_dir) config.data_dir = *flags.data_dir;
  if (flags.http_listen) config.http.listen = *flags.http_listen;
  if (flags.log_level) config.log.level = *flags.log_level;
  if (flags.submission_listen) config.submission.listen = *flags.submission_listen;
  ValidateConfig(config);
  return config;
}

namespace {

// Deletes expired idempotency records every ten minutes until stopped.
class Housekeeping {
 public:
  Housekeeping(Idempotency& idem, SendLimiter& limiter)
      : idem_(idem), limiter_(limiter), thread_([this] { Run(); }) {}
  ~Housekeeping() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      auto n = idem_.Purge();
      if (!n.ok()) {
        log::Error("idempotency.purge_failed", {{"error", n.error().detail}});
      } else if (n.value() > 0) {
        log::Info("idempotency.purged", {{"records", n.value()}});
      }
      auto u = limiter_.PruneUsage();
      if (!u.ok()) {
        log::Error("usage.prune_failed", {{"error", u.error().detail}});
      } else if (u.value() > 0) {
        log::Info("usage.pruned", {{"days", u.value()}});
      }
      lock.lock();
      cv_.wait_for(lock, std::chrono::minutes(10), [this] { return stop_; });
    }
  }
  Idempotency& idem_;
  SendLimiter& limiter_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Re-checks every sending domain's DNS records periodically (a removed record unverifies the
// domain; a published rotation takes effect).
class DomainChecker {
 public:
  DomainChecker(DomainService& domains, TxtLookup lookup, int interval_seconds)
      : domains_(domains), lookup_(std::move(lookup)), interval_(interval_seconds) {
    thread_ = std::thread([this] { Run(); });
  }
  ~DomainChecker() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(interval_), [this] { return stop_; })) {
      lock.unlock();
      for (const auto& [tenant, domain] : domains_.All()) {
        domains_.Verify(tenant, domain, lookup_, [](Result<DomainRecord> r) {
          if (r.ok() && !r.value().verified) {
            log::Warn("domains.not_verified",
                      {{"domain", r.value().domain}, {"reason", r.value().last_error}});
          }
        });
      }
      lock.lock();
    }
  }
  DomainService& domains_;
  TxtLookup lookup_;
  int interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

int RunServe(const Config& config) {
  log::Init(config.log.level, config.log.format);
  // Signals are taken by sigwait below, so every thread started from here on blocks them.
  sigset_t signals = BlockStopSignals();

  std::error_code fec;
  std::filesystem::create_directories(config.data_dir, fec);
  if (fec) {
    log::Error("serve.data_dir_failed", {{"dir", config.data_dir}, {"error", fec.message()}});
    return 1;
  }
  auto opened = OpenRocksDbStore(config.data_dir + "/spool", config.spool);
  if (!opened.ok()) {
    log::Error("serve.store_open_failed", {{"error", opened.error().detail}});
    return 1;
  }
  KvStore& kv = *opened.value();
  TenantService tenants(kv, Clock::System());
  if (Status s = tenants.Load(); !s.ok()) {
    log::Error("serve.tenants_load_failed", {{"error", s.error().detail}});
    return 1;
  }
  // Each tenant's own retention, else events.retention_days. Compaction asks for the log records
  // it rewrites anyway (the filter shares the table: it may outlive `tenants`); the reaper asks
  // for finished messages, reading only the ones past it.
  RetentionCutoff retention = [table = tenants.Retention(),
                               days = config.events.retention_days](std::string_view tenant) {
    int d = table->Get(tenant);
    return Clock::System().NowMs() - int64_t{d > 0 ? d : days} * 86400000;
  };
  kv.SetLogRetention(retention);
  MessageReaper reaper(kv, Clock::System(), retention, config.events.reap_interval_seconds);
  Idempotency idempotency(kv, Clock::System(), config.idempotency.ttl_hours);
  Metrics::Global().AddGauge("mailplane_spool_disk_bytes", "Bytes the spool occupies on disk",
                             [&kv] { return static_cast<double>(kv.Stats().disk_bytes); });
  Metrics::Global().AddGauge("mailplane_spool_messages", "Messages in the spool (estimate)",
                             [&kv] { return static_cast<double>(kv.Stats().envelope_keys); });

  SendLimiter limiter(kv, Clock::System());
  DomainService domains(config.domains, kv, Clock::System());
  if (Status s = domains.Load(); !s.ok()) {
    log::Error("serve.domains_failed", {{"error", s.error().detail}});
    return 1;
  }
  // Domain checks have their own resolver: a record just published must not hide behind a
  // cached "does not exist".
  DnsConfig check_dns = config.dns;
  check_dns.negative_ttl_max_seconds = 0;
  check_dns.cache_entries = 1;
  auto checks = net::Resolver::Create(check_dns);
  if (!checks.ok()) {
    log::Error("serve.dns_failed", {{"error", checks.error().detail}});
    return 1;
  }
  std::unique_ptr<net::Resolver> check_resolver = std::move(checks.value());
  route::EgressService egress(config.egress, kv, Clock::System());
  if (Status s = egress.Load(); !s.ok()) {
    log::Error("serve.egress_failed", {{"error", s.error().detail}});
    return 1;
  }
  // Pool quarantines and releases go to the operator's event stream (tenant "*", read by
  // GET /v1/admin/events); the in-memory list stays for /v1/admin/egress/events.
  egress.Health().SetListener([&kv](const route::HealthEvent& h) {
    if (h.to != "quarantined" && h.to != "healthy") return;  // probing is a step in between
    Event ev;
    ev.id = NewId(Clock::System());
    ev.at_ms = h.at_ms;
    ev.tenant = "*";
    ev.type = h.to == "quarantined" ? "pool_quarantined" : "pool_released";
    ev.pool = h.pool;
    ev.site = h.site;
    ev.text = h.reason;
    ev.metadata_json = boost::json::serialize(boost::json::object{{"from", h.from}, {"to", h.to}});
    WriteBatch b;
    AddEvent(b, ev);
    kv.Commit(std::move(b), [](Status s) {
      if (!s.ok()) log::Warn("egress.event_write_failed", {{"reason", s.error().detail}});
    });
  });
  auto shaping = route::ShapingRules::Load(config.egress.shaping, config.delivery);
  if (!shaping.ok()) {
    log::Error("serve.shaping_failed", {{"error", shaping.error().detail}});
    return 1;
  }
  auto classifier = feedback::BounceClassifier::Load(config.feedback.bounce_rules_file);
  if (!classifier.ok()) {
    log::Error("serve.bounce_rules_failed", {{"error", classifier.error().detail}});
    return 1;
  }
  events::WebhookService webhooks(config.webhooks, kv, Clock::System());
  if (Status s = webhooks.Load(); !s.ok()) {
    log::Error("serve.webhooks_failed", {{"error", s.error().detail}});
    return 1;
  }
  std::unique_ptr<net::Resolver> resolver;
  std::unique_ptr<DeliveryEngine> delivery;
  if (config.delivery.enabled) {
    auto created = net::Resolver::Create(config.dns);
    if (!created.ok()) {
      log::Error("serve.dns_failed", {{"error", created.error().detail}});
      return 1;
    }
    resolver = std::move(created.value());
    delivery = std::make_unique<DeliveryEngine>(config, kv, *resolver, Clock::System(), egress,
                                                shaping.value());
    delivery->SetClassifier(&classifier.value());
    delivery->SetTenantPolicy([&tenants](const std::string& tenant) {
      TenantService::Sched s = tenants.Scheduling(tenant);
      return DeliveryEngine::TenantPolicy{s.weight, s.paused};
    });
  }

  ReputationMonitor reputation(config.reputation, kv, Clock::System(), tenants,
                               [engine = delivery.get()](const std::string& tenant) {
                                 if (engine) engine->TenantChanged(tenant);
                               });
  reputation.Load();
  if (delivery) {
    // Hard bounces suppress per the tenant's settings (one state read per bounce).
    delivery->SetAutoSuppression(
        [&kv](const std::string& tenant, std::string_view category) -> std::optional<int64_t> {
          auto policy = ReadSuppressionPolicy(kv, tenant);
          const SuppressionPolicy p = policy.ok() ? policy.value() : SuppressionPolicy::Defaults();
          auto it = p.auto_reasons.find(std::string(category));
          if (it == p.auto_reasons.end()) return std::nullopt;
          return std::max<int64_t>(it->second, 0);
        });
    delivery->SetOutcomeObserver(
        [&reputation](const Envelope& e, const Event& ev) { reputation.RecordOutcome(e, ev); });
  }

  std::unique_ptr<BounceListener> bounces;
  if (!config.bounces.listen.empty()) {
    BounceListener::Hooks hooks;
    if (DeliveryEngine* engine = delivery.get()) {
      hooks.begin_change = [engine](const MessageId& id) { return engine->BeginCancel(id); };
      hooks.end_change = [engine](const MessageId& id) { engine->EndCancel(id); };
    }
    bounces = std::make_unique<BounceListener>(config.bounces, kv, Clock::System(),
                                               &classifier.value(), &reputation, hooks);
    if (Status s = bounces->LoadKey(); !s.ok()) {
      log::Error("serve.bounces_failed", {{"error", s.error().detail}});
      return 1;
    }
    if (delivery) {
      BounceListener* b = bounces.get();
      delivery->SetReturnPath([b](const Envelope& e) { return b->ReturnPath(e); });
    }
  }

  // Admin changes and checks (store writes, queue scans): two threads, so one long queue scan does
  // not hold up every other admin change.
  boost::asio::thread_pool blocking(2);
  std::atomic<bool> draining{false};
  ApiContext ctx{config, kv, tenants, idempotency, Clock::System(), blocking, draining};
  ctx.egress = &egress;
  ctx.limiter = &limiter;
  ctx.domains = &domains;
  ctx.webhooks = &webhooks;
  ctx.reputation = &reputation.tracker();
  ctx.on_tenant_resumed = [&reputation](const std::string& tenant) {
    reputation.Acknowledge(tenant);
  };
  {
    net::Resolver* r = check_resolver.get();
    boost::asio::thread_pool* pool = &blocking;
    // Answers continue on the blocking pool: a check ends with a store write.
    ctx.lookup_txt = [r, pool](
                         const std::string& name,
                         std::function<void(bool, std::vector<std::string>, std::string)> done) {
      r->ResolveTxt(name, [pool, done = std::move(done)](net::TxtResult res) {
        boost::asio::post(*pool, [done, res = std::move(res)]() mutable {
          bool ok = res.status == net::DnsStatus::kOk || res.status == net::DnsStatus::kNxDomain ||
                    res.status == net::DnsStatus::kNoData;
          done(ok, std::move(res.records), std::move(res.error));
        });
      });
    };
  }
  auto checker = std::make_unique<DomainChecker>(domains, ctx.lookup_txt,
                                                 config.domains.check_interval_seconds);
  if (resolver) {
    net::Resolver* r = resolver.get();
    ctx.resolve_mx = [r](const std::string& domain, std::function<void(MxAnswer)> done) {
      r->ResolveMx(domain, [done = std::move(done)](net::MxResult res) {
        MxAnswer a;
        a.ok = res.status == net::DnsStatus::kOk && !res.null_mx;
        for (const auto& h : res.hosts) a.hosts.push_back(h.host);
        a.error = res.null_mx ? "null MX" : res.error;
        done(std::move(a));
      });
    };
  }
  if (delivery) {
    DeliveryEngine* engine = delivery.get();
    ctx.on_accepted = [engine](const std::string& tenant) { engine->NotifyTenant(tenant); };
    ctx.begin_cancel = [engine](const MessageId& id) { return engine->BeginCancel(id); };
    ctx.end_cancel = [engine](const MessageId& id) { engine->EndCancel(id); };
    ctx.on_tenant_changed = [engine](const std::string& tenant) { engine->TenantChanged(tenant); };
  }
  HttpServer server(
      config.http, [&ctx](HttpRequest& req) { return HandleRequest(ctx, req); },
      [&ctx](HttpRequest& req) { return PrecheckRequest(ctx, req); });
  if (Status s = server.Start(); !s.ok()) {
    log::Error("serve.listen_failed", {{"error", s.error().detail}});
    return 1;
  }
  std::string host;
  uint16_t port = 0;
  SplitHostPort(config.http.listen, &host, &port);
  std::unique_ptr<SmtpSubmission> submission;
  if (!config.submission.listen.empty()) {
    DeliveryEngine* engine = delivery.get();
    submission =
        std::make_unique<SmtpSubmission>(config, kv, tenants, &limiter, &domains, Clock::System(),
                                         [engine](const std::string& tenant) {
                                           if (engine) engine->NotifyTenant(tenant);
                                         });
    Status s = submission->Start();
    if (!s.ok() && config.submission.listen == SubmissionConfig{}.listen &&
        s.error().detail.find("ermission denied") != std::string::npos) {
      // The default port 587 needs root; an unprivileged user who did not ask for submission
      // still gets the HTTP API.
      log::Warn("smtp.not_listening",
                {{"error", s.error().detail},
                 {"hint", "set submission.listen (e.g. 127.0.0.1:2587) or run as root"}});
      submission.reset();
    } else if (!s.ok()) {
      log::Error("serve.submission_failed", {{"error", s.error().detail}});
      server.Stop();
      server.Wait();
      return 1;
    } else {
      log::Info("smtp.listening", {{"listen", config.submission.listen},
                                   {"port", static_cast<int>(submission->Port())},
                                   {"tls", !config.submission.tls_cert.empty()}});
      if (config.submission.tls_cert.empty() && config.submission.auth_requires_tls) {
        log::Warn("smtp.no_tls", {{"hint",
                                   "submission has no tls_cert, so AUTH is refused "
                                   "(538): set submission.tls_cert/tls_key, or "
                                   "auth_requires_tls = false for loopback-only use"}});
      }
    }
  }
  if (bounces) {
    if (Status s = bounces->Start(); !s.ok()) {
      log::Error("serve.bounces_failed", {{"error", s.error().detail}});
      server.Stop();
      server.Wait();
      return 1;
    }
    log::Info("bounces.listening",
              {{"listen", config.bounces.listen}, {"port", static_cast<int>(bounces->Port())}});
  }
  if (delivery) delivery->Start();
  webhooks.Start();
  reputation.Start();
  if (DeliveryEngine* engine = delivery.get()) {
    reaper.SetGuard({[engine](const MessageId& id) { return engine->BeginCancel(id); },
                     [engine](const MessageId& id) { engine->EndCancel(id); }});
  }
  reaper.Start();
  log::Info("http.listening", {{"host", host},
                               {"port", static_cast<int>(server.Port())},
                               {"data_dir", config.data_dir},
                               {"version", Version()}});
  {
    Housekeeping housekeeping(idempotency, limiter);
    int sig = 0;
    sigwait(&signals, &sig);
    log::Info("serve.draining", {{"signal", sig}});
    draining.store(true);
    server.Stop();
    if (submission) submission->Stop(std::chrono::seconds(config.http.shutdown_grace_seconds));
    server.Wait();
  }
  if (bounces) bounces->Stop(std::chrono::seconds(config.http.shutdown_grace_seconds));
  reputation.Stop();
  reaper.Stop();
  webhooks.Stop();  // requests in flight are abandoned: their batches go again after a restart
  checker.reset();  // no new checks
  check_resolver.reset();  // no more answers posted to the blocking pool
  blocking.join();
  // Transactions in flight get the grace time to end; what is not finished stays queued.
  if (delivery) {
    delivery->Stop(std::chrono::seconds(config.http.shutdown_grace_seconds));
    resolver.reset();
  }
  kv.Close();
  submission.reset();
  delivery.reset();
  log::Info("serve.stopped");
  return 0;
}

}  // namespace mp
