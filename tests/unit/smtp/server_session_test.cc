// ServerSession over real loopback connections: an SmtpListener (or an accepted socket) on an
// io_context thread, driven by a blocking raw client that checks every reply on the wire.
#include "smtp/server_session.h"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "smtp/session_test_util.h"
#include "test_util.h"

namespace mp::smtp {
namespace {

using std::chrono::milliseconds;
using test::Base64;
using test::Conn;

// What the handlers saw, shared between the io thread and the test.
struct Recorder {
  std::mutex mu;
  std::vector<std::string> mails;
  std::vector<std::string> rcpts;
  std::vector<std::pair<std::string, std::string>> auths;
  struct Message {
    std::string from;
    std::vector<std::string> rcpts;
    std::string text;
  };
  std::vector<Message> messages;

  std::vector<Message> Messages() {
    std::lock_guard lock(mu);
    return messages;
  }
  std::vector<std::string> Mails() {
    std::lock_guard lock(mu);
    return mails;
  }
  std::vector<std::pair<std::string, std::string>> Auths() {
    std::lock_guard lock(mu);
    return auths;
  }
};

// Accepts alice/secret; refuses recipients starting with "bad"; queues every message.
class TestHandler final : public ServerHandler {
 public:
  explicit TestHandler(std::shared_ptr<Recorder> rec) : rec_(std::move(rec)) {}

  asio::awaitable<bool> Authenticate(std::string user, std::string password) override {
    {
      std::lock_guard lock(rec_->mu);
      rec_->auths.emplace_back(user, password);
    }
    co_return user == "alice" && password == "secret";
  }
  ServerReply OnMail(const std::string& from) override {
    std::lock_guard lock(rec_->mu);
    rec_->mails.push_back(from);
    return {250, "2.1.0 Ok"};
  }
  ServerReply OnRcpt(const std::string& rcpt) override {
    std::lock_guard lock(rec_->mu);
    rec_->rcpts.push_back(rcpt);
    if (rcpt.rfind("bad", 0) == 0) return {550, "5.1.1 No such user"};
    return {250, "2.1.5 Ok"};
  }
  asio::awaitable<ServerReply> OnData(std::string from, std::vector<std::string> rcpts,
                                      std::string message) override {
    if (from == "shutdown@client.test") co_return ServerReply{421, "4.3.2 Shutting down"};
    {
      std::lock_guard lock(rec_->mu);
      rec_->messages.push_back({from, rcpts, message});
    }
    co_return ServerReply{250, "2.0.0 Ok: queued"};
  }

 private:
  std::shared_ptr<Recorder> rec_;
};

ServerOptions BaseOptions() {
  ServerOptions o;
  o.hostname = "mx.test";
  o.max_message_bytes = 1000;
  o.max_recipients = 10;
  o.timeout = std::chrono::seconds(5);
  return o;
}

std::string Code(const std::string& reply) { return reply.substr(0, 3); }
bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class ServerSessionTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options) {
    options_ = std::move(options);
    std::shared_ptr<Recorder> rec = rec_;
    server_ = std::make_unique<test::TestSmtpServer>(
        options_, [rec] { return std::make_unique<TestHandler>(rec); });
  }

  // A server TLS context from a freshly made self-signed certificate.
  asio::ssl::context* Tls() {
    if (!tls_) {
      test::TestCert cert;
      std::string error;
      EXPECT_TRUE(test::MakeSelfSignedCert(dir_.path(), &cert, &error)) << error;
      tls_ = MakeServerTlsContext(cert.cert_file, cert.key_file, &error);
      EXPECT_TRUE(tls_) << error;
    }
    return tls_.get();
  }

  // A connection whose greeting has been read and checked.
  std::unique_ptr<Conn> Connect() {
    auto c = Conn::Connect(server_->port());
    EXPECT_TRUE(c);
    if (!c) return nullptr;
    EXPECT_EQ(c->ReadReply(), "220 mx.test ESMTP mailplane");
    return c;
  }

  static std::string Ehlo(Conn& c) {
    c.Send("EHLO client.test\r\n");
    return c.ReadReply();
  }

  // Sends a line and returns the reply.
  static std::string Cmd(Conn& c, const std::string& line) {
    c.Send(line + "\r\n");
    return c.ReadReply();
  }

