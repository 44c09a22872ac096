#include "feedback/report.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "core/ascii.h"

namespace mp::feedback {
namespace {

// ---- GMime -------------------------------------------------------------------------------------

void InitGMime() {
  static std::once_flag once;
  // Never undone with g_mime_shutdown: other modules (and threads) may be parsing at exit.
  std::call_once(once, [] { g_mime_init(); });
}

struct GObjectUnref {
  void operator()(void* p) const {
    if (p) g_object_unref(p);
  }
};
template <typename T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

// The message GMime reads from bytes, or null. GMime copies the bytes into its own stream.
GPtr<GMimeMessage> ParseMessage(std::string_view bytes) {
  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size()));
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  return GPtr<GMimeMessage>(g_mime_parser_construct_message(parser.get(), nullptr));
}

bool IsType(GMimeObject* obj, const char* type, const char* subtype) {
  GMimeContentType* ct = g_mime_object_get_content_type(obj);
  return ct != nullptr && g_mime_content_type_is_type(ct, type, subtype);
}

// The decoded content (transfer encoding undone) of a leaf part; empty for anything else.
std::string PartContent(GMimeObject* obj) {
  if (!GMIME_IS_PART(obj)) return {};
  GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(obj));
  if (content == nullptr) return {};
  GPtr<GMimeStream> mem(g_mime_stream_mem_new());
  g_mime_data_wrapper_write_to_stream(content, mem.get());
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
  if (bytes == nullptr || bytes->data == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

const char* Header(GMimeObject* obj, const char* name) {
  return obj == nullptr ? nullptr : g_mime_object_get_header(obj, name);
}

// ---- Text --------------------------------------------------------------------------------------

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// s cut to kMaxFieldBytes, not inside a UTF-8 sequence, with CR and LF (which GMime leaves in some
// malformed header values) made spaces: values end up in logs and events one per line.
std::string Cap(std::string_view s) {
  if (s.size() > kMaxFieldBytes) {
    size_t n = kMaxFieldBytes;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s = s.substr(0, n);
  }
  std::string out(s);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return out;
}

// s without RFC 5322 comments ("failed (mailbox full)" -> "failed "); unbalanced parentheses
// drop the rest.
std::string StripComments(std::string_view s) {
  std::string out;
  int depth = 0;
  for (char c : s) {
    if (c == '(') {
      ++depth;
    } else if (c == ')' && depth > 0) {
      --depth;
    } else if (depth == 0) {
      out.push_back(c);
    }
  }
  return out;
}

std::string_view FirstToken(std::string_view s) {
  s = Trim(s);
  size_t end = 0;
  while (end < s.size() && !IsSpace(s[end]) && s[end] != ';') ++end;
  return s.substr(0, end);
}

// "rfc822; a@b" -> "a@b": the value after its type (the address or MTA name types of RFC 3464).
// A value without a type is taken whole.
std::string_view AfterType(std::string_view v) {
  const size_t semi = v.find(';');
  return Trim(semi == std::string_view::npos ? v : v.substr(semi + 1));
}

// "<a@b>" -> "a@b"; anything else trimmed.
std::string_view Unbracket(std::string_view v) {
  v = Trim(v);
  if (v.size() >= 2 && v.front() == '<') {
    const size_t close = v.find('>');
    if (close != std::string_view::npos) return Trim(v.substr(1, close - 1));
  }
  return v;
}

// The basic reply code a diagnostic starts with ("550 5.1.1 ...", "550-5.1.1 ..."), or 0.
int LeadingReplyCode(std::string_view text) {
  if (text.size() < 3 || text[0] < '2' || text[0] > '5' || text[1] < '0' || text[1] > '9' ||
      text[2] < '0' || text[2] > '9') {
    return 0;
  }
  if (text.size() > 3 && text[3] != ' ' && text[3] != '-' && text[3] != '\t') return 0;
  return (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
}

// ---- Header-like blocks (RFC 3464 section 2.1, RFC 5965 section 3.1) ----------------------------

struct Field {
  std::string name;  // lower case
  std::string value;
};
using Group = std::vector<Field>;

// The groups of "Name: value" lines of a delivery-status or feedback-report body, separated by
// blank lines. Folded lines are unfolded, each fold (line break and the indentation after it)
// becoming one space. Lenient: lines that are neither a field nor a continuation are skipped.
// Keeps at most max_groups non-empty groups and kMaxFieldsPerGroup fields per group; values are
// gathered up to a few times kMaxFieldBytes (cut again when used) so no value grows unbounded.
std::vector<Group> ParseGroups(std::string_view text, size_t max_groups) {
  constexpr size_t kMaxRawValueBytes = 4 * kMaxFieldBytes;
  std::vector<Group> groups;
  Group current;
  bool continuation_allowed = false;
  auto flush = [&] {
    if (!current.empty()) groups.push_back(std::move(current));
    current.clear();
    continuation_allowed = false;
  };
  size_t pos = 0;
  while (pos <= text.size() && groups.size() < max_groups) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (Trim(line).empty()) {
      flush();
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') {
      if (continuation_allowed) {
        std::string& v = current.back().value;
        if (v.size() < kMaxRawValueBytes) {
          if (!v.empty()) v.push_back(' ');
          v.append(Trim(line).substr(0, kMaxRawValueBytes - v.size()));
        }
      }
      continue;
    }
    const size_t colon = line.find(':');
    const std::string_view name =
        colon == std::string_view::npos ? "" : Trim(line.substr(0, colon));
    if (name.empty() || current.size() >= kMaxFieldsPerGroup) {
      continuation_allowed = false;
      continue;
    }
    current.push_back(
        Field{AsciiLower(name.substr(0, 64)),
              std::string(Trim(line.substr(colon + 1)).substr(0, kMaxRawValueBytes))});
    continuation_allowed = true;
  }
  if (groups.size() < max_groups) flush();
  return groups;
}

const std::string* Find(const Group& g, std::string_view name) {
  for (const Field& f : g) {
    if (f.name == name) return &f.value;
  }
  return nullptr;
}

void ParseDeliveryStatus(std::string_view text, Report& report) {
  // One per-message group, then the recipients.
  for (const Group& g : ParseGroups(text, kMaxDsnRecipients + 1)) {
    // Per-message fields belong in the first group, but some MTAs leave out the blank line.
    if (const std::string* v = Find(g, "reporting-mta"); v && report.reporting_mta.empty()) {
      report.reporting_mta = Cap(AfterType(*v));
    }
    if (!Find(g, "final-recipient") && !Find(g, "original-recipient") && !Find(g, "action") &&
        !Find(g, "status")) {
      continue;
    }
    if (report.recipients.size() >= kMaxDsnRecipients) break;
    DsnRecipient r;
    for (const Field& f : g) {
      const std::string_view v = f.value;
      // The first of a repeated field counts.
      if (f.name == "final-recipient" && r.final_recipient.empty()) {
        r.final_recipient = Cap(Unbracket(AfterType(v)));
      } else if (f.name == "original-recipient" && r.original_recipient.empty()) {
        r.original_recipient = Cap(Unbracket(AfterType(v)));
      } else if (f.name == "action" && r.action.empty()) {
        r.action = Cap(AsciiLower(FirstToken(StripComments(v))));
      } else if (f.name == "status" && r.status.empty()) {
        r.status = Cap(FirstToken(StripComments(v)));
      } else if (f.name == "remote-mta" && r.remote_mta.empty()) {
        r.remote_mta = Cap(AfterType(v));
      } else if (f.name == "diagnostic-code" && r.diagnostic.empty()) {
        r.diagnostic = Cap(AfterType(v));
        r.diagnostic_code = LeadingReplyCode(r.diagnostic);
      }
    }
    report.recipients.push_back(std::move(r));
  }
}

void ParseFeedbackReport(std::string_view text, Report& report) {
  // One group; a stray blank line inside it (seen in the wild) just starts another.
  for (const Group& g : ParseGroups(text, 8)) {
    for (const Field& f : g) {
      const std::string_view v = f.value;
      if (f.name == "feedback-type" && report.feedback_type.empty()) {
        report.feedback_type = Cap(AsciiLower(FirstToken(StripComments(v))));
      } else if (f.name == "user-agent" && report.user_agent.empty()) {
        report.user_agent = Cap(Trim(v));
      } else if (f.name == "source-ip" && report.source_ip.empty()) {
        report.source_ip = Cap(FirstToken(StripComments(v)));
      } else if ((f.name == "arrival-date" || f.name == "received-date") &&
                 report.arrival_date.empty()) {
        // Received-Date is the name in drafts before RFC 5965; some reporters still send it.
        report.arrival_date = Cap(Trim(v));
      } else if (f.name == "original-mail-from" && report.original_mail_from.empty()) {
        report.original_mail_from = Cap(Unbracket(v));
      } else if (f.name == "original-rcpt-to" && report.original_rcpt_to.size() < kMaxAddresses) {
        const std::string_view a = Unbracket(v);
        if (!a.empty()) report.original_rcpt_to.push_back(Cap(a));
      } else if (f.name == "reporting-mta" && report.reporting_mta.empty()) {
        report.reporting_mta = Cap(AfterType(v));
      }
    }
  }
}

// ---- The returned original message -------------------------------------------------------------

void AddAddresses(InternetAddressList* list, std::vector<std::string>& out) {
  if (list == nullptr) return;
  const int n = internet_address_list_length(list);
  for (int i = 0; i < n && out.size() < kMaxAddresses; ++i) {
    InternetAddress* a = internet_address_list_get_address(list, i);
    if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
      const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
      if (addr != nullptr && *addr != '\0') out.push_back(Cap(addr));
    } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
      // RFC 5322 groups do not nest; a group inside a group is ignored rather than recursed into.
      InternetAddressList* members = internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a));
      const int m = members == nullptr ? 0 : internet_address_list_length(members);
      for (int j = 0; j < m && out.size() < kMaxAddresses; ++j) {
        InternetAddress* b = internet_address_list_get_address(members, j);
        if (!INTERNET_ADDRESS_IS_MAILBOX(b)) continue;
        const char* addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(b));
        if (addr != nullptr && *addr != '\0') out.push_back(Cap(addr));
      }
    }
  }
}

