// ClientSession over real loopback connections: against scripted fake servers (a blocking thread
// that checks every command on the wire and answers with canned replies), and against the real
// ServerSession for STARTTLS and AUTH.
#include "smtp/client_session.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "smtp/session_test_util.h"
#include "test_util.h"

namespace mp::smtp {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using test::Base64;
using test::Conn;
using test::ExpectLine;
using test::FakeServer;

constexpr char kMessage[] = "Subject: test\r\n\r\nbody\r\n";
constexpr char kEhloPipelining[] =
    "250-fake.test hello\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n"
    "250 ENHANCEDSTATUSCODES\r\n";
constexpr char kEhloPlain[] = "250-fake.test hello\r\n250 ENHANCEDSTATUSCODES\r\n";

struct Job {
  Envelope env;
  std::string message;
};

Job MakeJob(std::vector<std::string> rcpts, std::string message = kMessage) {
  Job j;
  j.env.mail_from = "s@client.test";
  j.env.recipients = std::move(rcpts);
  j.env.size = message.size();
  j.message = std::move(message);
  return j;
}

// One transaction's outcomes as text: "D 250 2.0.0 queued|P 550 5.1.1 no|T 451 ...".
struct TxResult {
  std::string outcomes;
  bool needs_reset = false;
};

struct ClientRun {
  OpenResult open;
  Extensions ext;
  std::string tls_version;
  std::vector<TxResult> txs;
  std::vector<bool> resets;  // Reset() results, after transactions that needed one
  bool usable_after = false;
  milliseconds elapsed{0};
  bool finished = false;
};

std::string Describe(const Transaction& t, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += "|";
    switch (t.Outcome(i)) {
      case RecipientOutcome::kPending:
        out += "?";
        break;
      case RecipientOutcome::kDelivered:
        out += "D";
        break;
      case RecipientOutcome::kTransient:
        out += "T";
        break;
      case RecipientOutcome::kPermanent:
        out += "P";
        break;
    }
    out += " " + t.DecidingReply(i).Summary();
  }
  return out;
}

// Open, each job as a transaction (RSET between them when needed), QUIT.
asio::awaitable<void> Drive(Stream* stream, ClientOptions options, std::vector<Job> jobs,
                            ClientRun* out) {
  ClientSession session(*stream, options);
  OpenResult open = co_await session.Open();
  out->open = open;
  out->ext = session.ServerExtensions();
  out->tls_version = stream->TlsVersion();
  if (open.ok) {
    for (const Job& job : jobs) {
      Transaction t(job.env, session.ServerExtensions());
      std::string_view message = job.message;
      co_await session.Send(t, message);
      EXPECT_TRUE(t.Done());
      out->txs.push_back({Describe(t, job.env.recipients.size()), t.NeedsReset()});
      if (!session.Usable()) break;
      if (t.NeedsReset()) {
        bool reset = co_await session.Reset();
        out->resets.push_back(reset);
      }
    }
    out->usable_after = session.Usable();
    co_await session.Quit();
  }
  out->finished = true;
}

// Connects to 127.0.0.1:port and runs Drive to its end on a fresh io_context.
ClientRun RunClient(uint16_t port, ClientOptions options, std::vector<Job> jobs = {}) {
  asio::io_context io;
  tcp::socket socket(io);
  error_code ec;
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  EXPECT_FALSE(ec) << ec.message();
  Stream stream(std::move(socket));
  ClientRun run;
  auto start = steady_clock::now();
  asio::co_spawn(io, Drive(&stream, std::move(options), std::move(jobs), &run), asio::detached);
  io.run_for(std::chrono::seconds(10));
  run.elapsed = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
  EXPECT_TRUE(run.finished) << "the client did not finish within 10 s";
  return run;
}