  mp::test::TempDir dir_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::shared_ptr<Recorder> rec_ = std::make_shared<Recorder>();
  ServerOptions options_;
  std::unique_ptr<test::TestSmtpServer> server_;  // last: stops before what it uses
};

TEST_F(ServerSessionTest, GreetsWithHostnameAndBanner) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(Cmd(*c, "NOOP"), "250 2.0.0 Ok");
}

TEST_F(ServerSessionTest, EhloListsExtensionsWithoutTlsOrAuth) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(Ehlo(*c),
            "250-mx.test\n250-PIPELINING\n250-SIZE 1000\n250-8BITMIME\n250 ENHANCEDSTATUSCODES");
}

TEST_F(ServerSessionTest, EhloOffersAuthBeforeTlsOnlyWhenAllowed) {
  ServerOptions o = BaseOptions();
  o.auth = true;
  o.auth_requires_tls = false;
  o.smtputf8 = true;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  std::string ehlo = Ehlo(*c);
  EXPECT_TRUE(Has(ehlo, "250-SMTPUTF8\n")) << ehlo;
  EXPECT_TRUE(Has(ehlo, "250 AUTH PLAIN LOGIN")) << ehlo;
  EXPECT_FALSE(Has(ehlo, "STARTTLS")) << ehlo;
}

TEST_F(ServerSessionTest, StartTlsOfferedWithContextAndAuthOnlyAfterIt) {
  ServerOptions o = BaseOptions();
  o.tls = Tls();
  o.auth = true;  // auth_requires_tls by default
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  std::string ehlo = Ehlo(*c);
  EXPECT_TRUE(Has(ehlo, "250 STARTTLS")) << ehlo;
  EXPECT_FALSE(Has(ehlo, "AUTH")) << ehlo;
  ASSERT_EQ(Cmd(*c, "STARTTLS"), "220 2.0.0 Ready to start TLS");
  std::string error;
  ASSERT_TRUE(c->StartTlsClient(&error)) << error;
  EXPECT_FALSE(c->TlsVersion().empty());
  ehlo = Ehlo(*c);
  EXPECT_TRUE(Has(ehlo, "250 AUTH PLAIN LOGIN")) << ehlo;
  EXPECT_FALSE(Has(ehlo, "STARTTLS")) << ehlo;
}

TEST_F(ServerSessionTest, HeloAnswersWithHostnameAndAllowsMail) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(Cmd(*c, "HELO client.test"), "250 mx.test");
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test>"), "250 2.1.0 Ok");
}

TEST_F(ServerSessionTest, PipelinedCommandsAreAnsweredInOrder) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  c->Send(
      "MAIL FROM:<a@client.test> SIZE=20 BODY=8BITMIME\r\nRCPT TO:<x@mx.test>\r\n"
      "RCPT TO:<bad@mx.test>\r\nRCPT TO:<y@mx.test>\r\nDATA\r\n");
  EXPECT_EQ(c->ReadReply(), "250 2.1.0 Ok");
  EXPECT_EQ(c->ReadReply(), "250 2.1.5 Ok");
  EXPECT_EQ(c->ReadReply(), "550 5.1.1 No such user");
  EXPECT_EQ(c->ReadReply(), "250 2.1.5 Ok");
  EXPECT_EQ(c->ReadReply(), "354 End data with <CR><LF>.<CR><LF>");
  // The end of data and the next command in one write, too.
  c->Send("Subject: hi\r\n\r\nbody\r\n.\r\nNOOP\r\n");
  EXPECT_EQ(c->ReadReply(), "250 2.0.0 Ok: queued");
  EXPECT_EQ(c->ReadReply(), "250 2.0.0 Ok");
  auto msgs = rec_->Messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].from, "a@client.test");
  EXPECT_EQ(msgs[0].rcpts, (std::vector<std::string>{"x@mx.test", "y@mx.test"}));
  EXPECT_EQ(msgs[0].text, "Subject: hi\r\n\r\nbody\r\n");
}

TEST_F(ServerSessionTest, CommandsOutOfSequenceAre5xx) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test>"), "503 5.5.1 Send EHLO first");
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "RCPT TO:<x@mx.test>"), "503 5.5.1 Need MAIL before RCPT");
  EXPECT_EQ(Cmd(*c, "DATA"), "503 5.5.1 Need MAIL command");
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test>"), "250 2.1.0 Ok");
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test>"), "503 5.5.1 Nested MAIL command");
  // DATA with no accepted recipient: RFC 5321 section 3.3 allows 503 or 554 here.
  std::string data = Cmd(*c, "DATA");
  EXPECT_TRUE(Code(data) == "503" || Code(data) == "554") << data;
  EXPECT_TRUE(rec_->Messages().empty());
  EXPECT_EQ(Cmd(*c, "BDAT 10 LAST"), "502 5.5.1 BDAT not supported (CHUNKING is not offered)");
  EXPECT_EQ(Cmd(*c, "STARTTLS"), "502 5.5.1 STARTTLS not available");
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN"), "502 5.5.1 AUTH not available");
  EXPECT_EQ(Code(Cmd(*c, "VRFY x")), "252");
  EXPECT_EQ(Code(Cmd(*c, "HELP")), "214");
}

TEST_F(ServerSessionTest, SizeParameterOverTheLimitIs552) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test> SIZE=1001"),
            "552 5.3.4 Message size exceeds fixed limit of 1000 bytes");
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test> SIZE=12x"), "501 5.5.4 Bad SIZE parameter");
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test> SIZE=1000"), "250 2.1.0 Ok");
}

TEST_F(ServerSessionTest, DataOverTheLimitIs552AndNothingIsHandedOver) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  c->Send("MAIL FROM:<a@client.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n");
  EXPECT_EQ(c->ReadReply(), "250 2.1.0 Ok");
  EXPECT_EQ(c->ReadReply(), "250 2.1.5 Ok");
  EXPECT_EQ(Code(c->ReadReply()), "354");
  std::string body;
  for (int i = 0; i < 30; ++i) body += std::string(70, 'a' + i % 26) + "\r\n";  // 2160 bytes
  c->Send(body + ".\r\n");
  EXPECT_EQ(c->ReadReply(), "552 5.3.4 Message size exceeds fixed limit of 1000 bytes");
  EXPECT_TRUE(rec_->Messages().empty());
  // The transaction is over and the connection still usable.
  EXPECT_EQ(Cmd(*c, "RCPT TO:<x@mx.test>"), "503 5.5.1 Need MAIL before RCPT");
  EXPECT_EQ(Cmd(*c, "NOOP"), "250 2.0.0 Ok");
}

TEST_F(ServerSessionTest, RecipientsPastTheLimitGet452) {
  ServerOptions o = BaseOptions();
  o.max_recipients = 2;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  c->Send(
      "MAIL FROM:<a@client.test>\r\nRCPT TO:<x@mx.test>\r\nRCPT TO:<y@mx.test>\r\n"
      "RCPT TO:<z@mx.test>\r\nDATA\r\n");
  EXPECT_EQ(c->ReadReply(), "250 2.1.0 Ok");
  EXPECT_EQ(c->ReadReply(), "250 2.1.5 Ok");
  EXPECT_EQ(c->ReadReply(), "250 2.1.5 Ok");
  EXPECT_EQ(c->ReadReply(), "452 4.5.3 Too many recipients");
  EXPECT_EQ(Code(c->ReadReply()), "354");
  c->Send("x\r\n.\r\n");
  EXPECT_EQ(c->ReadReply(), "250 2.0.0 Ok: queued");
  auto msgs = rec_->Messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].rcpts, (std::vector<std::string>{"x@mx.test", "y@mx.test"}));
}

TEST_F(ServerSessionTest, OverlongLineIs500AndTheSessionGoesOn) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(Cmd(*c, "NOOP " + std::string(1500, 'x')), "500 5.5.2 Line too long");
  EXPECT_EQ(Cmd(*c, "NOOP"), "250 2.0.0 Ok");
  // An overlong line that arrives in pieces is one error, not several commands.
  c->Send("NOOP " + std::string(1200, 'y'));
  std::this_thread::sleep_for(milliseconds(30));
  c->Send(std::string(1200, 'z') + "\r\nNOOP\r\n");
  EXPECT_EQ(c->ReadReply(), "500 5.5.2 Line too long");
  EXPECT_EQ(c->ReadReply(), "250 2.0.0 Ok");
  EXPECT_EQ(Ehlo(*c).substr(0, 12), "250-mx.test\n");
}

TEST_F(ServerSessionTest, BareLineFeedInDataIsRefused) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  c->Send("MAIL FROM:<a@client.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n");
  c->ReadReply();
  c->ReadReply();
  EXPECT_EQ(Code(c->ReadReply()), "354");
  // "\n.\n" must not end the data (SMTP smuggling); only CRLF.CRLF does.
  c->Send("Subject: x\r\n\r\nline\n.\nMAIL FROM:<smuggled@evil.test>\r\n.\r\n");
  EXPECT_EQ(c->ReadReply(), "550 5.6.11 Bare LF in message: lines must end with CRLF");
  EXPECT_EQ(Cmd(*c, "NOOP"), "250 2.0.0 Ok");
  EXPECT_TRUE(rec_->Messages().empty());
  EXPECT_EQ(rec_->Mails(), std::vector<std::string>{"a@client.test"});
}

TEST_F(ServerSessionTest, DotStuffedLinesReachTheHandlerUnstuffed) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  c->Send("MAIL FROM:<>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n");
  c->ReadReply();
  c->ReadReply();
  EXPECT_EQ(Code(c->ReadReply()), "354");
  c->Send("Subject: dots\r\n\r\n..leading dot\r\n...\r\nmiddle . dot\r\n..\r\n.\r\n");
  EXPECT_EQ(c->ReadReply(), "250 2.0.0 Ok: queued");
  auto msgs = rec_->Messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].from, "");
  EXPECT_EQ(msgs[0].text, "Subject: dots\r\n\r\n.leading dot\r\n..\r\nmiddle . dot\r\n.\r\n");
}

TEST_F(ServerSessionTest, RsetClearsTheTransaction) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test>"), "250 2.1.0 Ok");
  EXPECT_EQ(Cmd(*c, "RCPT TO:<x@mx.test>"), "250 2.1.5 Ok");
  EXPECT_EQ(Cmd(*c, "RSET"), "250 2.0.0 Ok");
  EXPECT_EQ(Cmd(*c, "DATA"), "503 5.5.1 Need MAIL command");
  EXPECT_EQ(Cmd(*c, "RCPT TO:<x@mx.test>"), "503 5.5.1 Need MAIL before RCPT");
  // A new transaction after RSET carries only its own recipients.
  c->Send("MAIL FROM:<b@client.test>\r\nRCPT TO:<y@mx.test>\r\nDATA\r\n");
  c->ReadReply();
  c->ReadReply();
  EXPECT_EQ(Code(c->ReadReply()), "354");
  EXPECT_EQ(Cmd(*c, "hello\r\n."), "250 2.0.0 Ok: queued");
  auto msgs = rec_->Messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].from, "b@client.test");
  EXPECT_EQ(msgs[0].rcpts, std::vector<std::string>{"y@mx.test"});
}

TEST_F(ServerSessionTest, QuitAnswers221AndCloses) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  c->Send("QUIT\r\nNOOP\r\n");  // nothing after QUIT is answered
  EXPECT_EQ(c->ReadReply(), "221 2.0.0 Bye");
  auto rest = c->ReadToEof();
  ASSERT_TRUE(rest.has_value()) << "the server did not close the connection";
  EXPECT_EQ(*rest, "");
}

TEST_F(ServerSessionTest, A421FromTheHandlerClosesTheSession) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  c->Send("MAIL FROM:<shutdown@client.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n");
  c->ReadReply();
  c->ReadReply();
  EXPECT_EQ(Code(c->ReadReply()), "354");
  c->Send("x\r\n.\r\n");
  EXPECT_EQ(c->ReadReply(), "421 4.3.2 Shutting down");
  auto rest = c->ReadToEof();  // RFC 5321 section 3.8: the server closes after 421
  ASSERT_TRUE(rest.has_value()) << "the server did not close the connection";
  EXPECT_EQ(*rest, "");
}

TEST_F(ServerSessionTest, IdleClientGets421AfterTheTimeout) {
  ServerOptions o = BaseOptions();
  o.timeout = milliseconds(200);
  Start(o);
  auto start = std::chrono::steady_clock::now();
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->ReadReply(), "421 4.4.2 mx.test timeout, closing connection");
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(150));
  EXPECT_LT(elapsed, milliseconds(2000));
  EXPECT_TRUE(c->ReadToEof().has_value());
}

TEST_F(ServerSessionTest, TimeoutInTheMiddleOfDataIs421) {
  ServerOptions o = BaseOptions();
  o.timeout = milliseconds(200);
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  c->Send("HELO c\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n");
  for (int i = 0; i < 3; ++i) c->ReadReply();
  EXPECT_EQ(Code(c->ReadReply()), "354");
  c->Send("Subject: half a message\r\n");
  EXPECT_EQ(c->ReadReply(), "421 4.4.2 mx.test timeout, closing connection");
  EXPECT_TRUE(c->ReadToEof().has_value());
  EXPECT_TRUE(rec_->Messages().empty());
}

TEST_F(ServerSessionTest, TwentyErrorsEndTheSessionWith421) {
  Start(BaseOptions());
  auto c = Connect();
  ASSERT_TRUE(c);
  std::string junk;
  for (int i = 0; i < 20; ++i) junk += "BOGUS\r\n";
  c->Send(junk);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Code(c->ReadReply()), "500") << i;
  EXPECT_EQ(c->ReadReply(), "421 4.7.0 mx.test too many errors, closing");
  EXPECT_TRUE(c->ReadToEof().has_value());
}

TEST_F(ServerSessionTest, TwentyOverlongLinesEndTheSessionWith421) {
  ServerOptions o = BaseOptions();
  o.timeout = milliseconds(500);  // with the bug, the session waits for this instead
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  std::string junk;
  for (int i = 0; i < 20; ++i) junk += std::string(1100, 'x') + "\r\n";
  c->Send(junk);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(c->ReadReply(), "500 5.5.2 Line too long") << i;
  // Overlong lines count towards the error limit like any other bad command.
  std::string last = c->ReadReply();
  EXPECT_EQ(last, "421 4.7.0 mx.test too many errors, closing");
}

TEST_F(ServerSessionTest, AuthPlainWithInitialResponse) {
  ServerOptions o = BaseOptions();
  o.auth = true;
  o.auth_requires_tls = false;
  o.auth_required = true;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test>"), "530 5.7.0 Authentication required");
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN " + Base64(std::string("\0alice\0secret", 13))),
            "235 2.7.0 Authentication successful");
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN " + Base64(std::string("\0alice\0secret", 13))),
            "503 5.5.1 Already authenticated");
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test>"), "250 2.1.0 Ok");
  EXPECT_EQ(rec_->Auths(), (std::vector<std::pair<std::string, std::string>>{{"alice", "secret"}}));
}

TEST_F(ServerSessionTest, AuthPlainWithContinuation) {
  ServerOptions o = BaseOptions();
  o.auth = true;
  o.auth_requires_tls = false;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN"), "334 ");
  // With an authorization identity, which is ignored.
  EXPECT_EQ(Cmd(*c, Base64(std::string("admin\0alice\0secret", 18))),
            "235 2.7.0 Authentication successful");
  EXPECT_EQ(rec_->Auths(), (std::vector<std::pair<std::string, std::string>>{{"alice", "secret"}}));
}

TEST_F(ServerSessionTest, AuthLogin) {
  ServerOptions o = BaseOptions();
  o.auth = true;
  o.auth_requires_tls = false;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "AUTH LOGIN"), "334 VXNlcm5hbWU6");
  EXPECT_EQ(Cmd(*c, Base64("alice")), "334 UGFzc3dvcmQ6");
  EXPECT_EQ(Cmd(*c, Base64("secret")), "235 2.7.0 Authentication successful");
  // After AUTH, EHLO stops offering it.
  EXPECT_FALSE(Has(Ehlo(*c), "AUTH"));
}

TEST_F(ServerSessionTest, AuthLoginWithInitialUsername) {
  ServerOptions o = BaseOptions();
  o.auth = true;
  o.auth_requires_tls = false;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "AUTH LOGIN " + Base64("alice")), "334 UGFzc3dvcmQ6");
  EXPECT_EQ(Cmd(*c, Base64("secret")), "235 2.7.0 Authentication successful");
}

