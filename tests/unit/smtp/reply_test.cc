#include "smtp/reply.h"

#include <gtest/gtest.h>

#include "smtp/extensions.h"

namespace mp::smtp {
namespace {

Reply ParseOne(std::string_view bytes) {
  ReplyParser p;
  p.Feed(bytes);
  auto r = p.Next();
  EXPECT_TRUE(r.ok()) << bytes;
  EXPECT_TRUE(r.ok() && r.value()) << "no complete reply in: " << bytes;
  return r.ok() && r.value() ? *r.value() : Reply{};
}

TEST(Reply, SingleLineWithEnhancedCode) {
  Reply r = ParseOne("550 5.1.1 <nobody@example.org>: Recipient address rejected\r\n");
  EXPECT_EQ(r.code, 550);
  ASSERT_TRUE(r.enhanced);
  EXPECT_EQ(r.enhanced->ToString(), "5.1.1");
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0], "<nobody@example.org>: Recipient address rejected");
  EXPECT_TRUE(r.Permanent());
  EXPECT_EQ(r.Summary(), "550 5.1.1 <nobody@example.org>: Recipient address rejected");
}

TEST(Reply, MultiLineKeepsEveryLineAndDropsRepeatedEnhancedCodes) {
  Reply r = ParseOne(
      "421-4.7.28 Our system has detected an unusual rate of\r\n"
      "421-4.7.28 unsolicited mail originating from your IP address.\r\n"
      "421 4.7.28 Please visit https://support.google.com/mail/answer/81126\r\n");
  EXPECT_EQ(r.code, 421);
  EXPECT_EQ(r.enhanced->ToString(), "4.7.28");
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.lines[1], "unsolicited mail originating from your IP address.");
  EXPECT_TRUE(r.Transient());
}

TEST(Reply, EnhancedCodeWhoseClassDiffersIsKept) {
  Reply r = ParseOne("421 5.7.32 From: header not aligned\r\n");
  EXPECT_EQ(r.code, 421);  // the basic code decides: retry
  EXPECT_EQ(r.enhanced->klass, 5);
  EXPECT_TRUE(r.Transient());
}

TEST(Reply, NoEnhancedCodeAndBareCodeAndBareLf) {
  Reply r = ParseOne("220 mx.example.org ESMTP ready\n");
  EXPECT_EQ(r.code, 220);
  EXPECT_FALSE(r.enhanced);
  r = ParseOne("250\r\n");
  EXPECT_EQ(r.code, 250);
  ASSERT_EQ(r.lines.size(), 1u);
  EXPECT_EQ(r.lines[0], "");
  r = ParseOne("250 2.0.0x not a code\r\n");
  EXPECT_FALSE(r.enhanced);
}

TEST(Reply, BytesMayArriveInAnyPiecesAndRepliesBackToBack) {
  const std::string stream =
      "250-mx.example.org\r\n250-PIPELINING\r\n250 SIZE 1000\r\n250 2.1.0 Ok\r\n354 End data\r\n";
  for (size_t step = 1; step <= stream.size(); ++step) {
    ReplyParser p;
    std::vector<int> codes;
    for (size_t i = 0; i < stream.size(); i += step) {
      p.Feed(std::string_view(stream).substr(i, step));
      for (;;) {
        auto r = p.Next();
        ASSERT_TRUE(r.ok());
        if (!r.value()) break;
        codes.push_back(r.value()->code);
      }
    }
    EXPECT_EQ(codes, (std::vector<int>{250, 250, 354})) << "step " << step;
  }
}

TEST(Reply, ProtocolErrorsAreReportedAndSticky) {
  for (const char* bad : {"hello\r\n", "2500 x\r\n", "250x\r\n", "150 too low\r\n",
                          "650 too high\r\n", "250-a\r\n251 b\r\n"}) {
    ReplyParser p;
    p.Feed(bad);
    auto r = p.Next();
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Code::kBadRequest);
    p.Feed("250 ok\r\n");
    EXPECT_FALSE(p.Next().ok()) << "a failed parser stays failed";
  }
}

TEST(Reply, LimitsOnLineLengthAndLineCount) {
  ReplyParser p;
  p.Feed("250 " + std::string(3000, 'x'));  // no end of line yet, already too long
  EXPECT_FALSE(p.Next().ok());
  ReplyParser many;
  std::string s;
  for (int i = 0; i < 150; ++i) s += "250-line\r\n";
  many.Feed(s);
  EXPECT_FALSE(many.Next().ok());
}

TEST(Extensions, ParsesTheEhloReply) {
  Reply r = ParseOne(
      "250-mx.example.org Hello\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
      "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN login\r\n250-SMTPUTF8\r\n"
      "250 CHUNKING\r\n");
  Extensions e = ParseEhloReply(r);
  EXPECT_EQ(e.greeting_domain, "mx.example.org");
  EXPECT_TRUE(e.pipelining && e.eight_bit_mime && e.starttls && e.enhanced_status_codes &&
              e.smtputf8 && e.chunking && e.size_advertised);
  EXPECT_EQ(e.max_size, 52428800u);
  EXPECT_EQ(e.auth, (std::set<std::string>{"PLAIN", "LOGIN"}));
  Extensions bare = ParseEhloReply(ParseOne("250 mx.example.org\r\n"));
  EXPECT_FALSE(bare.pipelining || bare.starttls || bare.size_advertised);
  Extensions huge = ParseEhloReply(ParseOne("250-x\r\n250 SIZE 999999999999999999999999\r\n"));
  EXPECT_TRUE(huge.size_advertised);
  EXPECT_EQ(huge.max_size, 0u);  // out of range: treated as no limit announced
}

}  // namespace
}  // namespace mp::smtp
