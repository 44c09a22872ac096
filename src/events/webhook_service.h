// WebhookService: tenants' webhook endpoints and the delivery of their events.
//
// An endpoint is a URL, the event types it wants (none = all), its signing secrets and a batch
// size. Its delivery queue is the tenant's event stream itself (store/event_log.h): the endpoint
// keeps a cursor, a position in the stream, and the dispatcher sends what lies after it, up to a
// batch of events per request, signed per Standard Webhooks (webhook_sign.h). A 2xx moves the
// cursor; anything else is retried from the same position with exponential backoff (same batch,
// same webhook-id, so receivers can deduplicate); an endpoint whose every attempt failed for
// webhooks.disable_after_seconds is disabled, and an `endpoint_disabled` event is written to the
// tenant's stream. Re-enabling (optionally from another cursor) or replaying from a cursor or a
// time only moves the cursor. Delivery is therefore at least once: the cursor is written after
// the endpoint answered, and a crash in between sends that batch again.
//
// Nothing on the mail path waits for webhooks: the dispatcher runs on its own thread, reads the
// log and never writes to the queue. Its queues are bounded: at most `concurrency` requests in
// flight, one batch per endpoint (the batch it retries), and the backlog is the log, which
// retention bounds.
//
// Records (column state; docs/formats/spool.md): `webhook/<tenant>\0<id>` the endpoint as the
// tenant set it (written by the API), `whstate/<tenant>\0<id>` its delivery state (written by the
// dispatcher only, so the two writers never overwrite each other's fields).
//
// SECURITY: endpoint URLs are tenant input (ParseWebhookUrl, at most max_endpoints_per_tenant);
// private and loopback destinations are refused unless webhooks.allow_private_addresses. Responses
// are untrusted and capped (http_client.h). Secrets are stored in the state store in clear (they
// are HMAC keys the receiver has too).
// Thread-safety: every public method is safe from any thread. API methods write to the store and
// wait for it: call them from the blocking pool.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"

namespace mp {
class KvStore;
class Clock;
}  // namespace mp

namespace mp::events {

struct WebhookSecret {
  std::string value;       // "whsec_..."
  int64_t expires_ms = 0;  // 0 = current; else an old secret still signing until then
};

struct WebhookEndpoint {
  std::string id;  // "wh_" + lower-case ULID
  std::string tenant;
  std::string url;
  std::string description;
  std::vector<std::string> event_types;  // empty: every type
  std::vector<WebhookSecret> secrets;    // current first
  int batch_size = 0;                    // 0: webhooks.batch_size
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
};

struct WebhookState {
  bool enabled = true;
  std::string disabled_reason;  // "failing" or "api"
  int64_t disabled_ms = 0;
  std::string cursor;  // stream position (EventCursor form) of the last event sent or skipped
  int64_t failing_since_ms = 0;  // first failure of the current run of failures, 0 when healthy
  int failures = 0;              // consecutive failed attempts
  int64_t next_attempt_ms = 0;
  int last_status = 0;
  std::string last_error;
  int64_t last_attempt_ms = 0;
  int64_t last_success_ms = 0;
  uint64_t events_delivered = 0;
  uint64_t requests_ok = 0;
  uint64_t requests_failed = 0;
};

struct WebhookView {
  WebhookEndpoint endpoint;
  WebhookState state;
};

// Fields a tenant may change; unset ones stay.
struct WebhookChange {
  std::optional<std::string> url;
  std::optional<std::string> description;
  std::optional<std::vector<std::string>> event_types;
  std::optional<int> batch_size;
};

class WebhookService {
 public:
  WebhookService(const WebhooksConfig& config, KvStore& kv, const Clock& clock);
  ~WebhookService();
  WebhookService(const WebhookService&) = delete;
  WebhookService& operator=(const WebhookService&) = delete;

  // Reads every endpoint and state from the store (start-up).
  Status Load();
  // Starts the dispatcher thread (when webhooks.enabled); Stop ends it, abandoning requests in
  // flight (their batches are sent again after a restart: at least once).
  void Start();
  void Stop();

  // Tenant API. Errors: kInvalidValue (field named), kNotFound, kConflict (too many endpoints).
  // secret: "" to generate one; else a "whsec_" secret the tenant chose.
  Result<WebhookView> Create(const std::string& tenant, const WebhookChange& fields,
                             const std::string& secret);
  Result<WebhookView> Update(const std::string& tenant, const std::string& id,
                             const WebhookChange& change);
  Status Delete(const std::string& tenant, const std::string& id);
  std::vector<WebhookView> List(const std::string& tenant) const;
  Result<WebhookView> Get(const std::string& tenant, const std::string& id) const;
  // Enables a disabled endpoint, forgetting its failures; from cursor when one is given (else
  // where it stopped).
  Result<WebhookView> Enable(const std::string& tenant, const std::string& id,
                             const std::string& cursor);
  Result<WebhookView> Disable(const std::string& tenant, const std::string& id);
  // Sends again everything after cursor (an EventCursor or EventCursorAt position).
  Result<WebhookView> Replay(const std::string& tenant, const std::string& id,
                             const std::string& cursor);
  // A new current secret; the old ones keep signing for keep_old_ms (receivers switch over).
  Result<WebhookView> RotateSecret(const std::string& tenant, const std::string& id,
                                   int64_t keep_old_ms);

  const WebhooksConfig& config() const { return config_; }

 private:
  struct Impl;
  const WebhooksConfig config_;  // before impl_, which keeps a reference to it
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp::events