ClientOptions Options() {
  ClientOptions o;
  o.helo_name = "client.test";
  o.tls = TlsPolicy::kDisabled;
  auto two = std::chrono::seconds(2);
  o.timeouts = ClientTimeouts{two, two, two, two, two};
  return o;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

void Greet(Conn& c, const std::string& ehlo_reply) {
  c.Send("220 fake.test ESMTP\r\n");
  ExpectLine(c, "EHLO client.test");
  c.Send(ehlo_reply);
}

void ExpectQuit(Conn& c) {
  ExpectLine(c, "QUIT");
  c.Send("221 2.0.0 bye\r\n");
}

TEST(ClientSession, GreetingEhloAndMultiLineExtensions) {
  FakeServer server([](Conn& c) {
    Greet(c,
          "250-fake.test at your service\r\n250-PIPELINING\r\n250-SIZE 5000\r\n"
          "250-STARTTLS\r\n250-8BITMIME\r\n250 AUTH PLAIN LOGIN\r\n");
    ExpectQuit(c);  // no STARTTLS without a TLS context
  });
  ClientOptions o = Options();
  o.tls = TlsPolicy::kOpportunistic;  // but no context: TLS is not attempted
  ClientRun run = RunClient(server.port(), o);
  server.Join();
  EXPECT_TRUE(run.open.ok) << run.open.reply.Summary();
  EXPECT_EQ(run.ext.greeting_domain, "fake.test");
  EXPECT_TRUE(run.ext.pipelining);
  EXPECT_TRUE(run.ext.size_advertised);
  EXPECT_EQ(run.ext.max_size, 5000u);
  EXPECT_TRUE(run.ext.starttls);
  EXPECT_TRUE(run.ext.eight_bit_mime);
  EXPECT_EQ(run.ext.auth, (std::set<std::string>{"LOGIN", "PLAIN"}));
  EXPECT_TRUE(run.tls_version.empty());
}

TEST(ClientSession, EhloRefusedFallsBackToHeloWithoutExtensions) {
  FakeServer server([](Conn& c) {
    c.Send("220 fake.test old server\r\n");
    ExpectLine(c, "EHLO client.test");
    c.Send("500 5.5.1 command unrecognized\r\n");
    ExpectLine(c, "HELO client.test");
    c.Send("250 fake.test\r\n");
    // No SIZE, no BODY, and one command at a time: nothing follows until we answer.
    ExpectLine(c, "MAIL FROM:<s@client.test>");
    EXPECT_FALSE(c.DataWithin(milliseconds(100))) << "pipelined without PIPELINING";
    c.Send("250 ok\r\n");
    ExpectLine(c, "RCPT TO:<a@x.test>");
    EXPECT_FALSE(c.DataWithin(milliseconds(100))) << "pipelined without PIPELINING";
    c.Send("250 ok\r\n");
    ExpectLine(c, "RCPT TO:<b@x.test>");
    EXPECT_FALSE(c.DataWithin(milliseconds(100))) << "pipelined without PIPELINING";
    c.Send("550 no such user\r\n");
    ExpectLine(c, "DATA");
    c.Send("354 go ahead\r\n");
    EXPECT_EQ(c.ReadData(), std::string(kMessage) + ".\r\n");
    c.Send("250 queued\r\n");
    ExpectQuit(c);
  });
  Job job = MakeJob({"a@x.test", "b@x.test"});
  job.env.eight_bit = true;
  ClientRun run = RunClient(server.port(), Options(), {job});
  server.Join();
  ASSERT_TRUE(run.open.ok) << run.open.reply.Summary();
  EXPECT_FALSE(run.ext.pipelining);
  EXPECT_FALSE(run.ext.size_advertised);
  EXPECT_FALSE(run.ext.enhanced_status_codes);
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes, "D 250 queued|P 550 no such user");
}

TEST(ClientSession, Greeting421IsNotOkAndTriesTheNextHost) {
  FakeServer server([](Conn& c) { c.Send("421 4.3.2 fake.test busy, try later\r\n"); });
  ClientRun run = RunClient(server.port(), Options());
  server.Join();
  EXPECT_FALSE(run.open.ok);
  EXPECT_TRUE(run.open.next_host);
  EXPECT_EQ(run.open.reply.Summary(), "421 4.3.2 fake.test busy, try later");
  EXPECT_LT(run.elapsed, milliseconds(2000));
}

TEST(ClientSession, Greeting554IsNotOkAndQuits) {
  std::string after;
  FakeServer server([&after](Conn& c) {
    c.Send("554 5.7.1 no SMTP service here\r\n");
    auto line = c.ReadLine();
    after = line.value_or("<closed>");
    c.Send("221 bye\r\n");
  });
  ClientRun run = RunClient(server.port(), Options());
  server.Join();
  EXPECT_FALSE(run.open.ok);
  EXPECT_TRUE(run.open.next_host);
  EXPECT_EQ(run.open.reply.code, 554);
  EXPECT_EQ(after, "QUIT");  // never EHLO
}

TEST(ClientSession, Ehlo421IsNotOkWithoutHeloFallback) {
  std::string after;
  FakeServer server([&after](Conn& c) {
    Greet(c, "421 4.7.0 fake.test closing\r\n");
    after = c.ReadLine().value_or("<closed>");
    c.Send("221 bye\r\n");
  });
  ClientRun run = RunClient(server.port(), Options());
  server.Join();
  EXPECT_FALSE(run.open.ok);
  EXPECT_TRUE(run.open.next_host);
  EXPECT_EQ(run.open.reply.code, 421);
  EXPECT_NE(after, "HELO client.test");  // 421 ends the conversation, it is not "unknown command"
}