void ReadOriginal(GMimeMessage* m, Report& report) {
  if (m == nullptr) return;
  if (const char* rp = Header(GMIME_OBJECT(m), "Return-Path")) {
    report.original_return_path = Cap(Unbracket(rp));
  }
  if (const char* id = g_mime_message_get_message_id(m)) {
    report.original_message_id = Cap(Unbracket(id));
  }
  AddAddresses(g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_TO), report.original_to);
}

// The original message (or its headers) among the report's parts, when there is one.
void FindOriginal(GMimeMultipart* report_part, Report& report) {
  const int n = g_mime_multipart_get_count(report_part);
  for (int i = 0; i < n; ++i) {
    GMimeObject* part = g_mime_multipart_get_part(report_part, i);
    if (GMIME_IS_MESSAGE_PART(part)) {  // message/rfc822, message/global
      ReadOriginal(g_mime_message_part_get_message(GMIME_MESSAGE_PART(part)), report);
      return;
    }
    // Headers only; "message/rfc822-headers" is a common misspelling of text/rfc822-headers.
    if (IsType(part, "text", "rfc822-headers") || IsType(part, "message", "global-headers") ||
        IsType(part, "message", "rfc822-headers")) {
      std::string headers = PartContent(part);
      headers.append("\r\n\r\n");  // ends the header block even when the part's content does not
      GPtr<GMimeMessage> m = ParseMessage(headers);
      ReadOriginal(m.get(), report);
      return;
    }
  }
}