TEST_F(ServerSessionTest, AuthCanceledWithStar) {
  ServerOptions o = BaseOptions();
  o.auth = true;
  o.auth_requires_tls = false;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "AUTH LOGIN"), "334 VXNlcm5hbWU6");
  EXPECT_EQ(Cmd(*c, "*"), "501 5.0.0 Authentication canceled");
  EXPECT_EQ(Cmd(*c, "AUTH LOGIN"), "334 VXNlcm5hbWU6");
  EXPECT_EQ(Cmd(*c, Base64("alice")), "334 UGFzc3dvcmQ6");
  EXPECT_EQ(Cmd(*c, "*"), "501 5.0.0 Authentication canceled");
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN"), "334 ");
  EXPECT_EQ(Cmd(*c, "*"), "501 5.0.0 Authentication canceled");
  EXPECT_TRUE(rec_->Auths().empty());
  // Still unauthenticated and still talking.
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN " + Base64(std::string("\0alice\0secret", 13))),
            "235 2.7.0 Authentication successful");
}

TEST_F(ServerSessionTest, AuthBadCredentialsAre535AndMalformedAre501) {
  ServerOptions o = BaseOptions();
  o.auth = true;
  o.auth_requires_tls = false;
  o.auth_required = true;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN " + Base64(std::string("\0alice\0secret", 13))),
            "503 5.5.1 Send EHLO first");
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN " + Base64(std::string("\0alice\0wrong", 12))),
            "535 5.7.8 Authentication credentials invalid");
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN !!!notbase64"), "501 5.5.2 Malformed AUTH PLAIN response");
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN " + Base64("no separators")),
            "501 5.5.2 Malformed AUTH PLAIN response");
  EXPECT_EQ(Cmd(*c, "AUTH CRAM-MD5"), "504 5.5.4 Unrecognized authentication mechanism");
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test>"), "530 5.7.0 Authentication required");
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN " + Base64(std::string("\0alice\0secret", 13))),
            "235 2.7.0 Authentication successful");
}

TEST_F(ServerSessionTest, AuthBeforeTlsIs538WhenTlsIsRequired) {
  ServerOptions o = BaseOptions();
  o.tls = Tls();
  o.auth = true;
  o.auth_requires_tls = true;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN " + Base64(std::string("\0alice\0secret", 13))),
            "538 5.7.11 Encryption required for requested authentication mechanism");
  EXPECT_TRUE(rec_->Auths().empty());
  // After STARTTLS the same credentials work.
  ASSERT_EQ(Cmd(*c, "STARTTLS"), "220 2.0.0 Ready to start TLS");
  std::string error;
  ASSERT_TRUE(c->StartTlsClient(&error)) << error;
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "AUTH PLAIN " + Base64(std::string("\0alice\0secret", 13))),
            "235 2.7.0 Authentication successful");
}

TEST_F(ServerSessionTest, StartTlsForgetsAnAuthenticationMadeBeforeIt) {
  ServerOptions o = BaseOptions();
  o.tls = Tls();
  o.auth = true;
  o.auth_requires_tls = false;
  o.auth_required = true;
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  // Sent in clear, so possibly by a man in the middle before the client's own STARTTLS.
  ASSERT_EQ(Cmd(*c, "AUTH PLAIN " + Base64(std::string("\0alice\0secret", 13))),
            "235 2.7.0 Authentication successful");
  ASSERT_EQ(Cmd(*c, "STARTTLS"), "220 2.0.0 Ready to start TLS");
  std::string error;
  ASSERT_TRUE(c->StartTlsClient(&error)) << error;
  std::string ehlo = Ehlo(*c);
  std::string mail = Cmd(*c, "MAIL FROM:<a@client.test>");
  // RFC 3207 section 4.2: after the handshake the server forgets an AUTH made in clear.
  EXPECT_TRUE(Has(ehlo, "AUTH PLAIN LOGIN")) << ehlo;
  EXPECT_EQ(mail, "530 5.7.0 Authentication required");
}

