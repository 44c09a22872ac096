// Inbound reports: what a message sent to the bounce domain is. Input: the raw RFC 5322 bytes the
// bounce-domain listener received. Output: a Report of one kind
//
//   kDsn        multipart/report with a message/delivery-status part (RFC 3464; RFC 6533
//               message/global-delivery-status too): per-message fields, then one DsnRecipient
//               per recipient group (final recipient, action, status, remote MTA, diagnostic)
//   kComplaint  multipart/report with a message/feedback-report part (ARF, RFC 5965): feedback
//               type, user agent, source IP, arrival date, original envelope
//   kAutoReply  none of those, but an RFC 3834 Auto-Submitted header other than "no", or one of
//               the few common non-standard auto-reply headers (report.cc says which and why)
//   kUnknown    anything else, with the reason
//
// and, for the reports, what the returned original message (message/rfc822, message/global) or
// its headers (text/rfc822-headers, message/global-headers) says: Return-Path, Message-ID, To.
// The report checks come first: real DSNs carry "Auto-Submitted: auto-replied" too (Postfix's do).
// Which message a report concerns is best taken from the VERP address it was sent to
// (feedback/verp.h), which cannot be forged; the fields here are what the reporter claims.
//
// SECURITY: the input is fully untrusted mail (anyone can send to the bounce domain): any bytes,
// any structure. It is refused above max_bytes before parsing. GMime parses the MIME structure
// (its nesting depth is bounded by GMime itself, at 1024); only the top-level multipart/report and
// its direct children are looked at. The delivery-status and feedback-report blocks are parsed
// here, linearly, keeping at most kMaxDsnRecipients recipient groups, kMaxFieldsPerGroup fields per
// group (so at most that many Original-Rcpt-To) and kMaxAddresses addresses of To, every value cut
// to kMaxFieldBytes. Nothing in a report is trusted: values are as the sender wrote them (any bytes
// but CR and LF).
// Cost is linear in the input, but GMime makes an object per header and per address: input made
// of tiny headers or a huge address list costs about 0.2 s of CPU per MB (measured, -O2; 2 s at
// the default 10 MB), ordinary content a few ms per MB. Bound how many parses run at once.
// Thread-safety: ParseReport is safe from any number of threads at once (GMime is initialised
// once per process, with std::call_once, and each call uses its own GMime objects).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace mp::feedback {

inline constexpr size_t kMaxReportBytes = size_t{10} * 1024 * 1024;
inline constexpr size_t kMaxDsnRecipients = 1000;  // recipient groups; the rest are ignored
inline constexpr size_t kMaxFieldsPerGroup = 200;  // fields in one group; the rest are ignored
inline constexpr size_t kMaxAddresses = 1000;      // in To and Original-Rcpt-To; the rest ignored
inline constexpr size_t kMaxFieldBytes = 1000;     // every value; longer ones are cut

enum class ReportKind { kDsn, kComplaint, kAutoReply, kUnknown };

// "dsn", "complaint", "auto_reply", "unknown": stable (events, logs).
std::string_view ReportKindName(ReportKind k);

struct DsnRecipient {
  std::string final_recipient;     // address only (after "rfc822;", without <>), as given
  std::string original_recipient;  // same, may be empty
  std::string action;              // failed, delayed, delivered, relayed, expanded (lower case)
  std::string status;              // "5.1.1"
  std::string remote_mta;          // after "dns;"
  std::string diagnostic;          // Diagnostic-Code text after "smtp;", unfolded
  int diagnostic_code = 0;         // the SMTP basic code the diagnostic starts with (550), or 0
};

struct Report {
  ReportKind kind = ReportKind::kUnknown;
  std::string reporting_mta;             // Reporting-MTA after "dns;" (DSN; ARF when given)
  std::vector<DsnRecipient> recipients;  // DSN
  std::string feedback_type;             // ARF: abuse, fraud, virus, other, not-spam ...
  std::string user_agent, source_ip, arrival_date;  // ARF fields
  std::vector<std::string> original_rcpt_to;        // ARF Original-Rcpt-To (addresses)
  std::string original_mail_from;                   // ARF Original-Mail-From (address)
  // From the returned original message or its headers (text/rfc822-headers or message/rfc822
  // part), when present:
  std::string original_return_path;      // address without <>
  std::string original_message_id;       // without <>
  std::vector<std::string> original_to;  // addresses of the To header
  std::string auto_reply_signal;         // kAutoReply: the header that identified it, e.g.
                                         // "Auto-Submitted: auto-replied"
  std::string reason;                    // kUnknown: why it is not a report, e.g.
                                         // "not multipart/report and no auto-reply header"
};

// Never fails on content: anything unparseable is kUnknown with a reason. The only error is input
// over max_bytes (Code::kMessageTooLarge), refused before parsing.
Result<Report> ParseReport(std::string_view raw, size_t max_bytes = kMaxReportBytes);

}  // namespace mp::feedback