// ---- Auto-replies ------------------------------------------------------------------------------

// RFC 3834 section 5: any Auto-Submitted value but "no" marks a message no human sent
// (auto-replied: vacation responders; auto-generated; RFC 5436's auto-notified). The others are
// non-standard signals from autoresponders that predate RFC 3834 or ignore it, each widely
// checked by mail loop guards and bounce processors:
//   X-Autoreply: yes         classic vacation programs and several webmail responders
//   X-Autorespond: <any>     hosted autoresponders (cPanel-era and others)
//   Precedence: auto_reply   older vacation programs; "bulk", "junk" and "list" mean mailing
//                            lists, not replies, and are not signals here
// Deliberately not signals: X-Auto-Response-Suppress (Exchange asks others not to answer this
// message; it is set on meeting requests and ordinary mail too), X-MS-Exchange-Inbox-Rules-Loop
// and List-* headers (forwarding rules and lists, not replies).
std::string AutoReplySignal(GMimeObject* msg) {
  if (const char* v = Header(msg, "Auto-Submitted")) {
    const std::string token = AsciiLower(FirstToken(StripComments(v)));
    if (!token.empty() && token != "no") return Cap("Auto-Submitted: " + std::string(Trim(v)));
  }
  if (const char* v = Header(msg, "X-Autoreply")) {
    const std::string token = AsciiLower(Trim(v));
    if (token != "no" && token != "false" && token != "0") {
      return Cap("X-Autoreply: " + std::string(Trim(v)));
    }
  }
  if (const char* v = Header(msg, "X-Autorespond")) {
    return Cap("X-Autorespond: " + std::string(Trim(v)));
  }
  if (const char* v = Header(msg, "Precedence")) {
    if (AsciiLower(FirstToken(StripComments(v))) == "auto_reply") {
      return Cap("Precedence: " + std::string(Trim(v)));
    }
  }
  return {};
}

