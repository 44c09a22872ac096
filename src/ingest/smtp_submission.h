// SmtpSubmission: the SMTP submission listener (RFC 6409, port 587 by default). Applications that
// can only speak SMTP submit here: STARTTLS, then AUTH PLAIN or LOGIN with any user name and a
// tenant's API key as the password, then MAIL/RCPT/DATA. Each message goes through the same
// validation as the HTTP API's raw submission (PrepareMessage) and into the same durable spool;
// the 250 after DATA is sent only once the message is synced.
// SECURITY: untrusted clients; AUTH is refused before TLS unless auth_requires_tls is false, MAIL
// before AUTH. Limits: message size (SIZE advertised), recipients (limits.max_recipients), time
// per command, connections; the SMTP server code (ServerSession) enforces them.
// Thread-safety: Start/Stop from one thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/error.h"

namespace mp {

class Clock;
class KvStore;
class TenantService;
class SendLimiter;
class DomainService;

class SmtpSubmission {
 public:
  // limiter (may be null) applies the tenants' send rates and quotas.
  // domains (may be null) signs outgoing mail with the tenant's DKIM keys.
  SmtpSubmission(const Config& config, KvStore& kv, TenantService& tenants, SendLimiter* limiter,
                 const DomainService* domains, const Clock& clock,
                 std::function<void(const std::string& tenant_id)> on_accepted);
  ~SmtpSubmission();
  // Loads the TLS certificate, binds submission.listen and starts serving on its own threads.
  Status Start();
  uint16_t Port() const;
  // Stops accepting; sessions in progress get grace to end, then the threads stop.
  void Stop(std::chrono::milliseconds grace);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp
