// Inbound report parsing: real Postfix DSNs (a 550 bounce and a delay warning), ARF complaints in
// the RFC 5965 layout and in a provider's style, an auto-reply and a plain message (fixtures in
// tests/data/reports, provenance in its README.md); the lenient corners of the delivery-status
// format; the limits; and hostile input (truncated, unbounded, garbage, deep, huge) that must come
// back as kUnknown or an error, never a crash or a leak (this binary runs under ASan/LSan).
#include "feedback/report.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "feedback/verp.h"

namespace mp::feedback {
namespace {

constexpr std::string_view kVerpKey = "mailplane-test-verp-key-0123456789";
constexpr std::string_view kBounceDomain = "bounces.sender.test";

std::string Fixture(const std::string& name) {
  const std::filesystem::path path =
      std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "data" /
      "reports" / name;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Report Parse(std::string_view raw) {
  Result<Report> r = ParseReport(raw);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().detail);
  return r.ok() ? std::move(r).value() : Report{};
}

std::string HexOf(const MessageId& id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : id.bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

// The message a VERP return path names, as hex; empty when it is not one of the test key's.
std::string VerpHex(std::string_view address) {
  auto t = ParseVerpAddress(kVerpKey, address, kBounceDomain);
  return t ? HexOf(t->message) : "";
}

TEST(ReportKind, NamesAreStable) {
  EXPECT_EQ(ReportKindName(ReportKind::kDsn), "dsn");
  EXPECT_EQ(ReportKindName(ReportKind::kComplaint), "complaint");
  EXPECT_EQ(ReportKindName(ReportKind::kAutoReply), "auto_reply");
  EXPECT_EQ(ReportKindName(ReportKind::kUnknown), "unknown");
  EXPECT_EQ(ReportKindName(static_cast<ReportKind>(99)), "unknown");
}

// ---- Fixtures ----------------------------------------------------------------------------------

TEST(ParseReport, PostfixBounce550) {
  const Report r = Parse(Fixture("postfix_dsn_550.eml"));
  ASSERT_EQ(r.kind, ReportKind::kDsn) << r.reason;
  // The DSN carries "Auto-Submitted: auto-replied": the report checks come first.
  EXPECT_EQ(r.auto_reply_signal, "");
  EXPECT_EQ(r.reason, "");
  EXPECT_EQ(r.reporting_mta, "mta.sender.test");
  ASSERT_EQ(r.recipients.size(), 1u);
  const DsnRecipient& d = r.recipients[0];
  EXPECT_EQ(d.final_recipient, "nobody@remote.test");
  EXPECT_EQ(d.original_recipient, "nobody@remote.test");
  EXPECT_EQ(d.action, "failed");
  EXPECT_EQ(d.status, "5.1.1");
  EXPECT_EQ(d.remote_mta, "127.0.0.1");
  EXPECT_EQ(d.diagnostic_code, 550);
  // Folded over two lines in the DSN: unfolded, the fold one space.
  EXPECT_EQ(d.diagnostic,
            "550 5.1.1 <nobody@remote.test>: Recipient address rejected: User unknown in virtual "
            "mailbox table");
  // From the returned message/rfc822.
  EXPECT_EQ(r.original_return_path,
            "b+agjkhngf23t7qci2fm6e2xtpod7tt4t6zicc2ba@bounces.sender.test");
  EXPECT_EQ(VerpHex(r.original_return_path), "0192a3b4c5d6e7f8091a2b3c4d5e6f70");
  EXPECT_EQ(r.original_message_id, "01JAHV9HEPWVW0J6HB7F6QTKVG@sender.test");
  EXPECT_EQ(r.original_to, std::vector<std::string>{"nobody@remote.test"});
  EXPECT_EQ(r.feedback_type, "");
  EXPECT_TRUE(r.original_rcpt_to.empty());
}

TEST(ParseReport, PostfixDelayWarning) {
  const Report r = Parse(Fixture("postfix_dsn_delayed.eml"));
  ASSERT_EQ(r.kind, ReportKind::kDsn) << r.reason;
  EXPECT_EQ(r.reporting_mta, "mta.sender.test");
  ASSERT_EQ(r.recipients.size(), 1u);
  const DsnRecipient& d = r.recipients[0];
  EXPECT_EQ(d.final_recipient, "slow@remote.test");
  EXPECT_EQ(d.action, "delayed");
  EXPECT_EQ(d.status, "4.2.1");
  EXPECT_EQ(d.remote_mta, "127.0.0.1");
  EXPECT_EQ(d.diagnostic_code, 450);
  EXPECT_EQ(d.diagnostic,
            "450 4.2.1 <slow@remote.test>: Recipient address rejected: <slow@remote.test>: "
            "Mailbox temporarily unavailable, try again later");
  // From the returned text/rfc822-headers (a delay warning returns the headers only).
  EXPECT_EQ(VerpHex(r.original_return_path), "0192a3b4c5d6e7f8091a2b3c4d5e6f71");
  EXPECT_EQ(r.original_message_id, "01JAHV9HEPWVW0J6HB7F6QTKVH@sender.test");
  EXPECT_EQ(r.original_to, std::vector<std::string>{"slow@remote.test"});
}

TEST(ParseReport, ArfInRfc5965Layout) {
  const Report r = Parse(Fixture("arf_rfc5965_structure.eml"));
  ASSERT_EQ(r.kind, ReportKind::kComplaint) << r.reason;
  EXPECT_EQ(r.feedback_type, "abuse");
  EXPECT_EQ(r.user_agent, "ExampleISP-Complaints/3.2");
  EXPECT_EQ(r.source_ip, "192.0.2.45");
  EXPECT_EQ(r.arrival_date, "Mon, 14 Oct 2024 09:01:02 +0000");
  EXPECT_EQ(r.reporting_mta, "mx2.isp.example");
  EXPECT_EQ(VerpHex(r.original_mail_from), "0192a3b4c5d6e7f8091a2b3c4d5e6f72");
  EXPECT_EQ(r.original_rcpt_to, std::vector<std::string>{"carol@isp.example"});
  EXPECT_EQ(VerpHex(r.original_return_path), "0192a3b4c5d6e7f8091a2b3c4d5e6f72");
  EXPECT_EQ(r.original_message_id, "01JA5QZ1X7M8N9P0Q1R2S3T4V5@sender.test");
  EXPECT_EQ(r.original_to, std::vector<std::string>{"carol@isp.example"});
  EXPECT_TRUE(r.recipients.empty());
}

TEST(ParseReport, ArfInAProvidersStyle) {
  const Report r = Parse(Fixture("arf_provider_fbl.eml"));
  ASSERT_EQ(r.kind, ReportKind::kComplaint) << r.reason;
  EXPECT_EQ(r.feedback_type, "abuse");
  EXPECT_EQ(r.user_agent, "MailProvider!-Mail-Feedback/2.0");
  EXPECT_EQ(r.source_ip, "198.51.100.77");
  // Received-Date, the pre-RFC 5965 name, stands in for Arrival-Date.
  EXPECT_EQ(r.arrival_date, "Tue, 15 Oct 2024 17:58:40 +0000");
  EXPECT_EQ(r.reporting_mta, "");
  EXPECT_EQ(VerpHex(r.original_mail_from), "0192a3b4c5d6e7f8091a2b3c4d5e6f73");
  EXPECT_EQ(r.original_rcpt_to, std::vector<std::string>{"dave@mailprovider.example"});
  // From the returned message/rfc822.
  EXPECT_EQ(VerpHex(r.original_return_path), "0192a3b4c5d6e7f8091a2b3c4d5e6f73");
  EXPECT_EQ(r.original_message_id, "01JA8M3K4N5P6Q7R8S9T0V1W2X@sender.test");
  EXPECT_EQ(r.original_to, std::vector<std::string>{"dave@mailprovider.example"});
}

TEST(ParseReport, VacationAutoReply) {
  const Report r = Parse(Fixture("auto_reply_vacation.eml"));
  ASSERT_EQ(r.kind, ReportKind::kAutoReply) << r.reason;
  EXPECT_EQ(r.auto_reply_signal, "Auto-Submitted: auto-replied (vacation)");
  EXPECT_EQ(r.reason, "");
  EXPECT_TRUE(r.recipients.empty());
  EXPECT_EQ(r.original_message_id, "");
}

TEST(ParseReport, PlainMessageIsUnknown) {
  const Report r = Parse(Fixture("plain_message.eml"));
  EXPECT_EQ(r.kind, ReportKind::kUnknown);
  EXPECT_EQ(r.reason, "not multipart/report and no auto-reply header");
  EXPECT_EQ(r.auto_reply_signal, "");
}

// ---- Delivery-status details -------------------------------------------------------------------

std::string Dsn(std::string_view status, std::string_view status_type = "message/delivery-status",
                std::string_view report_type = "; report-type=delivery-status",
                std::string_view extra_parts = "") {
  std::string s =
      "From: MAILER-DAEMON@mx.example\r\nTo: b@bounces.sender.test\r\nSubject: failure\r\n"
      "MIME-Version: 1.0\r\nContent-Type: multipart/report";
  s.append(report_type).append("; boundary=\"BB\"\r\n\r\n--BB\r\n");
  s.append("Content-Type: text/plain\r\n\r\nIt failed.\r\n--BB\r\nContent-Type: ");
  s.append(status_type).append("\r\n\r\n").append(status).append("\r\n");
  s.append(extra_parts).append("--BB--\r\n");
  return s;
}

TEST(ParseReport, DeliveryStatusLeniency) {
  // No blank line after the per-message fields; comments; brackets; upper case; repeated fields;
  // a diagnostic that is not SMTP; a multi-line SMTP reply; LF line ends.
  const std::string status =
      "Reporting-MTA: dns;mx.example (Exim 4.96)\n"
      "Arrival-Date: Tue, 15 Oct 2024 10:00:00 +0000\n"
      "Final-Recipient: rfc822;<One@Example.COM>\n"
      "Action: FAILED (permanent failure)\n"
      "Status: 5.2.2 (mailbox full)\n"
      "Status: 4.0.0\n"
      "Remote-MTA: dns; mx1.example.com\n"
      "Diagnostic-Code: smtp;552-5.2.2 The email account that you tried to reach is over quota\n"
      "\t552 5.2.2 and inactive.\n"
      "\n\n\n"
      "Final-Recipient: RFC822; two@example.com\n"
      "Action: delivered\n"
      "Status: 2.0.0\n"
      "\n"
      "Original-Recipient: rfc822;three@example.com\n"
      "Final-Recipient: rfc822;three@example.com\n"
      "Action: failed\n"
      "Status: 5.4.6\n"
      "Diagnostic-Code: X-Postfix; mail forwarding loop for three@example.com\n"
      "this line is neither a field nor a continuation\n"
      "   \n"
      "Final-Recipient: four@example.com\n"
      "action: relayed\n";
  const Report r = Parse(Dsn(status));
  ASSERT_EQ(r.kind, ReportKind::kDsn) << r.reason;
  EXPECT_EQ(r.reporting_mta, "mx.example (Exim 4.96)");
  ASSERT_EQ(r.recipients.size(), 4u);
  EXPECT_EQ(r.recipients[0].final_recipient, "One@Example.COM");
  EXPECT_EQ(r.recipients[0].action, "failed");
  EXPECT_EQ(r.recipients[0].status, "5.2.2");
  EXPECT_EQ(r.recipients[0].remote_mta, "mx1.example.com");
  EXPECT_EQ(r.recipients[0].diagnostic_code, 552);
  EXPECT_EQ(r.recipients[0].diagnostic,
            "552-5.2.2 The email account that you tried to reach is over quota 552 5.2.2 and "
            "inactive.");
  EXPECT_EQ(r.recipients[1].final_recipient, "two@example.com");
  EXPECT_EQ(r.recipients[1].action, "delivered");
  EXPECT_EQ(r.recipients[1].diagnostic_code, 0);
  EXPECT_EQ(r.recipients[2].original_recipient, "three@example.com");
  EXPECT_EQ(r.recipients[2].status, "5.4.6");
  EXPECT_EQ(r.recipients[2].diagnostic, "mail forwarding loop for three@example.com");
  EXPECT_EQ(r.recipients[2].diagnostic_code, 0);
  EXPECT_EQ(r.recipients[3].final_recipient, "four@example.com");
  EXPECT_EQ(r.recipients[3].action, "relayed");
  EXPECT_EQ(r.recipients[3].status, "");
  // No original part.
  EXPECT_EQ(r.original_message_id, "");
  EXPECT_TRUE(r.original_to.empty());
}

TEST(ParseReport, GlobalDeliveryStatus) {
  // RFC 6533: UTF-8 addresses, message/global-delivery-status and message/global-headers.
  const std::string status =
      "Reporting-MTA: dns; mx.example\r\n\r\n"
      "Original-Recipient: utf-8; j\xC3\xB6rg@b\xC3\xBC"
      "cher.example\r\n"
      "Final-Recipient: utf-8; j\xC3\xB6rg@b\xC3\xBC"
      "cher.example\r\n"
      "Action: failed\r\nStatus: 5.1.1\r\n"
      "Diagnostic-Code: smtp; 550 5.1.1 unknown user\r\n";
  const std::string headers =
      "--BB\r\nContent-Type: message/global-headers\r\n\r\n"
      "Return-Path: <b+x@bounces.sender.test>\r\n"
      "To: =?utf-8?q?J=C3=B6rg?= <j\xC3\xB6rg@b\xC3\xBC"
      "cher.example>\r\n"
      "Message-ID: <global-1@sender.test>\r\n";
  const Report r = Parse(Dsn(status, "message/global-delivery-status",
                             "; report-type=global-delivery-status", headers));
  ASSERT_EQ(r.kind, ReportKind::kDsn) << r.reason;
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_EQ(r.recipients[0].final_recipient,
            "j\xC3\xB6rg@b\xC3\xBC"
            "cher.example");
  EXPECT_EQ(r.recipients[0].diagnostic_code, 550);
  EXPECT_EQ(r.original_return_path, "b+x@bounces.sender.test");
  EXPECT_EQ(r.original_message_id, "global-1@sender.test");
  EXPECT_EQ(r.original_to, std::vector<std::string>{"j\xC3\xB6rg@b\xC3\xBC"
                                                    "cher.example"});
}

TEST(ParseReport, PartsDecideNotReportType) {
  // report-type missing or wrong: the message/delivery-status part still makes it a DSN.
  const std::string status = "Final-Recipient: rfc822; a@example.com\r\nAction: failed\r\n";
  EXPECT_EQ(Parse(Dsn(status, "message/delivery-status", "")).kind, ReportKind::kDsn);
  EXPECT_EQ(Parse(Dsn(status, "message/delivery-status", "; report-type=feedback-report")).kind,
            ReportKind::kDsn);
  // Base64-encoded status part (the transfer encoding is undone).
  const std::string b64 =
      "Content-Transfer-Encoding: base64\r\n\r\n"
      "RmluYWwtUmVjaXBpZW50OiByZmM4MjI7IGJAZXhhbXBsZS5jb20NCkFjdGlvbjogZmFpbGVkDQo=";
  std::string raw = Dsn("", "message/delivery-status");
  raw.replace(raw.find("message/delivery-status\r\n\r\n") + 23, 4, "\r\n" + b64);
  const Report r = Parse(raw);
  ASSERT_EQ(r.kind, ReportKind::kDsn) << r.reason;
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_EQ(r.recipients[0].final_recipient, "b@example.com");
  EXPECT_EQ(r.recipients[0].action, "failed");
}

TEST(ParseReport, ReportWithoutItsPartIsUnknown) {
  std::string raw =
      "From: a@example.com\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/report; report-type=delivery-status; boundary=BB\r\n\r\n"
      "--BB\r\nContent-Type: text/plain\r\n\r\nIt failed.\r\n--BB--\r\n";
  Report r = Parse(raw);
  EXPECT_EQ(r.kind, ReportKind::kUnknown);
  EXPECT_EQ(r.reason,
            "multipart/report; report-type=delivery-status without a message/delivery-status part");
  raw.replace(raw.find("delivery-status"), 15, "feedback-report");
  r = Parse(raw);
  EXPECT_EQ(r.kind, ReportKind::kUnknown);
  EXPECT_EQ(r.reason,
            "multipart/report; report-type=feedback-report without a message/feedback-report part");
}

TEST(ParseReport, DispositionNotificationIsNotAReport) {
  // An MDN (RFC 8098) is a multipart/report too, but neither kind.
  std::string raw =
      "From: a@example.com\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/report; report-type=disposition-notification; boundary=BB\r\n\r\n"
      "--BB\r\nContent-Type: text/plain\r\n\r\nDisplayed.\r\n--BB\r\n"
      "Content-Type: message/disposition-notification\r\n\r\n"
      "Final-Recipient: rfc822; a@example.com\r\n"
      "Disposition: manual-action/MDN-sent-manually; displayed\r\n--BB--\r\n";
  Report r = Parse(raw);
  EXPECT_EQ(r.kind, ReportKind::kUnknown);
  EXPECT_EQ(r.reason,
            "multipart/report of report-type 'disposition-notification' is neither a delivery "
            "status nor a feedback report");
  // Sent automatically, it is an auto-reply.
  r = Parse("Auto-Submitted: auto-generated\r\n" + raw);
  EXPECT_EQ(r.kind, ReportKind::kAutoReply);
  EXPECT_EQ(r.auto_reply_signal, "Auto-Submitted: auto-generated");
  EXPECT_EQ(r.reason, "");
}

// ---- Auto-replies ------------------------------------------------------------------------------

TEST(ParseReport, AutoReplySignals) {
  const std::string body = "From: a@example.com\r\nSubject: Out of office\r\n";
  struct Case {
    std::string header;
    ReportKind want;
    std::string signal;
  };
  const Case cases[] = {
      {"Auto-Submitted: auto-replied", ReportKind::kAutoReply, "Auto-Submitted: auto-replied"},
      {"Auto-Submitted: Auto-Generated", ReportKind::kAutoReply, "Auto-Submitted: Auto-Generated"},
      {"Auto-Submitted: auto-notified; owner-email=\"x@example.com\"", ReportKind::kAutoReply,
       "Auto-Submitted: auto-notified; owner-email=\"x@example.com\""},
      {"Auto-Submitted: no", ReportKind::kUnknown, ""},
      {"Auto-Submitted: No (a human wrote this)", ReportKind::kUnknown, ""},
      {"Auto-Submitted:", ReportKind::kUnknown, ""},
      {"X-Autoreply: yes", ReportKind::kAutoReply, "X-Autoreply: yes"},
      {"X-Autoreply: no", ReportKind::kUnknown, ""},
      {"X-Autorespond: Out of office", ReportKind::kAutoReply, "X-Autorespond: Out of office"},
      {"Precedence: auto_reply", ReportKind::kAutoReply, "Precedence: auto_reply"},
      {"Precedence: bulk", ReportKind::kUnknown, ""},
      {"Precedence: list", ReportKind::kUnknown, ""},
      {"X-Auto-Response-Suppress: All", ReportKind::kUnknown, ""},
      {"X-MS-Exchange-Inbox-Rules-Loop: a@example.com", ReportKind::kUnknown, ""},
  };
  for (const Case& c : cases) {
    const Report r = Parse(c.header + "\r\n" + body + "\r\nI am away.\r\n");
    EXPECT_EQ(r.kind, c.want) << c.header;
    EXPECT_EQ(r.auto_reply_signal, c.signal) << c.header;
    EXPECT_EQ(r.reason.empty(), c.want != ReportKind::kUnknown) << c.header;
  }
}

// ---- Limits ------------------------------------------------------------------------------------

TEST(ParseReport, SizeLimit) {
  const std::string raw = Fixture("postfix_dsn_550.eml");
  Result<Report> over = ParseReport(raw, raw.size() - 1);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Code::kMessageTooLarge);
  Result<Report> exact = ParseReport(raw, raw.size());
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->kind, ReportKind::kDsn);
  EXPECT_FALSE(ParseReport(std::string(kMaxReportBytes + 1, 'a')).ok());
}

TEST(ParseReport, RecipientAndFieldLimits) {
  std::string status = "Reporting-MTA: dns; mx.example\n\n";
  for (size_t i = 0; i < kMaxDsnRecipients + 500; ++i) {
    status += "Final-Recipient: rfc822; r" + std::to_string(i) + "@example.com\nAction: failed\n\n";
  }
  Report r = Parse(Dsn(status));
  ASSERT_EQ(r.kind, ReportKind::kDsn);
  ASSERT_EQ(r.recipients.size(), kMaxDsnRecipients);
  EXPECT_EQ(r.recipients.back().final_recipient,
            "r" + std::to_string(kMaxDsnRecipients - 1) + "@example.com");

  // A value longer than the cap, and one folded over many lines, are cut; UTF-8 is not split.
  std::string long_diag = "Diagnostic-Code: smtp; 550 " + std::string(kMaxFieldBytes - 5, 'x') +
                          "\xC3\xA9\xC3\xA9\xC3\xA9" + std::string(5000, 'y') + "\n";
  for (int i = 0; i < 10000; ++i) long_diag += " folded continuation line\n";
  r = Parse(Dsn("Final-Recipient: rfc822; a@example.com\nAction: failed\n" + long_diag +
                "Status: 5.0.0\n"));
  ASSERT_EQ(r.recipients.size(), 1u);
  const std::string& d = r.recipients[0].diagnostic;
  EXPECT_LE(d.size(), kMaxFieldBytes);
  EXPECT_GE(d.size(), kMaxFieldBytes - 3);
  EXPECT_NE(static_cast<unsigned char>(d.back()) & 0xC0, 0x80u) << "a cut UTF-8 sequence";
  EXPECT_EQ(r.recipients[0].diagnostic_code, 550);
  EXPECT_EQ(r.recipients[0].status, "5.0.0");

  // Fields past the per-group cap are ignored; the group still counts.
  std::string many = "Final-Recipient: rfc822; a@example.com\n";
  for (size_t i = 0; i < kMaxFieldsPerGroup + 100; ++i)
    many += "X-Filler: " + std::to_string(i) + "\n";
  many += "Action: failed\n";
  r = Parse(Dsn(many));
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_EQ(r.recipients[0].final_recipient, "a@example.com");
  EXPECT_EQ(r.recipients[0].action, "");

  // The To list is capped at kMaxAddresses, Original-Rcpt-To by the fields of its group.
  std::string arf =
      "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; "
      "boundary=BB\n\n--BB\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n";
  for (size_t i = 0; i < kMaxFieldsPerGroup + 100; ++i) {
    arf += "Original-Rcpt-To: <u" + std::to_string(i) + "@example.com>\n";
  }
  arf += "\n--BB\nContent-Type: message/rfc822\n\nTo: ";
  for (size_t i = 0; i < kMaxAddresses + 10; ++i) {
    arf += (i ? ", u" : "u") + std::to_string(i) + "@example.com";
  }
  arf += "\nMessage-ID: <m@example.com>\n\nbody\n--BB--\n";
  r = Parse(arf);
  ASSERT_EQ(r.kind, ReportKind::kComplaint);
  EXPECT_EQ(r.original_rcpt_to.size(), kMaxFieldsPerGroup - 1);  // after Feedback-Type
  EXPECT_EQ(r.original_to.size(), kMaxAddresses);
  EXPECT_EQ(r.original_message_id, "m@example.com");
}

// ---- Hostile input -----------------------------------------------------------------------------

TEST(ParseReport, EveryTruncationOfARealDsn) {
  // Cut anywhere (mid-header, mid-boundary, inside the status part, before the closing
  // boundary): always a result, and a DSN once the status part's first recipient field is in.
  const std::string raw = Fixture("postfix_dsn_550.eml");
  const size_t status_end = raw.find("Action: failed");
  ASSERT_NE(status_end, std::string::npos);
  for (size_t n = 0; n <= raw.size(); ++n) {
    Result<Report> r = ParseReport(std::string_view(raw).substr(0, n));
    ASSERT_TRUE(r.ok()) << n;
    if (n > status_end + 16) {
      EXPECT_EQ(r->kind, ReportKind::kDsn) << n;
    } else {
      EXPECT_NE(r->kind, ReportKind::kComplaint) << n;
      if (r->kind == ReportKind::kUnknown) {
        EXPECT_FALSE(r->reason.empty()) << n;
      }
    }
  }
}

TEST(ParseReport, MissingBoundaryIsUnknown) {
  const std::string raw =
      "From: a@example.com\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/report; report-type=delivery-status\r\n\r\n"
      "--BB\r\nContent-Type: message/delivery-status\r\n\r\n"
      "Final-Recipient: rfc822; a@example.com\r\nAction: failed\r\n--BB--\r\n";
  const Report r = Parse(raw);
  EXPECT_EQ(r.kind, ReportKind::kUnknown);
  EXPECT_FALSE(r.reason.empty());
  EXPECT_TRUE(r.recipients.empty());
}

TEST(ParseReport, GarbageIsUnknown) {
  EXPECT_EQ(Parse("").kind, ReportKind::kUnknown);
  EXPECT_EQ(Parse("\r\n\r\n").kind, ReportKind::kUnknown);
  static constexpr char kNuls[] = "\0\0\0Content-Type: multipart/report\0";
  EXPECT_EQ(Parse(std::string(kNuls, sizeof kNuls - 1)).kind, ReportKind::kUnknown);
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    std::string junk(1 + rng() % 65536, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    const Report r = Parse(junk);
    EXPECT_EQ(r.kind, ReportKind::kUnknown);
    EXPECT_FALSE(r.reason.empty());
  }
  // Random MIME-ish lines: the tokens the parsers look for, shuffled.
  const char* pieces[] = {"Content-Type: multipart/report; boundary=BB\r\n",
                          "Content-Type: message/delivery-status\r\n",
                          "Content-Type: message/feedback-report\r\n",
                          "Content-Type: message/rfc822\r\n",
                          "Content-Type: text/rfc822-headers\r\n",
                          "--BB\r\n",
                          "--BB--\r\n",
                          "\r\n",
                          "Final-Recipient: rfc822; x@y\r\n",
                          "Action: failed\r\n",
                          "Diagnostic-Code: smtp; 550\r\n",
                          " folded\r\n",
                          "Feedback-Type: abuse\r\n",
                          "To: a@b, (c) <d@e>, group: f@g;\r\n",
                          "Auto-Submitted: auto-replied\r\n",
                          "Return-Path: <\r\n",
                          "Message-ID: <<>>\r\n"};
  for (int round = 0; round < 300; ++round) {
    std::string s;
    const int n = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) s += pieces[rng() % std::size(pieces)];
    ASSERT_TRUE(ParseReport(s).ok());
  }
}

TEST(ParseReport, HugeHeaderAndDeepNesting) {
  // One 2 MB header line (Postfix keeps at most 100 KB of one header).
  std::string raw =
      "Subject: " + std::string(2 * 1024 * 1024, 'h') + "\r\nFrom: a@b\r\n\r\nbody\r\n";
  Report r = Parse(raw);
  EXPECT_EQ(r.kind, ReportKind::kUnknown);
  // A DSN whose Diagnostic-Code is folded over a million lines.
  std::string folded = "Final-Recipient: rfc822; a@example.com\r\nDiagnostic-Code: smtp; 550";
  while (folded.size() < 8 * 1024 * 1024) folded += "\r\n x";
  r = Parse(Dsn(folded));
  ASSERT_EQ(r.kind, ReportKind::kDsn);
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_LE(r.recipients[0].diagnostic.size(), kMaxFieldBytes);
  // Multiparts nested 5000 deep inside the report (GMime stops descending at its own limit), and a
  // report of 20000 parts.
  std::string deep =
      "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
      "boundary=b0\r\n\r\n";
  for (int i = 1; i < 5000; ++i) {
    deep += "--b" + std::to_string(i - 1) + "\r\nContent-Type: multipart/mixed; boundary=b" +
            std::to_string(i) + "\r\n\r\n";
  }
  r = Parse(deep);
  EXPECT_EQ(r.kind, ReportKind::kUnknown);
  std::string wide =
      "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
      "boundary=BB\r\n\r\n";
  for (int i = 0; i < 20000; ++i) wide += "--BB\r\nContent-Type: text/plain\r\n\r\nx\r\n";
  wide += "--BB\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b\r\n";
  r = Parse(wide);
  EXPECT_EQ(r.kind, ReportKind::kDsn);
  // Messages nested 5000 deep as the returned original.
  std::string nested =
      Dsn("Final-Recipient: rfc822; a@b\r\n", "message/delivery-status",
          "; report-type=delivery-status", "--BB\r\nContent-Type: message/rfc822\r\n\r\n");
  std::string inner;
  for (int i = 0; i < 5000; ++i) inner += "Content-Type: message/rfc822\r\n\r\n";
  nested.insert(nested.rfind("--BB--"), inner);
  r = Parse(nested);
  EXPECT_EQ(r.kind, ReportKind::kDsn);
}

TEST(ParseReport, ConcurrentParsing) {
  // GMime is initialised on first use, from whichever thread comes first.
  const std::vector<std::string> raws = {Fixture("postfix_dsn_550.eml"),
                                         Fixture("arf_provider_fbl.eml"),
                                         Fixture("auto_reply_vacation.eml")};
  const ReportKind want[] = {ReportKind::kDsn, ReportKind::kComplaint, ReportKind::kAutoReply};
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        const size_t k = static_cast<size_t>(t + i) % raws.size();
        Result<Report> r = ParseReport(raws[k]);
        if (!r.ok() || r->kind != want[k]) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace mp::feedback