// ---- Reports -----------------------------------------------------------------------------------

// The kind of a top-level multipart/report, from its parts: its report-type parameter only names
// what the second part should be, and reporters get it wrong (or leave it out), so the parts
// decide. Sets *reason when it is neither kind.
ReportKind ParseMultipartReport(GMimeMultipart* mp, Report& report) {
  GMimeContentType* ct = g_mime_object_get_content_type(GMIME_OBJECT(mp));
  const char* rt = ct == nullptr ? nullptr : g_mime_content_type_get_parameter(ct, "report-type");
  const std::string report_type = rt == nullptr ? "" : AsciiLower(Trim(rt));
  const int n = g_mime_multipart_get_count(mp);
  for (int i = 0; i < n; ++i) {
    GMimeObject* part = g_mime_multipart_get_part(mp, i);
    if (IsType(part, "message", "delivery-status") ||
        IsType(part, "message", "global-delivery-status")) {
      report.kind = ReportKind::kDsn;
      ParseDeliveryStatus(PartContent(part), report);
      FindOriginal(mp, report);
      return report.kind;
    }
    if (IsType(part, "message", "feedback-report")) {
      report.kind = ReportKind::kComplaint;
      ParseFeedbackReport(PartContent(part), report);
      FindOriginal(mp, report);
      return report.kind;
    }
  }
  if (report_type == "delivery-status" || report_type == "global-delivery-status") {
    report.reason =
        "multipart/report; report-type=" + report_type + " without a message/delivery-status part";
  } else if (report_type == "feedback-report") {
    report.reason =
        "multipart/report; report-type=feedback-report without a "
        "message/feedback-report part";
  } else {
    report.reason = "multipart/report of report-type '" + Cap(report_type.substr(0, 100)) +
                    "' is neither a delivery status nor a feedback report";
  }
  return ReportKind::kUnknown;
}

}  // namespace

std::string_view ReportKindName(ReportKind k) {
  switch (k) {
    case ReportKind::kDsn:
      return "dsn";
    case ReportKind::kComplaint:
      return "complaint";
    case ReportKind::kAutoReply:
      return "auto_reply";
    case ReportKind::kUnknown:
      break;
  }
  return "unknown";
}

Result<Report> ParseReport(std::string_view raw, size_t max_bytes) {
  if (raw.size() > max_bytes) {
    return MakeError(Code::kMessageTooLarge, "report of " + std::to_string(raw.size()) +
                                                 " bytes is over the limit of " +
                                                 std::to_string(max_bytes));
  }
  InitGMime();
  Report report;
  GPtr<GMimeMessage> msg = ParseMessage(raw);
  if (!msg) {
    report.reason = "not an RFC 5322 message";
    return report;
  }
  GMimeObject* top = g_mime_message_get_mime_part(msg.get());
  if (top != nullptr && GMIME_IS_MULTIPART(top) && IsType(top, "multipart", "report")) {
    if (ParseMultipartReport(GMIME_MULTIPART(top), report) != ReportKind::kUnknown) return report;
  }
  std::string signal = AutoReplySignal(GMIME_OBJECT(msg.get()));
  if (!signal.empty()) {
    report.kind = ReportKind::kAutoReply;
    report.auto_reply_signal = std::move(signal);
    report.reason.clear();
    return report;
  }
  if (report.reason.empty()) report.reason = "not multipart/report and no auto-reply header";
  return report;
}

}  // namespace mp::feedback