TEST(ClientSession, PipelinedGroupInOneWriteAndOutcomesPerRecipient) {
  std::string group;
  FakeServer server([&group](Conn& c) {
    Greet(c, kEhloPipelining);
    group = c.ReadChunk();
    // The replies arrive in one packet too; the client must match them up in order.
    c.Send(
        "250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n451 4.2.0 try later\r\n"
        "250 2.1.5 ok\r\n354 go ahead\r\n");
    EXPECT_EQ(c.ReadData(), std::string(kMessage) + ".\r\n");
    c.Send("250 2.0.0 queued as X1\r\n");
    ExpectQuit(c);
  });
  Job job = MakeJob({"a@x.test", "b@x.test", "c@x.test", "d@x.test"});
  job.env.eight_bit = true;
  ClientRun run = RunClient(server.port(), Options(), {job});
  server.Join();
  EXPECT_EQ(group, "MAIL FROM:<s@client.test> SIZE=" + std::to_string(job.message.size()) +
                       " BODY=8BITMIME\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n"
                       "RCPT TO:<c@x.test>\r\nRCPT TO:<d@x.test>\r\nDATA\r\n");
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes,
            "D 250 2.0.0 queued as X1|P 550 5.1.1 no such user|T 451 4.2.0 try later|"
            "D 250 2.0.0 queued as X1");
  EXPECT_FALSE(run.txs[0].needs_reset);
  EXPECT_TRUE(run.usable_after);
}

TEST(ClientSession, DataRefusedAfterTheMessageFailsTheAcceptedRecipients) {
  FakeServer server([](Conn& c) {
    Greet(c, kEhloPipelining);
    for (int i = 0; i < 4; ++i) c.ReadLine();  // MAIL, 2 RCPT, DATA
    c.Send("250 ok\r\n250 ok\r\n451 4.3.0 later\r\n354 go\r\n");
    EXPECT_TRUE(c.ReadData().has_value());
    c.Send("554 5.6.0 content refused\r\n");
    ExpectQuit(c);
  });
  ClientRun run = RunClient(server.port(), Options(), {MakeJob({"a@x.test", "b@x.test"})});
  server.Join();
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes, "P 554 5.6.0 content refused|T 451 4.3.0 later");
}

TEST(ClientSession, SizeIsSentOnlyWhenAdvertised) {
  std::string mail;
  FakeServer server([&mail](Conn& c) {
    Greet(c, "250-fake.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    mail = c.ReadLine().value_or("");
    c.ReadLine();
    c.ReadLine();
    c.Send("250 ok\r\n250 ok\r\n354 go\r\n");
    c.ReadData();
    c.Send("250 ok\r\n");
    ExpectQuit(c);
  });
  ClientRun run = RunClient(server.port(), Options(), {MakeJob({"a@x.test"})});
  server.Join();
  EXPECT_EQ(mail, "MAIL FROM:<s@client.test>");
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes, "D 250 ok");
}

TEST(ClientSession, MessageIsDotStuffedOnTheWire) {
  std::string data;
  FakeServer server([&data](Conn& c) {
    Greet(c, kEhloPipelining);
    for (int i = 0; i < 3; ++i) c.ReadLine();
    c.Send("250 ok\r\n250 ok\r\n354 go\r\n");
    data = c.ReadData().value_or("<eof>");
    c.Send("250 ok\r\n");
    ExpectQuit(c);
  });
  std::string message =
      "Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nmiddle . dot\r\nbare\nlf\r\n"
      "no final newline";
  ClientRun run = RunClient(server.port(), Options(), {MakeJob({"a@x.test"}, message)});
  server.Join();
  EXPECT_EQ(data,
            "Subject: dots\r\n\r\n..leading dot\r\n...two dots\r\n..\r\nmiddle . dot\r\n"
            "bare\r\nlf\r\nno final newline\r\n.\r\n");
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes, "D 250 ok");
}

TEST(ClientSession, ConnectionDroppedBeforeTheFinalReplyDefersPendingRecipients) {
  FakeServer server([](Conn& c) {
    Greet(c, kEhloPipelining);
    for (int i = 0; i < 4; ++i) c.ReadLine();
    c.Send("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n");
    EXPECT_TRUE(c.ReadData().has_value());
    // Gone without a word: the message may or may not have been taken.
  });
  ClientRun run = RunClient(server.port(), Options(), {MakeJob({"a@x.test", "b@x.test"})});
  server.Join();
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes,
            "T 451 4.4.2 connection lost: closed by the server|P 550 5.1.1 unknown");
  EXPECT_FALSE(run.usable_after);
}

TEST(ClientSession, ConnectionDroppedAtRcptDefersEveryRecipient) {
  FakeServer server([](Conn& c) {
    Greet(c, kEhloPipelining);
    for (int i = 0; i < 4; ++i) c.ReadLine();
    c.Send("250 ok\r\n250 ok\r\n");  // then gone
  });
  ClientRun run = RunClient(server.port(), Options(), {MakeJob({"a@x.test", "b@x.test"})});
  server.Join();
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes,
            "T 451 4.4.2 connection lost: closed by the server|"
            "T 451 4.4.2 connection lost: closed by the server");
}

TEST(ClientSession, LostConnectionReasonIsNotRepeated) {
  FakeServer server([](Conn& c) {
    Greet(c, kEhloPipelining);
    for (int i = 0; i < 3; ++i) c.ReadLine();
    c.Send("250 ok\r\n");  // then gone
  });
  ClientRun run = RunClient(server.port(), Options(), {MakeJob({"a@x.test"})});
  server.Join();
  ASSERT_EQ(run.txs.size(), 1u);
  // Once: "connection lost: connection lost: ..." was a bug.
  EXPECT_EQ(run.txs[0].outcomes, "T 451 4.4.2 connection lost: closed by the server");
}

TEST(ClientSession, ServerThatNeverAnswersTimesOutWith451) {
  bool client_closed = false;
  FakeServer server([&client_closed](Conn& c) {
    Greet(c, kEhloPlain);
    ExpectLine(c, "MAIL FROM:<s@client.test>");
    c.SetDeadline(milliseconds(3000));
    client_closed = c.ReadToEof().has_value();  // silence until the client gives up
  });
  ClientOptions o = Options();
  o.timeouts.command = milliseconds(200);
  ClientRun run = RunClient(server.port(), o, {MakeJob({"a@x.test", "b@x.test"})});
  server.Join();
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes,
            "T 451 4.4.2 connection lost: timeout waiting for a reply|"
            "T 451 4.4.2 connection lost: timeout waiting for a reply");
  EXPECT_GE(run.elapsed, milliseconds(200));
  EXPECT_LT(run.elapsed, milliseconds(1500));
  EXPECT_TRUE(client_closed);
}

TEST(ClientSession, GreetingTimeoutIsNotOk) {
  FakeServer server([](Conn& c) {
    c.SetDeadline(milliseconds(3000));
    c.ReadToEof();
  });
  ClientOptions o = Options();
  o.timeouts.greeting = milliseconds(200);
  ClientRun run = RunClient(server.port(), o);
  server.Join();
  EXPECT_FALSE(run.open.ok);
  EXPECT_TRUE(run.open.next_host);
  EXPECT_EQ(run.open.reply.code, 451);
  ASSERT_TRUE(run.open.reply.enhanced);
  EXPECT_EQ(run.open.reply.enhanced->ToString(), "4.4.2");
  EXPECT_LT(run.elapsed, milliseconds(1500));
}

TEST(ClientSession, FinalReplyTimeoutUsesTheDataEndTimeout) {
  FakeServer server([](Conn& c) {
    Greet(c, kEhloPipelining);
    for (int i = 0; i < 3; ++i) c.ReadLine();
    c.Send("250 ok\r\n250 ok\r\n354 go\r\n");
    c.ReadData();
    c.SetDeadline(milliseconds(3000));
    c.ReadToEof();
  });
  ClientOptions o = Options();
  o.timeouts.data_end = milliseconds(200);
  ClientRun run = RunClient(server.port(), o, {MakeJob({"a@x.test"})});
  server.Join();
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes, "T 451 4.4.2 connection lost: timeout waiting for a reply");
  EXPECT_LT(run.elapsed, milliseconds(1500));
}

TEST(ClientSession, RsetAfterAFailedTransactionThenTheNextOne) {
  std::vector<std::string> lines;
  FakeServer server([&lines](Conn& c) {
    Greet(c, kEhloPipelining);
    for (int i = 0; i < 3; ++i) lines.push_back(c.ReadLine().value_or(""));
    c.Send("250 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n");
    lines.push_back(c.ReadLine().value_or(""));
    c.Send("250 2.0.0 reset\r\n");
    for (int i = 0; i < 3; ++i) lines.push_back(c.ReadLine().value_or(""));
    c.Send("250 ok\r\n250 ok\r\n354 go\r\n");
    c.ReadData();
    c.Send("250 2.0.0 queued\r\n");
    ExpectQuit(c);
  });
  ClientRun run =
      RunClient(server.port(), Options(), {MakeJob({"gone@x.test"}), MakeJob({"b@x.test"})});
  server.Join();
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[3], "RSET");
  EXPECT_EQ(lines[5], "RCPT TO:<b@x.test>");
  ASSERT_EQ(run.txs.size(), 2u);
  EXPECT_EQ(run.txs[0].outcomes, "P 550 5.1.1 unknown");
  EXPECT_TRUE(run.txs[0].needs_reset);
  EXPECT_EQ(run.resets, std::vector<bool>{true});
  EXPECT_EQ(run.txs[1].outcomes, "D 250 2.0.0 queued");
}

