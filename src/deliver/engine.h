// DeliveryEngine: takes due messages from the spool's queue index and delivers them over SMTP to
// each recipient domain's MX hosts (or a configured relay), records every attempt, and writes
// every outcome back to the spool: delivered, bounced, or deferred to a later retry
// (RetryPolicy) until the message's maximum age, when the recipient bounces as expired.
//
//   scanner thread: queue index (due <= now) -> active window (at most delivery.window messages
//     in memory; envelopes only, bodies are read when sent) -> one job per recipient domain
//     (<= 100 recipients) -> route (relay, or MX via the DNS cache) -> the site's ready queue
//   I/O threads: per site (a set of MX hosts, or a relay) at most max_connections_per_site
//     connections, each taking jobs from the site's queue, reusing the connection up to
//     max_messages_per_connection, at most max_messages_per_second_per_site.
//
// Durability: a message stays in the queue index until every recipient is final; a message leaves
// the active window only after its outcome is synced. After a crash every message whose queue
// entry is due is tried again, recipients already delivered excepted. The one duplicate this
// cannot prevent is a crash between the server's 250 and our sync (RFC 1047).
// Thread-safety: public methods are safe from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.h"
#include "core/id.h"

namespace boost::asio {
class io_context;
}

namespace mp {

class Clock;
class KvStore;
struct Envelope;
struct Event;
namespace net {
class Resolver;
}
namespace route {
class EgressService;
class ShapingRules;
}  // namespace route
namespace feedback {
class BounceClassifier;
}

class DeliveryEngine {
 public:
  // egress picks the pool and source of each job (and keeps pool health); shaping gives the
  // limits of each (source, site).
  DeliveryEngine(const Config& config, KvStore& kv, net::Resolver& resolver, const Clock& clock,
                 route::EgressService& egress, const route::ShapingRules& shaping);
  ~DeliveryEngine();

  void Start();
  // New mail may be due: scan the queue now instead of at the next tick.
  void Notify();
  // A tenant's new mail was accepted: scan now, and scan that tenant even if it was not known to
  // have queued mail.
  void NotifyTenant(const std::string& tenant_id);
  // Stops taking new work, lets transactions in flight end (up to grace), then stops the threads.
  // Messages not finished stay queued in the spool for the next start.
  void Stop(std::chrono::milliseconds grace);

  // Cancel protocol for the API: BeginCancel returns false while the message is being delivered
  // (it is in the active window); otherwise the scanner leaves the message alone until EndCancel,
  // so the caller can rewrite it safely.
  bool BeginCancel(const MessageId& id);
  void EndCancel(const MessageId& id);

  // Tenant scheduling: a tenant's weight (its share of the window and of each site's turns) and
  // whether its sending is paused. Set before Start; called often, so it must be cheap.
  struct TenantPolicy {
    int weight = 1;
    bool paused = false;
  };
  void SetTenantPolicy(std::function<TenantPolicy(const std::string& tenant_id)> policy);
  // Classifies every deferral and bounce for its event's category. Set before Start.
  void SetClassifier(const feedback::BounceClassifier* classifier);
  // Which bounce categories put the address on the tenant's suppression list, and for how long
  // (ms, 0 = until removed); nullopt = not suppressed. The entry is written in the batch of the
  // bounce's event. Set before Start; unset: invalid_recipient, bad_domain and
  // inactive_mailbox, until removed.
  using AutoSuppression =
      std::function<std::optional<int64_t>(const std::string& tenant, std::string_view category)>;
  void SetAutoSuppression(AutoSuppression decide);
  // The envelope sender (MAIL FROM) to use for a message, e.g. its VERP return path; unset: the
  // message's own envelope sender. Set before Start; called per transaction.
  void SetReturnPath(std::function<std::string(const Envelope&)> return_path);
  // Sees every recipient outcome event (delivered, deferred, bounced, expired) with its message,
  // when the event is made (reputation counting). Called on delivery threads: must be cheap.
  void SetOutcomeObserver(std::function<void(const Envelope&, const Event&)> observe);
  // A tenant was paused or resumed (or reweighted): a paused tenant's jobs waiting at the sites go
  // back to the queue untried; a resumed tenant's queue is scanned again from its start.
  void TenantChanged(const std::string& tenant_id);

  struct Impl;

 private:
  // Declared first, destroyed last: destroying it drops the handlers still queued, and with them
  // their references to impl_.
  std::unique_ptr<boost::asio::io_context> io_;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mp
