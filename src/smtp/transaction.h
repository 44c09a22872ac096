// Transaction: the client side of one SMTP mail transaction (RFC 5321 section 3.3), without I/O.
//
// Given the envelope and what the server announced in EHLO, it says which command lines to send
// and interprets each reply in order, with PIPELINING (RFC 2920: MAIL, every RCPT and DATA sent as
// one group) or one command at a time. The result is an outcome per recipient: accepted at RCPT
// and then delivered or failed by the reply to the end of data, or failed at MAIL or RCPT, each
// with the reply that decided it. The connection code (sockets, TLS, timeouts) drives it:
//   lines = NextCommands(); send; for each expected reply: OnReply(reply); ... until Done().
// The message itself is sent by the caller after NextCommands() returns kSendData.
// SECURITY: reads untrusted replies; every reply is consumed by exactly one expected command.
// Thread-safety: none.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "smtp/extensions.h"
#include "smtp/reply.h"

namespace mp::smtp {

struct Envelope {
  std::string mail_from;                // may be empty: the null reverse-path <>
  std::vector<std::string> recipients;  // at most kMaxRecipients
  uint64_t size = 0;                    // message size, sent as SIZE= when the server takes it
  bool eight_bit = false;               // BODY=8BITMIME
  bool smtputf8 = false;                // SMTPUTF8 on MAIL
};

enum class RecipientOutcome { kPending, kDelivered, kTransient, kPermanent };

class Transaction {
 public:
  static constexpr size_t kMaxRecipients = 100;

  enum class Step {
    kSendCommands,  // send the lines Next() gave (one write), then feed the replies
    kAwaitReplies,  // nothing to send: feed the replies still expected
    kSendData,      // the server said 354: send the dot-stuffed message, then feed its reply
    kDone,          // every recipient has an outcome
  };

  Transaction(Envelope envelope, Extensions ext);

  // What to do now; with kSendCommands, the lines (each ending in CRLF) to send as one write.
  Step Next(std::string* commands);
  // The reply to the oldest command (or to the data) not yet answered.
  void OnReply(const Reply& reply);
  // The connection failed (dropped, timed out): every recipient without an outcome is transient.
  void OnConnectionLost(const std::string& why);

  bool Done() const { return done_; }
  // Which reply is awaited next, so the caller can apply the right timeout.
  enum class Waiting { kCommand, kDataInit, kDataEnd };
  Waiting WaitingFor() const;
  // After a transaction that ended early (MAIL refused, no recipient accepted, data refused) the
  // connection needs RSET before it can carry another.
  bool NeedsReset() const { return needs_reset_; }
  RecipientOutcome Outcome(size_t i) const { return outcomes_[i]; }
  const Reply& DecidingReply(size_t i) const { return replies_[i]; }
  // An error in the use of the protocol by the server (a reply where none was expected).
  const std::optional<std::string>& ProtocolError() const { return protocol_error_; }

 private:
  enum class Expect { kMail, kRcpt, kData, kDataEnd, kIgnoredDataEnd };
  // Gives every recipient still pending (or, with accepted_only, only those accepted at RCPT)
  // the outcome the reply's class says.
  void Decide(const Reply& reply, bool accepted_only);
  void Finish();
  std::string MailCommand() const;

  Envelope env_;
  Extensions ext_;
  std::vector<RecipientOutcome> outcomes_;
  std::vector<Reply> replies_;
  std::vector<bool> accepted_;    // accepted at RCPT
  std::vector<Expect> expected_;  // commands sent and not yet answered, oldest first
  size_t expected_pos_ = 0;
  size_t next_rcpt_ = 0;  // without pipelining: the next RCPT to send
  size_t rcpt_answered_ = 0;
  bool mail_sent_ = false, mail_ok_ = false;
  bool data_sent_ = false;   // the DATA command has been sent
  bool data_go_ = false;     // 354 received: the message is due
  bool abort_data_ = false;  // 354 with no recipient accepted: end the data at once
  bool any_rcpt_ok_ = false, done_ = false, needs_reset_ = false;
  std::optional<std::string> protocol_error_;
};

}  // namespace mp::smtp