TEST(ClientSession, RsetAfterEveryRecipientRefusedWithoutPipelining) {
  std::vector<std::string> lines;
  FakeServer server([&lines](Conn& c) {
    Greet(c, kEhloPlain);
    // A small stateful server: MAIL inside an open transaction is refused, as real ones do.
    bool in_mail = false;
    for (;;) {
      std::optional<std::string> line = c.ReadLine();
      if (!line) return;
      lines.push_back(*line);
      if (line->rfind("MAIL", 0) == 0) {
        c.Send(in_mail ? "503 5.5.1 Nested MAIL command\r\n" : "250 ok\r\n");
        in_mail = true;
      } else if (line->rfind("RCPT", 0) == 0) {
        c.Send(Has(*line, "gone@") ? "550 5.1.1 unknown\r\n" : "250 ok\r\n");
      } else if (*line == "DATA") {
        c.Send("354 go\r\n");
        c.ReadData();
        c.Send("250 2.0.0 queued\r\n");
        in_mail = false;
      } else if (*line == "RSET") {
        c.Send("250 ok\r\n");
        in_mail = false;
      } else if (*line == "QUIT") {
        c.Send("221 bye\r\n");
        return;
      }
    }
  });
  ClientRun run =
      RunClient(server.port(), Options(), {MakeJob({"gone@x.test"}), MakeJob({"b@x.test"})});
  server.Join();
  ASSERT_EQ(run.txs.size(), 2u);
  EXPECT_EQ(run.txs[0].outcomes, "P 550 5.1.1 unknown");
  ASSERT_GE(lines.size(), 3u);
  // Without PIPELINING too, a transaction whose recipients were all refused is reset.
  EXPECT_EQ(lines[2], "RSET");
  EXPECT_TRUE(run.txs[0].needs_reset);
  EXPECT_EQ(run.txs[1].outcomes, "D 250 2.0.0 queued");
  EXPECT_EQ(lines, (std::vector<std::string>{"MAIL FROM:<s@client.test>", "RCPT TO:<gone@x.test>",
                                             "RSET", "MAIL FROM:<s@client.test>",
                                             "RCPT TO:<b@x.test>", "DATA", "QUIT"}));
}

TEST(ClientSession, Data354WithNoAcceptedRecipientSendsOnlyTheEndOfData) {
  std::string data;
  std::string after;
  FakeServer server([&](Conn& c) {
    Greet(c, kEhloPipelining);
    for (int i = 0; i < 3; ++i) c.ReadLine();
    c.Send("250 ok\r\n550 5.1.1 unknown\r\n354 go\r\n");  // a server that says 354 anyway
    data = c.ReadData().value_or("<eof>");
    c.Send("554 5.5.1 no valid recipients\r\n");
    after = c.ReadLine().value_or("");
    c.Send("250 ok\r\n");
    ExpectQuit(c);
  });
  ClientRun run = RunClient(server.port(), Options(), {MakeJob({"gone@x.test"})});
  server.Join();
  EXPECT_EQ(data, ".\r\n");  // RFC 2920 section 3.1: never the message
  EXPECT_EQ(after, "RSET");
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes, "P 550 5.1.1 unknown");
}

TEST(ClientSession, MailRefusedFailsEveryRecipient) {
  FakeServer server([](Conn& c) {
    Greet(c, kEhloPipelining);
    for (int i = 0; i < 4; ++i) c.ReadLine();
    c.Send(
        "451 4.7.1 sender deferred\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n"
        "503 5.5.1 need MAIL\r\n");
    ExpectLine(c, "RSET");
    c.Send("250 ok\r\n");
    ExpectQuit(c);
  });
  ClientRun run = RunClient(server.port(), Options(), {MakeJob({"a@x.test", "b@x.test"})});
  server.Join();
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes, "T 451 4.7.1 sender deferred|T 451 4.7.1 sender deferred");
  EXPECT_EQ(run.resets, std::vector<bool>{true});
}

TEST(ClientSession, TlsRequiredWithoutStartTlsIsNotOk) {
  FakeServer server([](Conn& c) {
    Greet(c, kEhloPipelining);
    ExpectQuit(c);
  });
  auto ctx = MakeClientTlsContext();
  ClientOptions o = Options();
  o.tls = TlsPolicy::kRequired;
  o.tls_context = ctx.get();
  o.tls_host = "localhost";
  ClientRun run = RunClient(server.port(), o, {MakeJob({"a@x.test"})});
  server.Join();
  EXPECT_FALSE(run.open.ok);
  EXPECT_TRUE(run.open.next_host);
  EXPECT_EQ(run.open.reply.code, 451);
  ASSERT_TRUE(run.open.reply.enhanced);
  EXPECT_EQ(run.open.reply.enhanced->ToString(), "4.7.5");
  EXPECT_TRUE(run.txs.empty());
}

