#include "smtp/command.h"

#include <gtest/gtest.h>

namespace mp::smtp {
namespace {

Command Ok(std::string_view line) {
  ParsedCommand p = ParseCommand(line);
  EXPECT_TRUE(p.command) << line << " -> " << p.reply_code << " " << p.reply_text;
  return p.command ? *p.command : Command{};
}

int Code(std::string_view line) {
  ParsedCommand p = ParseCommand(line);
  EXPECT_FALSE(p.command) << line;
  return p.reply_code;
}

TEST(Command, MailWithParametersAndNullPath) {
  Command c = Ok("MAIL FROM:<alice@example.com> SIZE=1024 body=8BITMIME SMTPUTF8");
  EXPECT_EQ(c.verb, Verb::kMail);
  EXPECT_EQ(c.path, "alice@example.com");
  ASSERT_EQ(c.params.size(), 3u);
  EXPECT_EQ(c.params[0], (std::pair<std::string, std::string>{"SIZE", "1024"}));
  EXPECT_EQ(c.params[1].first, "BODY");
  EXPECT_EQ(c.params[2], (std::pair<std::string, std::string>{"SMTPUTF8", ""}));
  EXPECT_EQ(Ok("mail from:<>").path, "");
  EXPECT_EQ(Ok("MAIL FROM: <a@b.example>").path, "a@b.example");  // a common client slip
}

TEST(Command, RcptRulesAndSourceRoutes) {
  EXPECT_EQ(Ok("RCPT TO:<bob@example.org>").path, "bob@example.org");
  EXPECT_EQ(Ok("RCPT TO:<@relay.example:bob@example.org>").path, "bob@example.org");
  EXPECT_EQ(Ok("RCPT TO:<Postmaster>").path, "Postmaster");
  EXPECT_EQ(Code("RCPT TO:<>"), 501);
  EXPECT_EQ(Code("RCPT TO:<nodomain>"), 501);
  EXPECT_EQ(Code("RCPT TO:bob@example.org"), 501);
  EXPECT_EQ(Code("RCPT TO:<bob@example.org"), 501);
  EXPECT_EQ(Code("RCPT TO:<bo b@example.org>"), 501);
  EXPECT_EQ(Code("RCPT <bob@example.org>"), 501);
  EXPECT_EQ(Code("RCPT TO:<bob@example.org>junk"), 501);
  EXPECT_EQ(Code("MAIL FROM:<a@b.example> BAD=va=lue"), 501);
  EXPECT_EQ(Code("RCPT TO:<" + std::string(300, 'a') + "@x.org>"), 501);
}

TEST(Command, OtherVerbsAndTheirArguments) {
  EXPECT_EQ(Ok("EHLO client.example").argument, "client.example");
  EXPECT_EQ(Ok("helo [127.0.0.1]").verb, Verb::kHelo);
  EXPECT_EQ(Ok("DATA").verb, Verb::kData);
  EXPECT_EQ(Ok("quit").verb, Verb::kQuit);
  EXPECT_EQ(Ok("STARTTLS").verb, Verb::kStartTls);
  Command auth = Ok("AUTH PLAIN AGFsaWNlAHNlY3JldA==");
  EXPECT_EQ(auth.verb, Verb::kAuth);
  EXPECT_EQ(auth.argument, "PLAIN AGFsaWNlAHNlY3JldA==");
  EXPECT_EQ(Ok("NOOP anything").verb, Verb::kNoop);
  EXPECT_EQ(Code("EHLO"), 501);
  EXPECT_EQ(Code("EHLO two words"), 501);
  EXPECT_EQ(Code("DATA now"), 501);
  EXPECT_EQ(Code("AUTH"), 501);
}

TEST(Command, UnknownTooLongAndControlCharacters) {
  EXPECT_EQ(Code("XYZZY"), 500);
  EXPECT_EQ(Code(""), 500);
  EXPECT_EQ(Code("MAILFROM:<a@b.c>"), 500);
  EXPECT_EQ(Code("NOOP " + std::string(1200, 'x')), 500);
  EXPECT_EQ(Code(std::string("NOOP a\0b", 8)), 500);
  EXPECT_EQ(Code("NOOP a\rb"), 500);
  ParsedCommand p = ParseCommand("XYZZY");
  EXPECT_EQ(p.reply_text.rfind("5.5.2", 0), 0u);
}

}  // namespace
}  // namespace mp::smtp
