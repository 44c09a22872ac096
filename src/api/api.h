// Api: routes HTTP requests to handlers (messages, admin, health, metrics), authenticates them,
// and counts them. Routes:
//   GET  /healthz  /readyz  /metrics
//   POST /v1/messages  /v1/messages/batch
//   GET  /v1/messages/{id}  /v1/messages/{id}/raw     DELETE /v1/messages/{id}
//   /v1/admin/tenants...   (admin token)
// docs/openapi.yaml describes every route; keep them in step.
// SECURITY: every request is untrusted; see the handlers for their inputs.
// Thread-safety: Handle() is called concurrently from every I/O thread.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/http_types.h"
#include "core/config.h"
#include "core/id.h"
#include "store/kv.h"

namespace mp {

class Clock;
class TenantService;
class Idempotency;
class SendLimiter;
class DomainService;
namespace route {
class EgressService;
}
namespace events {
class WebhookService;
}
namespace feedback {
class ReputationTracker;
}

// An MX lookup's answer for the admin API's route explanation.
struct MxAnswer {
  bool ok = false;
  std::vector<std::string> hosts;  // in preference order
  std::string error;
};

struct ApiContext {
  const Config& config;
  KvStore& kv;
  TenantService& tenants;
  Idempotency& idempotency;
  const Clock& clock;
  boost::asio::thread_pool& blocking;  // for store work that blocks (admin changes)
  std::atomic<bool>& draining;
  // Delivery hooks (empty when delivery is off): new mail was accepted; the cancel protocol of
  // DeliveryEngine (begin returns false while the message is being delivered).
  std::function<void(const std::string& tenant_id)> on_accepted = [](const std::string&) {};
  std::function<bool(const MessageId&)> begin_cancel = [](const MessageId&) { return true; };
  std::function<void(const MessageId&)> end_cancel = [](const MessageId&) {};
  // Egress table and pool health (admin API); MX lookups through the delivery resolver (empty
  // when delivery is off).
  route::EgressService* egress = nullptr;
  SendLimiter* limiter = nullptr;                     // tenant send rates and quotas
  DomainService* domains = nullptr;                   // sending domains: DKIM signing at submission
  events::WebhookService* webhooks = nullptr;         // tenants' webhook endpoints
  feedback::ReputationTracker* reputation = nullptr;  // bounce and complaint rates
  // An operator resumed a tenant (acknowledges its reputation alert).
  std::function<void(const std::string& tenant_id)> on_tenant_resumed = [](const std::string&) {};
  // DNS TXT lookups for domain checks (uncached for negative answers).
  std::function<void(
      const std::string& name,
      std::function<void(bool ok, std::vector<std::string> records, std::string error)>)>
      lookup_txt;
  // A tenant's scheduling changed (paused, resumed, weight).
  std::function<void(const std::string& tenant_id)> on_tenant_changed = [](const std::string&) {};
  std::function<void(const std::string& domain, std::function<void(MxAnswer)> done)> resolve_mx;
};

boost::asio::awaitable<HttpResponse> HandleRequest(ApiContext& ctx, HttpRequest& req);

// Runs on a request's headers before its body is read: refuses requests to authenticated routes
// whose credentials are wrong, so no unauthenticated body is ever buffered.
std::optional<HttpResponse> PrecheckRequest(ApiContext& ctx, HttpRequest& req);

}  // namespace mp