TEST(ClientSession, StartTlsRefusedWhenRequiredIsNotOk) {
  FakeServer server([](Conn& c) {
    Greet(c, "250-fake.test\r\n250 STARTTLS\r\n");
    ExpectLine(c, "STARTTLS");
    c.Send("454 4.7.0 TLS not available\r\n");
    ExpectQuit(c);
  });
  auto ctx = MakeClientTlsContext();
  ClientOptions o = Options();
  o.tls = TlsPolicy::kRequired;
  o.tls_context = ctx.get();
  ClientRun run = RunClient(server.port(), o);
  server.Join();
  EXPECT_FALSE(run.open.ok);
  EXPECT_EQ(run.open.reply.code, 451);
  ASSERT_TRUE(run.open.reply.enhanced);
  EXPECT_EQ(run.open.reply.enhanced->ToString(), "4.7.5");
}

TEST(ClientSession, StartTlsRefusedWhenOpportunisticCarriesOnInClear) {
  FakeServer server([](Conn& c) {
    Greet(c, "250-fake.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
    ExpectLine(c, "STARTTLS");
    c.Send("454 4.7.0 TLS not available\r\n");
    for (int i = 0; i < 3; ++i) c.ReadLine();
    c.Send("250 ok\r\n250 ok\r\n354 go\r\n");
    c.ReadData();
    c.Send("250 ok\r\n");
    ExpectQuit(c);
  });
  auto ctx = MakeClientTlsContext();
  ClientOptions o = Options();
  o.tls = TlsPolicy::kOpportunistic;
  o.tls_context = ctx.get();
  ClientRun run = RunClient(server.port(), o, {MakeJob({"a@x.test"})});
  server.Join();
  EXPECT_TRUE(run.open.ok) << run.open.reply.Summary();
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes, "D 250 ok");
}

TEST(ClientSession, CredentialsAreNotSentWithoutTls) {
  std::string next;
  FakeServer server([&next](Conn& c) {
    Greet(c, "250-fake.test\r\n250 AUTH PLAIN LOGIN\r\n");  // no STARTTLS
    next = c.ReadLine().value_or("<closed>");
    c.Send("221 bye\r\n");
  });
  auto ctx = MakeClientTlsContext();
  ClientOptions o = Options();
  o.tls = TlsPolicy::kOpportunistic;
  o.tls_context = ctx.get();
  o.auth_user = "alice";
  o.auth_password = "secret";
  ClientRun run = RunClient(server.port(), o, {MakeJob({"a@x.test"})});
  server.Join();
  EXPECT_EQ(next, "QUIT");
  EXPECT_FALSE(run.open.ok);
  EXPECT_EQ(run.open.reply.code, 451);  // deferred: a configuration matter, never a bounce
  EXPECT_TRUE(run.txs.empty());
}

TEST(ClientSession, FailedHandshakeIsReportedAsTlsFailure) {
  FakeServer server([](Conn& c) {
    Greet(c, "250-fake.test\r\n250 STARTTLS\r\n");
    ExpectLine(c, "STARTTLS");
    c.Send("220 go ahead\r\n");
    c.ReadChunk();  // the ClientHello
    c.Send("this is not a TLS record\r\n");
    c.ReadToEof();
  });
  auto ctx = MakeClientTlsContext();
  ClientOptions o = Options();
  o.tls = TlsPolicy::kOpportunistic;
  o.tls_context = ctx.get();
  ClientRun run = RunClient(server.port(), o, {MakeJob({"a@x.test"})});
  server.Join();
  EXPECT_FALSE(run.open.ok);
  EXPECT_TRUE(run.open.tls_failed);  // the caller may retry in clear (opportunistic)
  EXPECT_TRUE(run.open.next_host);
  EXPECT_EQ(run.open.reply.code, 451);
  ASSERT_TRUE(run.open.reply.enhanced);
  EXPECT_EQ(run.open.reply.enhanced->ToString(), "4.7.5");
  EXPECT_LT(run.elapsed, milliseconds(1500));
}

TEST(ClientSession, AuthPlainOnTheWire) {
  std::string auth;
  FakeServer server([&auth](Conn& c) {
    Greet(c, "250-fake.test\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME\r\n");
    auth = c.ReadLine().value_or("");
    c.Send("235 2.7.0 ok\r\n");
    ExpectQuit(c);
  });
  ClientOptions o = Options();
  o.auth_user = "alice";
  o.auth_password = "secret";
  ClientRun run = RunClient(server.port(), o);
  server.Join();
  EXPECT_TRUE(run.open.ok) << run.open.reply.Summary();
  EXPECT_EQ(auth, "AUTH PLAIN AGFsaWNlAHNlY3JldA==");  // "\0alice\0secret"
  EXPECT_EQ(auth, "AUTH PLAIN " + Base64(std::string("\0alice\0secret", 13)));
}

