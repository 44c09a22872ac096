#include "smtp/transaction.h"

#include <gtest/gtest.h>

namespace mp::smtp {
namespace {

Reply R(int code, const char* enhanced = nullptr, const char* text = "") {
  Reply r;
  r.code = code;
  if (enhanced) {
    size_t used;
    r.enhanced = ParseEnhancedCode(enhanced, &used);
  }
  r.lines = {text};
  return r;
}

Extensions Ext(bool pipelining) {
  Extensions e;
  e.pipelining = pipelining;
  e.size_advertised = true;
  e.eight_bit_mime = true;
  return e;
}

Envelope Env(std::vector<std::string> rcpts) {
  Envelope e;
  e.mail_from = "bounce@example.com";
  e.recipients = std::move(rcpts);
  e.size = 1234;
  e.eight_bit = true;
  return e;
}

using O = RecipientOutcome;
using S = Transaction::Step;

TEST(Transaction, PipelinedHappyPathSendsOneGroup) {
  Transaction t(Env({"a@x.org", "b@x.org"}), Ext(true));
  std::string cmds;
  ASSERT_EQ(t.Next(&cmds), S::kSendCommands);
  EXPECT_EQ(cmds,
            "MAIL FROM:<bounce@example.com> SIZE=1234 BODY=8BITMIME\r\n"
            "RCPT TO:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\n");
  EXPECT_EQ(t.Next(&cmds), S::kAwaitReplies);
  for (int code : {250, 250, 250, 354}) t.OnReply(R(code));
  ASSERT_EQ(t.Next(&cmds), S::kSendData);
  t.OnReply(R(250, "2.0.0", "queued as ABC"));
  EXPECT_TRUE(t.Done());
  EXPECT_EQ(t.Next(&cmds), S::kDone);
  EXPECT_EQ(t.Outcome(0), O::kDelivered);
  EXPECT_EQ(t.Outcome(1), O::kDelivered);
  EXPECT_EQ(t.DecidingReply(1).Summary(), "250 2.0.0 queued as ABC");
  EXPECT_FALSE(t.NeedsReset());
}

TEST(Transaction, OneRecipientRefusedTheOtherDelivered) {
  Transaction t(Env({"gone@x.org", "ok@x.org"}), Ext(true));
  std::string cmds;
  t.Next(&cmds);
  t.OnReply(R(250));
  t.OnReply(R(550, "5.1.1", "no such user"));
  t.OnReply(R(250));
  t.OnReply(R(354));
  ASSERT_EQ(t.Next(&cmds), S::kSendData);
  t.OnReply(R(250));
  EXPECT_EQ(t.Outcome(0), O::kPermanent);
  EXPECT_EQ(t.DecidingReply(0).enhanced->ToString(), "5.1.1");
  EXPECT_EQ(t.Outcome(1), O::kDelivered);
}

TEST(Transaction, WithoutPipeliningOneCommandAtATime) {
  Transaction t(Env({"a@x.org", "b@x.org"}), Ext(false));
  std::string cmds;
  ASSERT_EQ(t.Next(&cmds), S::kSendCommands);
  EXPECT_EQ(cmds, "MAIL FROM:<bounce@example.com> SIZE=1234 BODY=8BITMIME\r\n");
  t.OnReply(R(250));
  ASSERT_EQ(t.Next(&cmds), S::kSendCommands);
  EXPECT_EQ(cmds, "RCPT TO:<a@x.org>\r\n");
  t.OnReply(R(250));
  ASSERT_EQ(t.Next(&cmds), S::kSendCommands);
  EXPECT_EQ(cmds, "RCPT TO:<b@x.org>\r\n");
  t.OnReply(R(450, "4.2.1", "try later"));
  ASSERT_EQ(t.Next(&cmds), S::kSendCommands);
  EXPECT_EQ(cmds, "DATA\r\n");
  t.OnReply(R(354));
  ASSERT_EQ(t.Next(&cmds), S::kSendData);
  t.OnReply(R(250));
  EXPECT_TRUE(t.Done());
  EXPECT_EQ(t.Outcome(0), O::kDelivered);
  EXPECT_EQ(t.Outcome(1), O::kTransient);
}

TEST(Transaction, MailRefusedFailsEveryoneAndConsumesThePipelinedReplies) {
  Transaction t(Env({"a@x.org", "b@x.org"}), Ext(true));
  std::string cmds;
  t.Next(&cmds);
  t.OnReply(R(421, "4.7.0", "try again later"));
  EXPECT_FALSE(t.Done());  // the RCPT and DATA replies are still on their way
  t.OnReply(R(503));
  t.OnReply(R(503));
  t.OnReply(R(503));
  EXPECT_TRUE(t.Done());
  EXPECT_EQ(t.Outcome(0), O::kTransient);
  EXPECT_EQ(t.Outcome(1), O::kTransient);
  EXPECT_EQ(t.DecidingReply(0).code, 421);
  EXPECT_TRUE(t.NeedsReset());
}

TEST(Transaction, NoRecipientAcceptedButDataAcceptedSendsOnlyTheEnd) {
  Transaction t(Env({"a@x.org"}), Ext(true));
  std::string cmds;
  t.Next(&cmds);
  t.OnReply(R(250));
  t.OnReply(R(550, "5.7.1", "relay denied"));
  t.OnReply(R(354));
  ASSERT_EQ(t.Next(&cmds), S::kSendCommands);
  EXPECT_EQ(cmds, ".\r\n");
  t.OnReply(R(554, "5.5.1", "no valid recipients"));
  EXPECT_TRUE(t.Done());
  EXPECT_EQ(t.Outcome(0), O::kPermanent);
  EXPECT_EQ(t.DecidingReply(0).enhanced->ToString(), "5.7.1");  // decided at RCPT
  EXPECT_TRUE(t.NeedsReset());
}

TEST(Transaction, DataRefusedOrEndOfDataDeferred) {
  {
    Transaction t(Env({"a@x.org"}), Ext(true));
    std::string cmds;
    t.Next(&cmds);
    t.OnReply(R(250));
    t.OnReply(R(250));
    t.OnReply(R(554, "5.3.0", "no DATA for you"));
    EXPECT_TRUE(t.Done());
    EXPECT_EQ(t.Outcome(0), O::kPermanent);
    EXPECT_TRUE(t.NeedsReset());
  }
  {
    Transaction t(Env({"a@x.org"}), Ext(true));
    std::string cmds;
    t.Next(&cmds);
    for (int code : {250, 250, 354}) t.OnReply(R(code));
    ASSERT_EQ(t.Next(&cmds), S::kSendData);
    t.OnReply(R(452, "4.3.1", "insufficient storage"));
    EXPECT_EQ(t.Outcome(0), O::kTransient);
    EXPECT_FALSE(t.NeedsReset());
  }
}

TEST(Transaction, LostConnectionDefersWhatIsUndecidedAs451) {
  Transaction t(Env({"a@x.org", "b@x.org"}), Ext(true));
  std::string cmds;
  t.Next(&cmds);
  t.OnReply(R(250));
  t.OnReply(R(550, "5.1.1"));
  t.OnConnectionLost("reset by peer");
  EXPECT_TRUE(t.Done());
  EXPECT_EQ(t.Outcome(0), O::kPermanent);  // already decided stays decided
  EXPECT_EQ(t.Outcome(1), O::kTransient);
  EXPECT_EQ(t.DecidingReply(1).code, 451);
}

TEST(Transaction, UnexpectedReplyIsAProtocolError) {
  Transaction t(Env({"a@x.org"}), Ext(false));
  std::string cmds;
  t.Next(&cmds);
  t.OnReply(R(250));
  t.OnReply(R(250));  // nothing was sent that this could answer
  EXPECT_TRUE(t.ProtocolError());
  EXPECT_TRUE(t.Done());
  EXPECT_EQ(t.Outcome(0), O::kTransient);
}

TEST(Transaction, ParametersOnlyWhenAdvertisedAndRecipientBounds) {
  Extensions none;
  Envelope env = Env({"a@x.org"});
  env.smtputf8 = true;
  Transaction t(env, none);
  std::string cmds;
  t.Next(&cmds);
  EXPECT_EQ(cmds, "MAIL FROM:<bounce@example.com>\r\n");
  Envelope null_sender = Env({"a@x.org"});
  null_sender.mail_from = "";
  Transaction n(null_sender, none);
  n.Next(&cmds);
  EXPECT_EQ(cmds, "MAIL FROM:<>\r\n");
  std::vector<std::string> many(101, "a@x.org");
  Transaction too_many(Env(many), none);
  EXPECT_TRUE(too_many.ProtocolError());
  EXPECT_EQ(too_many.Next(&cmds), S::kDone);
}

}  // namespace
}  // namespace mp::smtp