TEST_F(ServerSessionTest, StartTlsThenAMessage) {
  ServerOptions o = BaseOptions();
  o.tls = Tls();
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test>"), "250 2.1.0 Ok");
  ASSERT_EQ(Cmd(*c, "STARTTLS"), "220 2.0.0 Ready to start TLS");
  std::string error;
  ASSERT_TRUE(c->StartTlsClient(&error)) << error;
  // RFC 3207 section 4.2: the state is reset; the client must EHLO again.
  EXPECT_EQ(Cmd(*c, "MAIL FROM:<a@client.test>"), "503 5.5.1 Send EHLO first");
  Ehlo(*c);
  EXPECT_EQ(Cmd(*c, "STARTTLS"), "502 5.5.1 STARTTLS not available");
  c->Send("MAIL FROM:<a@client.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n");
  EXPECT_EQ(c->ReadReply(), "250 2.1.0 Ok");
  EXPECT_EQ(c->ReadReply(), "250 2.1.5 Ok");
  EXPECT_EQ(Code(c->ReadReply()), "354");
  EXPECT_EQ(Cmd(*c, "over TLS\r\n."), "250 2.0.0 Ok: queued");
  EXPECT_EQ(Cmd(*c, "QUIT"), "221 2.0.0 Bye");
  auto msgs = rec_->Messages();
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].text, "over TLS\r\n");
}

TEST_F(ServerSessionTest, CommandsPipelinedBehindStartTlsAreDiscarded) {
  ServerOptions o = BaseOptions();
  o.tls = Tls();
  Start(o);
  auto c = Connect();
  ASSERT_TRUE(c);
  Ehlo(*c);
  // CVE-2011-0411: what follows STARTTLS in the same packet was sent in clear, possibly injected.
  c->Send("STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\nRCPT TO:<x@mx.test>\r\n");
  ASSERT_EQ(c->ReadReply(), "220 2.0.0 Ready to start TLS");
  std::string error;
  ASSERT_TRUE(c->StartTlsClient(&error)) << error;
  // The first reply over TLS answers our EHLO, not the injected commands.
  EXPECT_EQ(Ehlo(*c).substr(0, 12), "250-mx.test\n");
  EXPECT_EQ(Cmd(*c, "RCPT TO:<x@mx.test>"), "503 5.5.1 Need MAIL before RCPT");
  EXPECT_TRUE(rec_->Mails().empty());
}

// Without the listener: RunServerSession on a socket accepted here, to see its SessionInfo.
asio::awaitable<void> ServeOne(tcp::acceptor* acceptor, ServerOptions options,
                               ServerHandler* handler, SessionInfo* info) {
  auto [ec, socket] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;
  Stream stream(std::move(socket));
  SessionInfo result = co_await RunServerSession(stream, options, *handler);
  *info = result;
}

// A client conversation with two messages, then QUIT.
void TwoMessagesThenQuit(uint16_t port) {
  auto c = Conn::Connect(port);
  ASSERT_TRUE(c);
  EXPECT_EQ(Code(c->ReadReply()), "220");
  c->Send("EHLO client.test\r\n");
  c->ReadReply();
  for (int i = 0; i < 2; ++i) {
    c->Send("MAIL FROM:<a@client.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n");
    c->ReadReply();
    c->ReadReply();
    EXPECT_EQ(Code(c->ReadReply()), "354");
    c->Send("m\r\n.\r\n");
    EXPECT_EQ(Code(c->ReadReply()), "250");
  }
  c->Send("QUIT\r\n");
  EXPECT_EQ(Code(c->ReadReply()), "221");
  EXPECT_TRUE(c->ReadToEof().has_value());
}

TEST(ServerSessionInfo, ReportsHeloAndMessages) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  uint16_t port = acceptor.local_endpoint().port();
  auto rec = std::make_shared<Recorder>();
  TestHandler handler(rec);
  SessionInfo info;
  asio::co_spawn(io, ServeOne(&acceptor, BaseOptions(), &handler, &info), asio::detached);
  std::thread t([&io] { io.run_for(std::chrono::seconds(5)); });
  TwoMessagesThenQuit(port);
  t.join();
  EXPECT_EQ(info.helo, "client.test");
  EXPECT_EQ(info.messages, 2u);
  EXPECT_FALSE(info.tls);
  EXPECT_FALSE(info.authenticated);
}

}  // namespace
}  // namespace mp::smtp