TEST(ClientSession, AuthLoginOnTheWire) {
  std::vector<std::string> lines;
  FakeServer server([&lines](Conn& c) {
    Greet(c, "250-fake.test\r\n250 AUTH LOGIN\r\n");
    lines.push_back(c.ReadLine().value_or(""));
    c.Send("334 VXNlcm5hbWU6\r\n");
    lines.push_back(c.ReadLine().value_or(""));
    c.Send("334 UGFzc3dvcmQ6\r\n");
    lines.push_back(c.ReadLine().value_or(""));
    c.Send("235 2.7.0 ok\r\n");
    ExpectQuit(c);
  });
  ClientOptions o = Options();
  o.auth_user = "alice";
  o.auth_password = "secret";
  ClientRun run = RunClient(server.port(), o);
  server.Join();
  EXPECT_TRUE(run.open.ok) << run.open.reply.Summary();
  EXPECT_EQ(lines, (std::vector<std::string>{"AUTH LOGIN", "YWxpY2U=", "c2VjcmV0"}));
}

TEST(ClientSession, AuthRefusedIsDeferredNeverBounced) {
  FakeServer server([](Conn& c) {
    Greet(c, "250-fake.test\r\n250 AUTH PLAIN\r\n");
    c.ReadLine();
    c.Send("535 5.7.8 bad credentials\r\n");
    ExpectQuit(c);
  });
  ClientOptions o = Options();
  o.auth_user = "alice";
  o.auth_password = "wrong";
  ClientRun run = RunClient(server.port(), o, {MakeJob({"a@x.test"})});
  server.Join();
  EXPECT_FALSE(run.open.ok);
  EXPECT_TRUE(run.open.reply.Transient()) << run.open.reply.Summary();
  ASSERT_TRUE(run.open.reply.enhanced);
  EXPECT_EQ(run.open.reply.enhanced->ToString(), "4.7.8");
  EXPECT_NE(run.open.reply.Summary().find("535"), std::string::npos);  // the server's words kept
  EXPECT_TRUE(run.txs.empty());
}

TEST(ClientSession, AuthLoginRefusedAtTheUsernameIsDeferred) {
  FakeServer server([](Conn& c) {
    Greet(c, "250-fake.test\r\n250 AUTH LOGIN\r\n");
    ExpectLine(c, "AUTH LOGIN");
    c.Send("334 VXNlcm5hbWU6\r\n");
    c.ReadLine();
    c.Send("535 5.7.8 no such user\r\n");
    ExpectQuit(c);  // and no password after the refusal
  });
  ClientOptions o = Options();
  o.auth_user = "alice";
  o.auth_password = "secret";
  ClientRun run = RunClient(server.port(), o);
  server.Join();
  EXPECT_FALSE(run.open.ok);
  EXPECT_EQ(run.open.reply.code, 451);
}

TEST(ClientSession, AuthWithoutAUsableMechanismIsDeferred) {
  FakeServer server([](Conn& c) {
    Greet(c, "250-fake.test\r\n250 AUTH CRAM-MD5\r\n");
    ExpectQuit(c);
  });
  ClientOptions o = Options();
  o.auth_user = "alice";
  o.auth_password = "secret";
  ClientRun run = RunClient(server.port(), o);
  server.Join();
  EXPECT_FALSE(run.open.ok);
  EXPECT_EQ(run.open.reply.code, 451);
}

// The real ServerSession with STARTTLS and a self-signed certificate, for the TLS policies.
class AcceptAll final : public ServerHandler {
 public:
  explicit AcceptAll(std::shared_ptr<std::vector<std::string>> got) : got_(std::move(got)) {}
  asio::awaitable<bool> Authenticate(std::string user, std::string password) override {
    co_return user == "alice" && password == "secret";
  }
  asio::awaitable<ServerReply> OnData(std::string from, std::vector<std::string> rcpts,
                                      std::string message) override {
    std::lock_guard lock(mu_);
    got_->push_back(message);
    co_return ServerReply{250, "2.0.0 queued"};
  }

 private:
  static inline std::mutex mu_;
  std::shared_ptr<std::vector<std::string>> got_;
};

