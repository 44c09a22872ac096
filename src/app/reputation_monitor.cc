#include "app/reputation_monitor.h"

#include <boost/json.hpp>

#include "core/ascii.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "ingest/tenants.h"
#include "store/event_log.h"
#include "store/kv.h"
#include "store/spool.h"

namespace mp {
namespace {

constexpr std::string_view kStateKey = "reputation/v1";

feedback::ReputationThresholds Thresholds(const ReputationConfig& c) {
  feedback::ReputationThresholds t;
  t.review_bounce = c.review_bounce_rate;
  t.review_complaint = c.review_complaint_rate;
  t.pause_bounce = c.pause_bounce_rate;
  t.pause_complaint = c.pause_complaint_rate;
  t.min_volume = static_cast<uint64_t>(c.min_volume);
  return t;
}

}  // namespace

std::string SenderDomain(const std::string& mail_from) {
  size_t at = mail_from.rfind('@');
  if (at == std::string::npos) return "";
  return AsciiLower(std::string_view(mail_from).substr(at + 1));
}

ReputationMonitor::ReputationMonitor(const ReputationConfig& config, KvStore& kv,
                                     const Clock& clock, TenantService& tenants,
                                     std::function<void(const std::string&)> paused)
    : config_(config),
      kv_(kv),
      clock_(clock),
      tenants_(tenants),
      paused_(std::move(paused)),
      tracker_(Thresholds(config)) {
  Metrics& m = Metrics::Global();
  auto family = [this](feedback::ReputationDim dim, bool complaints, bool day) {
    return [this, dim, complaints, day] {
      Metrics::LabeledValues out;
      for (const auto& s : tracker_.List(dim, clock_.NowMs())) {
        const feedback::WindowCounts& w = day ? s.day : s.hour;
        out.push_back({{{std::string(feedback::ReputationDimName(dim)), s.key},
                        {"window", day ? "24h" : "1h"}},
                       complaints ? w.complaint_rate() : w.bounce_rate()});
      }
      return out;
    };
  };
  for (auto dim : {feedback::ReputationDim::kTenant, feedback::ReputationDim::kDomain,
                   feedback::ReputationDim::kSite, feedback::ReputationDim::kPool}) {
    std::string d(feedback::ReputationDimName(dim));
    m.AddGaugeFamily("mailplane_reputation_" + d + "_bounce_rate",
                     "Hard bounces / sent per " + d + " over the window (1h, 24h)",
                     [f1 = family(dim, false, false), f2 = family(dim, false, true)] {
                       auto a = f1();
                       auto b = f2();
                       a.insert(a.end(), b.begin(), b.end());
                       return a;
                     });
    m.AddGaugeFamily("mailplane_reputation_" + d + "_complaint_rate",
                     "Complaints / sent per " + d + " over the window (1h, 24h)",
                     [f1 = family(dim, true, false), f2 = family(dim, true, true)] {
                       auto a = f1();
                       auto b = f2();
                       a.insert(a.end(), b.begin(), b.end());
                       return a;
                     });
  }
}

ReputationMonitor::~ReputationMonitor() { Stop(); }

void ReputationMonitor::Load() {
  auto v = kv_.Get(Column::kState, kStateKey);
  if (!v.ok() || !v.value()) return;
  Status s = tracker_.Restore(*v.value());
  if (!s.ok()) log::Warn("reputation.restore_failed", {{"reason", s.error().detail}});
}

void ReputationMonitor::Start() {
  if (!config_.enabled || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void ReputationMonitor::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
    Save();
  }
}

void ReputationMonitor::RecordOutcome(const Envelope& e, const Event& ev) {
  if (!config_.enabled) return;
  feedback::ReputationOutcome o;
  if (ev.type == "delivered") {
    o = feedback::ReputationOutcome::kSent;
  } else if (ev.type == "bounced" && BounceType(ev.category) == "hard") {
    o = feedback::ReputationOutcome::kBounced;
  } else {
    return;
  }
  tracker_.Record(o, e.tenant_id, SenderDomain(e.mail_from), ev.site, ev.pool, ev.at_ms);
}

void ReputationMonitor::RecordLateBounce(const std::string& tenant, const std::string& domain,
                                         const std::string& site, const std::string& pool) {
  if (!config_.enabled) return;
  tracker_.Record(feedback::ReputationOutcome::kLateBounced, tenant, domain, site, pool,
                  clock_.NowMs());
}

void ReputationMonitor::RecordComplaint(const std::string& tenant, const std::string& domain,
                                        const std::string& site, const std::string& pool) {
  if (!config_.enabled) return;
  tracker_.Record(feedback::ReputationOutcome::kComplained, tenant, domain, site, pool,
                  clock_.NowMs());
}

void ReputationMonitor::Acknowledge(const std::string& tenant) {
  tracker_.Acknowledge(tenant, clock_.NowMs());
}

void ReputationMonitor::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::seconds(config_.evaluate_interval_seconds));
    if (stopping_) break;
    lock.unlock();
    Round();
    lock.lock();
  }
}

void ReputationMonitor::Round() {
  const int64_t now = clock_.NowMs();
  for (const feedback::ReputationAlert& a : tracker_.Evaluate(now)) {
    log::Warn("reputation.level_changed", {{"tenant", a.tenant},
                                           {"from", feedback::ReputationLevelName(a.from)},
                                           {"to", feedback::ReputationLevelName(a.to)},
                                           {"reason", a.reason}});
    Event ev;
    ev.id = NewId(clock_);
    ev.at_ms = now;
    ev.tenant = a.tenant;
    ev.type = "reputation_alert";
    ev.text = a.reason;
    ev.metadata_json = boost::json::serialize(
        boost::json::object{{"level", feedback::ReputationLevelName(a.to)},
                            {"previous_level", feedback::ReputationLevelName(a.from)},
                            {"bounce_rate", a.bounce_rate},
                            {"complaint_rate", a.complaint_rate},
                            {"sent", a.sent},
                            {"window", a.hour_window ? "1h" : "24h"}});
    WriteBatch b;
    AddEvent(b, ev);
    Status s = kv_.CommitAndWait(std::move(b));
    if (!s.ok()) log::Warn("reputation.event_failed", {{"reason", s.error().detail}});
    if (a.to == feedback::ReputationLevel::kPause && config_.auto_pause) {
      auto r = tenants_.SetPaused(a.tenant, true, "reputation", a.reason);
      if (r.ok()) {
        log::Warn("tenant.paused", {{"tenant", a.tenant}, {"by", "reputation"}});
        paused_(a.tenant);
      } else {
        log::Warn("reputation.pause_failed", {{"tenant", a.tenant}, {"reason", r.error().detail}});
      }
    }
  }
  if (now - last_prune_ms_ > 3600'000) {
    tracker_.Prune(now);
    last_prune_ms_ = now;
  }
  if (now - last_save_ms_ >= 60'000) {
    Save();
    last_save_ms_ = now;
  }
}

void ReputationMonitor::Save() {
  WriteBatch b;
  b.Put(Column::kState, std::string(kStateKey), tracker_.Serialize());
  Status s = kv_.CommitAndWait(std::move(b));
  if (!s.ok()) log::Warn("reputation.save_failed", {{"reason", s.error().detail}});
}

}  // namespace mp
