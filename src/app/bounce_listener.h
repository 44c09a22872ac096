// BounceListener: the inbound SMTP listener of the bounce domains (bounces.listen). Outgoing mail
// carries a VERP return path (feedback/verp.h) whose token names the message and is authenticated
// by an HMAC, so whatever comes back to it is attributed to that message without guessing:
//   - a DSN (RFC 3464) with action failed  -> `bounced` event for the recipient it names (a
//     recipient that was delivered becomes bounced), classified like any reply, the address
//     suppressed per the tenant's settings, counted as a late bounce for reputation;
//     action delayed -> `deferred` event;
//   - an ARF complaint (RFC 5965)          -> `complained` event, the address suppressed
//     (reason complaint), counted for reputation;
//   - an auto-reply (RFC 3834)             -> `auto_replied` event; never counted as a bounce;
//   - anything else                         -> accepted and dropped (counted in metrics).
// RCPT to anything but a valid token of ours is refused (550 5.1.1), so the listener is no open
// relay and nobody can forge reports for others' messages. Events and envelope changes are written
// in one batch before the 250.
// SECURITY: every byte is untrusted: the SMTP server code's limits (size, time, recipients,
// connections) and ParseReport's (feedback/report.h) apply; a report can only touch the message
// its token names, and only that message's recipients.
// Thread-safety: Start/Stop from one thread; sessions run on the listener's own threads.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/error.h"
#include "core/id.h"

namespace mp {

class KvStore;
class Clock;
class ReputationMonitor;
struct Envelope;
namespace feedback {
class BounceClassifier;
}

class BounceListener {
 public:
  struct Hooks {
    // The delivery engine's cancel protocol: begin returns false while the message is being
    // delivered (then only events are written, not the envelope).
    std::function<bool(const MessageId&)> begin_change = [](const MessageId&) { return true; };
    std::function<void(const MessageId&)> end_change = [](const MessageId&) {};
  };
  BounceListener(const BouncesConfig& config, KvStore& kv, const Clock& clock,
                 const feedback::BounceClassifier* classifier, ReputationMonitor* reputation,
                 Hooks hooks);
  ~BounceListener();

  // The VERP key: bounces.key, else the one stored in the state store, else a new one (stored).
  Status LoadKey();
  // The return path for a message: <prefix>+<token>@<bounce domain>.
  std::string ReturnPath(const Envelope& e) const;
  Status Start();
  uint16_t Port() const;
  void Stop(std::chrono::milliseconds grace);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp
