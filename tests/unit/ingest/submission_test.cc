#include "ingest/submission.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/clock.h"
#include "mime/encoding.h"

namespace mp {
namespace {
namespace json = boost::json;

constexpr int64_t kNow = 1795000000000;  // 2026-11-18T11:06:40Z

Result<PreparedMessage> Prepare(std::string_view body, LimitsConfig limits = {}) {
  static ManualClock clock(kNow);
  clock.Set(kNow);
  return PrepareMessage(json::parse(body), "tn_a", limits, clock, "");
}

Error Fails(std::string_view body, LimitsConfig limits = {}) {
  auto r = Prepare(body, limits);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? Error{} : r.error();
}

TEST(Submission, MinimalMessageIsQueuedWithEnvelope) {
  auto r = Prepare(R"({"from":"Al <al@example.com>","to":["b@example.org"],"cc":"c@example.org",
                       "bcc":["d@example.org","b@EXAMPLE.org","B@example.org"],"subject":"Hi",
                       "text":"body","tags":["t1"],"metadata":{"k":"v"}})");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  const Envelope& e = r.value().envelope;
  EXPECT_EQ(e.status, MessageStatus::kQueued);
  EXPECT_EQ(e.mail_from, "al@example.com");
  EXPECT_EQ(e.tenant_id, "tn_a");
  // b@EXAMPLE.org is b@example.org (domains ignore case); B@example.org is another mailbox
  // (local parts are case-sensitive, RFC 5321 section 2.4).
  ASSERT_EQ(e.recipients.size(), 4u);
  EXPECT_EQ(e.recipients[0].address, "b@example.org");
  EXPECT_EQ(e.recipients[1].kind, RecipientKind::kCc);
  EXPECT_EQ(e.recipients[3].address, "B@example.org");
  EXPECT_EQ(e.recipients[2].kind, RecipientKind::kBcc);
  EXPECT_EQ(e.send_at_ms, kNow);
  EXPECT_EQ(e.size, r.value().body.size());
  EXPECT_EQ(e.metadata_json, R"({"k":"v"})");
  // Bcc never appears in the headers.
  EXPECT_EQ(r.value().body.find("d@example.org"), std::string::npos);
  EXPECT_EQ(r.value().body.find("Bcc"), std::string::npos);
  EXPECT_NE(r.value().body.find("Message-ID: <" + e.message_id + ">"), std::string::npos);
}

TEST(Submission, SendAtInTheFutureIsScheduled) {
  auto r = Prepare(R"({"from":"a@example.com","to":["b@example.org"],"text":"x",
                       "send_at":"2026-11-20T00:00:00Z"})");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r.value().envelope.status, MessageStatus::kScheduled);
  EXPECT_EQ(r.value().envelope.recipients[0].status, RecipientStatus::kScheduled);
  EXPECT_GT(r.value().envelope.send_at_ms, kNow);
}

TEST(Submission, SendAtBounds) {
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":"b@example.org","text":"x",
                      "send_at":"2020-01-01T00:00:00Z"})")
                .code,
            Code::kInvalidSendAt);
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":"b@example.org","text":"x",
                      "send_at":"2027-06-01T00:00:00Z"})")
                .code,
            Code::kInvalidSendAt);
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":"b@example.org","text":"x",
                      "send_at":"next tuesday"})")
                .code,
            Code::kInvalidSendAt);
  // A little in the past (clock skew) is accepted and sent at once.
  auto r = Prepare(R"({"from":"a@example.com","to":"b@example.org","text":"x",
                       "send_at":"2026-11-18T11:05:00Z"})");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r.value().envelope.status, MessageStatus::kQueued);
}

TEST(Submission, RawIsKeptByteForByte) {
  std::string raw =
      "From: a@example.com\r\nTo: b@example.org\r\nMessage-ID: <raw1@example.com>\r\n"
      "Subject: raw\r\n\r\nbody\xff\r\n.\r\n";
  std::string body =
      R"({"from":"a@example.com","to":["b@example.org"],"raw":")" + Base64Encode(raw) + "\"}";
  auto r = Prepare(body);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r.value().body, raw);
  EXPECT_EQ(r.value().envelope.message_id, "raw1@example.com");
}

TEST(Submission, RawRejectsComposedFieldsAndBadContent) {
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":"b@example.org","raw":"RnJvbTogYQ0KDQp4",
                      "subject":"x"})")
                .field,
            "subject");
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":"b@example.org","raw":"not base64!"})").code,
            Code::kInvalidBase64);
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":"b@example.org","raw":")" +
                  Base64Encode("no header here") + "\"}")
                .code,
            Code::kInvalidValue);
}

TEST(Submission, FieldErrorsNameTheField) {
  struct Case {
    const char* body;
    Code code;
    const char* field;
  } cases[] = {
      {R"({"to":"b@example.org","text":"x"})", Code::kMissingField, "from"},
      {R"({"from":"a@example.com","text":"x"})", Code::kMissingField, "to"},
      {R"({"from":"a@example.com","to":5,"text":"x"})", Code::kInvalidType, "to"},
      {R"({"from":"a@example.com","to":["ok@example.org",7],"text":"x"})", Code::kInvalidType,
       "to[1]"},
      {R"({"from":"a@example.com","to":["ok@example.org","bad"],"text":"x"})",
       Code::kInvalidAddress, "to[1]"},
      {R"({"from":"a@example.com","to":"b@example.org","subject":"a\nBcc: x@y.com","text":"x"})",
       Code::kHeaderInjection, "subject"},
      {R"({"from":"a@example.com","to":"b@example.org","text":"x","headers":{"X-A\r\nB":"v"}})",
       Code::kHeaderInjection, "headers.X-A\r\nB"},
      {R"({"from":"a@example.com","to":"b@example.org","text":"x","headers":{"X-A":"v\r\nB: c"}})",
       Code::kHeaderInjection, "headers.X-A"},
      {R"({"from":"a@example.com","to":"b@example.org","text":"x","headers":{"From":"v"}})",
       Code::kInvalidValue, "headers.From"},
      {R"({"from":"a@example.com","to":"b@example.org","text":"x","atachments":[]})",
       Code::kUnknownField, "atachments"},
      {R"({"from":"a@example.com","to":"b@example.org","text":"x",
           "attachments":[{"filename":"a","content":"@@@"}]})",
       Code::kInvalidBase64, "attachments[0].content"},
      {R"({"from":"a@example.com","to":"b@example.org","text":"x",
           "attachments":[{"filename":"a","content":"QQ==","size":1}]})",
       Code::kUnknownField, "attachments[0].size"},
      {R"({"from":"a@example.com","to":"b@example.org","text":"x",
           "attachments":[{"filename":"a","content_type":"nonsense","content":"QQ=="}]})",
       Code::kInvalidValue, "attachments[0].content_type"},
      {R"({"from":"a@example.com","to":"b@example.org"})", Code::kMissingField, "text"},
      {R"({"from":"a@example.com","to":"b@example.org","text":"x","tags":[""]})",
       Code::kInvalidValue, "tags[0]"},
      {R"({"from":"a@example.com","to":"b@example.org","text":"x","metadata":[1]})",
       Code::kInvalidType, "metadata"},
      {R"([1,2])", Code::kInvalidType, "(body)"},
  };
  for (const Case& c : cases) {
    Error e = Fails(c.body);
    EXPECT_EQ(e.code, c.code) << c.body << " -> " << e.detail;
    EXPECT_EQ(e.field, c.field) << c.body;
    EXPECT_FALSE(e.detail.empty());
  }
}

TEST(Submission, RecipientLimit) {
  LimitsConfig limits;
  limits.max_recipients = 3;
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":["a@x.org","b@x.org"],"cc":["c@x.org"],
                      "bcc":["d@x.org"],"text":"x"})",
                  limits)
                .code,
            Code::kTooManyRecipients);
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":["a@x.org","b@x.org","c@x.org","d@x.org"],
                      "text":"x"})",
                  limits)
                .code,
            Code::kTooManyRecipients);
}

TEST(Submission, SizeLimitAppliesToTheEncodedMessage) {
  LimitsConfig limits;
  limits.max_message_bytes = 4096;
  std::string big(3500, 'a');  // fits raw, but base64 makes it larger than 4096
  std::string body = R"({"from":"a@example.com","to":"b@example.org","text":"x",
      "attachments":[{"filename":"a.bin","content":")" +
                     Base64Encode(big) + "\"}]}";
  EXPECT_EQ(Fails(body, limits).code, Code::kMessageTooLarge);
}

TEST(Submission, BatchPathPrefixesFields) {
  ManualClock clock(kNow);
  auto r = PrepareMessage(json::parse(R"({"from":"bad","to":"b@example.org","text":"x"})"), "t",
                          LimitsConfig{}, clock, "messages[4]");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "messages[4].from");
}

}  // namespace
}  // namespace mp

namespace mp {
namespace {

TEST(SubmissionRules, DateHeaderMustBeRfc5322) {
  auto ok = Prepare(R"({"from":"a@example.com","to":"b@example.org","text":"x",
                        "headers":{"Date":"Tue, 24 Nov 2026 10:00:00 +0000"}})");
  EXPECT_TRUE(ok.ok()) << ok.error().detail;
  EXPECT_TRUE(Prepare(R"({"from":"a@example.com","to":"b@example.org","text":"x",
                          "headers":{"Date":"24 Nov 2026 10:00 -0500"}})")
                  .ok());
  for (const char* bad : {"yesterday", "", "Tue, 24 Nov 2026", "24 Foo 2026 10:00:00 +0000",
                          "24 Nov 2026 10:00:00 UTC"}) {
    std::string body = std::string(R"({"from":"a@example.com","to":"b@example.org","text":"x",
                          "headers":{"Date":")") +
                       bad + "\"}}";
    Error e = Fails(body);
    EXPECT_EQ(e.code, Code::kInvalidValue) << bad;
    EXPECT_EQ(e.field, "headers.Date") << bad;
  }
}

TEST(SubmissionRules, HeaderNamesMayNotRepeatInAnyCase) {
  Error e = Fails(R"({"from":"a@example.com","to":"b@example.org","text":"x",
      "headers":{"Message-ID":"<a@example.com>","message-id":"<b@example.com>"}})");
  EXPECT_EQ(e.code, Code::kInvalidValue);
  EXPECT_EQ(e.field, "headers.message-id");
}

TEST(SubmissionRules, AttachmentTypesAndContentIds) {
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":"b@example.org","text":"x",
      "attachments":[{"content_type":"message/rfc822","content":"QQ=="}]})")
                .field,
            "attachments[0].content_type");
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":"b@example.org","text":"x",
      "attachments":[{"content_type":"Multipart/Mixed","content":"QQ=="}]})")
                .field,
            "attachments[0].content_type");
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":"b@example.org","html":"<p>x</p>",
      "attachments":[{"content_type":"image/png","content":"QQ==","content_id":"lögo"}]})")
                .field,
            "attachments[0].content_id");
}

TEST(SubmissionRules, RawLinesAndBareCr) {
  std::string ok_raw = "Subject: x\r\n\r\n" + std::string(998, 'a') + "\r\n";
  auto ok = Prepare(R"({"from":"a@example.com","to":"b@example.org","raw":")" +
                    Base64Encode(ok_raw) + "\"}");
  EXPECT_TRUE(ok.ok()) << ok.error().detail;  // 998 octets before CRLF is legal
  std::string long_raw = "Subject: x\r\n\r\n" + std::string(999, 'a') + "\r\n";
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":"b@example.org","raw":")" +
                  Base64Encode(long_raw) + "\"}")
                .code,
            Code::kInvalidValue);
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":"b@example.org","raw":")" +
                  Base64Encode("Subject: x\r\n\r\nbare\rcr\r\n") + "\"}")
                .code,
            Code::kInvalidValue);
}

TEST(SubmissionRules, OversizedBodiesAreRefusedBeforeComposition) {
  LimitsConfig limits;
  limits.max_message_bytes = 2000;
  Error e = Fails(
      R"({"from":"a@example.com","to":"b@example.org","text":")" + std::string(2500, 'a') + "\"}",
      limits);
  EXPECT_EQ(e.code, Code::kMessageTooLarge);
  EXPECT_NE(e.detail.find("at least"), std::string::npos);  // the early check, not the late one
}

TEST(SubmissionRules, Ipv6LiteralsAreValidated) {
  EXPECT_TRUE(Prepare(R"({"from":"a@example.com","to":"u@[IPv6:2001:db8::1]","text":"x"})").ok());
  EXPECT_EQ(Fails(R"({"from":"a@example.com","to":"u@[IPv6:::::::::::]","text":"x"})").code,
            Code::kInvalidAddress);
}

}  // namespace
}  // namespace mp