class ClientSessionTls : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(test::MakeSelfSignedCert(dir_.path(), &cert_, &error)) << error;
    server_tls_ = MakeServerTlsContext(cert_.cert_file, cert_.key_file, &error);
    ASSERT_TRUE(server_tls_) << error;
  }
  void StartServer(bool auth) {
    ServerOptions o;
    o.hostname = "localhost";
    o.tls = server_tls_.get();
    o.auth = auth;
    o.auth_required = auth;
    o.timeout = std::chrono::seconds(5);
    auto got = got_;
    server_ = std::make_unique<test::TestSmtpServer>(
        o, [got] { return std::make_unique<AcceptAll>(got); });
  }
  std::vector<std::string> Got() {
    server_.reset();  // the sessions are done: no more writes to got_
    return *got_;
  }
  ClientOptions TlsOptions(TlsPolicy policy, asio::ssl::context* ctx) {
    ClientOptions o = Options();
    o.tls = policy;
    o.tls_context = ctx;
    o.tls_host = "localhost";
    return o;
  }

  mp::test::TempDir dir_;
  test::TestCert cert_;
  std::unique_ptr<asio::ssl::context> server_tls_;
  std::shared_ptr<std::vector<std::string>> got_ = std::make_shared<std::vector<std::string>>();
  std::unique_ptr<test::TestSmtpServer> server_;
};

TEST_F(ClientSessionTls, OpportunisticUsesStartTls) {
  StartServer(false);
  auto ctx = MakeClientTlsContext();
  ClientRun run = RunClient(server_->port(), TlsOptions(TlsPolicy::kOpportunistic, ctx.get()),
                            {MakeJob({"a@x.test"})});
  EXPECT_TRUE(run.open.ok) << run.open.reply.Summary();
  EXPECT_FALSE(run.tls_version.empty());
  EXPECT_FALSE(run.ext.starttls);  // the EHLO after TLS no longer offers it
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes, "D 250 2.0.0 queued");
  EXPECT_EQ(Got(), std::vector<std::string>{kMessage});
  EXPECT_LT(run.elapsed, milliseconds(1500));
}

TEST_F(ClientSessionTls, RequiredAcceptsAnUnverifiedCertificate) {
  StartServer(false);
  auto ctx = MakeClientTlsContext();
  ClientRun run = RunClient(server_->port(), TlsOptions(TlsPolicy::kRequired, ctx.get()),
                            {MakeJob({"a@x.test"})});
  EXPECT_TRUE(run.open.ok) << run.open.reply.Summary();
  EXPECT_FALSE(run.tls_version.empty());
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes, "D 250 2.0.0 queued");
}

TEST_F(ClientSessionTls, VerifyRefusesASelfSignedCertificate) {
  StartServer(false);
  auto ctx = MakeClientTlsContext();
  ClientRun run = RunClient(server_->port(), TlsOptions(TlsPolicy::kVerify, ctx.get()),
                            {MakeJob({"a@x.test"})});
  EXPECT_FALSE(run.open.ok);
  EXPECT_TRUE(run.open.next_host);
  EXPECT_EQ(run.open.reply.code, 451);
  ASSERT_TRUE(run.open.reply.enhanced);
  EXPECT_EQ(run.open.reply.enhanced->ToString(), "4.7.5");
  EXPECT_TRUE(run.open.tls_failed);
  EXPECT_TRUE(Got().empty());
}

TEST_F(ClientSessionTls, VerifyAcceptsATrustedCertificateForTheRightName) {
  StartServer(false);
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(cert_.cert_file);
  ClientRun run =
      RunClient(server_->port(), TlsOptions(TlsPolicy::kVerify, &ctx), {MakeJob({"a@x.test"})});
  EXPECT_TRUE(run.open.ok) << run.open.reply.Summary();
  EXPECT_FALSE(run.tls_version.empty());
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes, "D 250 2.0.0 queued");
}

TEST_F(ClientSessionTls, VerifyRefusesATrustedCertificateForAnotherName) {
  StartServer(false);
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(cert_.cert_file);
  ClientOptions o = TlsOptions(TlsPolicy::kVerify, &ctx);
  o.tls_host = "mx.other.test";
  ClientRun run = RunClient(server_->port(), o, {MakeJob({"a@x.test"})});
  EXPECT_FALSE(run.open.ok);
  EXPECT_EQ(run.open.reply.code, 451);
}

TEST_F(ClientSessionTls, AuthAfterStartTls) {
  StartServer(true);  // AUTH only after TLS, and required for MAIL
  auto ctx = MakeClientTlsContext();
  ClientOptions o = TlsOptions(TlsPolicy::kOpportunistic, ctx.get());
  o.auth_user = "alice";
  o.auth_password = "secret";
  ClientRun run = RunClient(server_->port(), o, {MakeJob({"a@x.test"})});
  EXPECT_TRUE(run.open.ok) << run.open.reply.Summary();
  EXPECT_TRUE(run.ext.auth.count("PLAIN"));
  ASSERT_EQ(run.txs.size(), 1u);
  EXPECT_EQ(run.txs[0].outcomes, "D 250 2.0.0 queued");

  o.auth_password = "wrong";
  run = RunClient(server_->port(), o, {MakeJob({"a@x.test"})});
  EXPECT_FALSE(run.open.ok);
  EXPECT_EQ(run.open.reply.Summary().substr(0, 9), "451 4.7.8");
}

}  // namespace
}  // namespace mp::smtp
