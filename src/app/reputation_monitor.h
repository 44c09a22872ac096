// ReputationMonitor: feeds the reputation tracker (feedback/reputation.h) from delivery outcomes
// and complaints, judges it every reputation.evaluate_interval_seconds, and acts on a change of a
// tenant's level: a `reputation_alert` event in the tenant's stream (so webhooks carry it), and at
// the pause level (reputation.auto_pause) the tenant's sending paused with a tenant_paused event,
// until an operator resumes it (which acknowledges the alert). The tracker's windows are written
// to the state store (key "reputation/v1") on every round and read back at start, so a restart
// keeps them. Pruned hourly.
// Thread-safety: Record* and the accessors are safe from any thread; one thread judges.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/config.h"
#include "feedback/reputation.h"

namespace mp {

class KvStore;
class Clock;
class TenantService;
struct Envelope;
struct Event;

class ReputationMonitor {
 public:
  ReputationMonitor(const ReputationConfig& config, KvStore& kv, const Clock& clock,
                    TenantService& tenants, std::function<void(const std::string&)> paused);
  ~ReputationMonitor();

  // Reads the persisted windows (a corrupt record is logged and ignored: the windows start empty).
  void Load();
  void Start();
  void Stop();

  // A delivery outcome (engine observer): delivered counts as sent, a hard bounce as sent and
  // bounced; deferrals, soft bounces and expiries are not counted (SES counts hard bounces).
  void RecordOutcome(const Envelope& e, const Event& ev);
  // An asynchronous hard bounce (DSN) for a recipient already counted as delivered, or a
  // complaint (ARF), for tenant's message from sending domain over pool to site.
  void RecordLateBounce(const std::string& tenant, const std::string& domain,
                        const std::string& site, const std::string& pool);
  void RecordComplaint(const std::string& tenant, const std::string& domain,
                       const std::string& site, const std::string& pool);

  feedback::ReputationTracker& tracker() { return tracker_; }
  // An operator resumed tenant: its alert is acknowledged (no immediate pause again).
  void Acknowledge(const std::string& tenant);

 private:
  void Loop();
  void Round();
  void Save();

  const ReputationConfig& config_;
  KvStore& kv_;
  const Clock& clock_;
  TenantService& tenants_;
  std::function<void(const std::string&)> paused_;
  feedback::ReputationTracker tracker_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int64_t last_prune_ms_ = 0;
  int64_t last_save_ms_ = 0;
  std::thread thread_;
};

// The sending domain of an envelope sender ("" when it has none).
std::string SenderDomain(const std::string& mail_from);

}  // namespace mp
