#include "smtp/transaction.h"

namespace mp::smtp {
namespace {

// Only 2xx is success; a 3xx where none belongs is treated as a temporary failure.
bool Success(const Reply& r) { return r.code >= 200 && r.code < 300; }

RecipientOutcome FromReply(const Reply& r) {
  if (Success(r)) return RecipientOutcome::kDelivered;
  return r.Permanent() ? RecipientOutcome::kPermanent : RecipientOutcome::kTransient;
}

}  // namespace

Transaction::Transaction(Envelope envelope, Extensions ext)
    : env_(std::move(envelope)),
      ext_(std::move(ext)),
      outcomes_(env_.recipients.size(), RecipientOutcome::kPending),
      replies_(env_.recipients.size()),
      accepted_(env_.recipients.size(), false) {
  if (env_.recipients.empty() || env_.recipients.size() > kMaxRecipients) {
    protocol_error_ = "a transaction needs 1 to 100 recipients";
    done_ = true;
  }
}

std::string Transaction::MailCommand() const {
  std::string cmd = "MAIL FROM:<" + env_.mail_from + ">";
  if (ext_.size_advertised && env_.size > 0) cmd += " SIZE=" + std::to_string(env_.size);
  if (env_.eight_bit && ext_.eight_bit_mime) cmd += " BODY=8BITMIME";
  if (env_.smtputf8 && ext_.smtputf8) cmd += " SMTPUTF8";
  return cmd + "\r\n";
}

Transaction::Step Transaction::Next(std::string* commands) {
  commands->clear();
  if (done_) return Step::kDone;
  if (data_go_) {
    data_go_ = false;
    expected_.push_back(Expect::kDataEnd);
    return Step::kSendData;
  }
  if (abort_data_) {
    abort_data_ = false;
    expected_.push_back(Expect::kIgnoredDataEnd);
    *commands = ".\r\n";
    return Step::kSendCommands;
  }
  if (expected_pos_ < expected_.size()) return Step::kAwaitReplies;
  if (!mail_sent_) {
    mail_sent_ = true;
    *commands = MailCommand();
    expected_.push_back(Expect::kMail);
    if (ext_.pipelining) {
      for (const std::string& r : env_.recipients) {
        commands->append("RCPT TO:<").append(r).append(">\r\n");
        expected_.push_back(Expect::kRcpt);
      }
      commands->append("DATA\r\n");
      expected_.push_back(Expect::kData);
      data_sent_ = true;  // the DATA command, in the same group
      next_rcpt_ = env_.recipients.size();
    }
    return Step::kSendCommands;
  }
  // One command at a time (no PIPELINING): the next RCPT, then DATA.
  if (next_rcpt_ < env_.recipients.size()) {
    *commands = "RCPT TO:<" + env_.recipients[next_rcpt_++] + ">\r\n";
    expected_.push_back(Expect::kRcpt);
    return Step::kSendCommands;
  }
  if (!data_sent_ && any_rcpt_ok_) {
    data_sent_ = true;
    *commands = "DATA\r\n";
    expected_.push_back(Expect::kData);
    return Step::kSendCommands;
  }
  Finish();
  return Step::kDone;
}

void Transaction::Decide(const Reply& reply, bool accepted_only) {
  for (size_t i = 0; i < outcomes_.size(); ++i) {
    if (outcomes_[i] != RecipientOutcome::kPending) continue;
    if (accepted_only && !accepted_[i]) continue;
    outcomes_[i] = FromReply(reply);
    replies_[i] = reply;
  }
}

void Transaction::Finish() {
  done_ = true;
  // MAIL accepted and every RCPT refused (no DATA sent): the transaction is still open there.
  if (mail_ok_ && !data_sent_) needs_reset_ = true;
  for (RecipientOutcome o : outcomes_) {
    if (o == RecipientOutcome::kPending) needs_reset_ = true;  // cannot happen; be safe
  }
}

void Transaction::OnReply(const Reply& reply) {
  if (done_) return;
  if (expected_pos_ >= expected_.size()) {
    protocol_error_ = "unexpected reply: " + reply.Summary();
    OnConnectionLost(*protocol_error_);
    return;
  }
  switch (expected_[expected_pos_++]) {
    case Expect::kMail:
      mail_ok_ = Success(reply);
      if (!mail_ok_) {
        Decide(reply, false);
        needs_reset_ = true;
        next_rcpt_ = env_.recipients.size();  // without pipelining nothing more is sent
      }
      break;
    case Expect::kRcpt: {
      size_t i = rcpt_answered_++;
      if (!mail_ok_ || i >= outcomes_.size()) break;  // MAIL already failed them all
      if (Success(reply)) {
        accepted_[i] = true;
        any_rcpt_ok_ = true;
      } else {
        outcomes_[i] = FromReply(reply);
        replies_[i] = reply;
      }
      break;
    }
    case Expect::kData:
      if (reply.code == 354) {
        if (mail_ok_ && any_rcpt_ok_) {
          data_go_ = true;
        } else {
          abort_data_ = true;  // RFC 2920 section 3.1: send the end of data alone
          needs_reset_ = true;
        }
      } else {
        Decide(reply, true);  // the accepted recipients fail with the DATA reply
        needs_reset_ = true;
      }
      break;
    case Expect::kDataEnd:
      Decide(reply, true);
      break;
    case Expect::kIgnoredDataEnd:
      break;
  }
  // Finished when nothing is expected, nothing is left to send, and no data is due.
  bool more_rcpts = mail_ok_ && next_rcpt_ < env_.recipients.size();
  bool data_due = mail_ok_ && any_rcpt_ok_ && !data_sent_;
  if (expected_pos_ == expected_.size() && !data_go_ && !abort_data_ && !more_rcpts && !data_due) {
    Finish();
  }
}

Transaction::Waiting Transaction::WaitingFor() const {
  if (expected_pos_ >= expected_.size()) return Waiting::kCommand;
  // With pipelining the DATA reply comes after the RCPT replies; the oldest decides.
  switch (expected_[expected_pos_]) {
    case Expect::kData:
      return Waiting::kDataInit;
    case Expect::kDataEnd:
    case Expect::kIgnoredDataEnd:
      return Waiting::kDataEnd;
    default:
      return Waiting::kCommand;
  }
}

void Transaction::OnConnectionLost(const std::string& why) {
  Reply lost;
  lost.code = 451;
  lost.enhanced = EnhancedCode{4, 4, 2};
  lost.lines = {"connection lost: " + why};
  Decide(lost, false);
  done_ = true;
}

}  // namespace mp::smtp
