// Fuzzes what the bounce-domain listener parses: any bytes as an inbound message get a Report of
// one kind (never an error under the size limit), with every limit kept and the right fields
// filled for the kind, the same answer every time; and any bytes as a recipient address are a VERP
// target only when they are exactly the address made for that message (no forgery, one spelling up
// to case).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/id.h"
#include "feedback/report.h"
#include "feedback/verp.h"

namespace {

using mp::feedback::Report;
using mp::feedback::ReportKind;

constexpr std::string_view kKey = "fuzz-verp-key-0123456789abcdef";
constexpr std::string_view kDomain = "bounces.example.com";

bool Lowered(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    char d = b[i];
    if (d >= 'A' && d <= 'Z') d = static_cast<char>(d - 'A' + 'a');
    if (c != d) return false;
  }
  return true;
}

void CheckReport(std::string_view raw) {
  mp::Result<Report> a = mp::feedback::ParseReport(raw);
  if (!a.ok()) std::abort();  // under the default limit: never an error
  const Report& r = a.value();
  if (r.kind == ReportKind::kUnknown && r.reason.empty()) std::abort();
  if (r.kind != ReportKind::kUnknown && !r.reason.empty()) std::abort();
  if ((r.kind == ReportKind::kAutoReply) == r.auto_reply_signal.empty()) std::abort();
  if (r.kind != ReportKind::kDsn && !r.recipients.empty()) std::abort();
  if (r.kind != ReportKind::kComplaint && (!r.feedback_type.empty() || !r.source_ip.empty()))
    std::abort();
  if (r.recipients.size() > mp::feedback::kMaxDsnRecipients) std::abort();
  if (r.original_to.size() > mp::feedback::kMaxAddresses) std::abort();
  if (r.original_rcpt_to.size() > mp::feedback::kMaxAddresses) std::abort();
  auto capped = [](const std::string& s) {
    if (s.size() > mp::feedback::kMaxFieldBytes) std::abort();
    if (s.find_first_of("\r\n") != std::string::npos) std::abort();
  };
  for (const auto& d : r.recipients) {
    for (const std::string* s : {&d.final_recipient, &d.original_recipient, &d.action, &d.status,
                                 &d.remote_mta, &d.diagnostic}) {
      capped(*s);
    }
    if (d.diagnostic_code != 0 && (d.diagnostic_code < 200 || d.diagnostic_code > 599)) {
      std::abort();
    }
  }
  for (const std::string* s : {&r.reporting_mta, &r.feedback_type, &r.user_agent, &r.source_ip,
                               &r.arrival_date, &r.original_mail_from, &r.original_return_path,
                               &r.original_message_id, &r.auto_reply_signal}) {
    capped(*s);
  }
  for (const std::string& s : r.original_to) capped(s);
  for (const std::string& s : r.original_rcpt_to) capped(s);
  // Deterministic.
  mp::Result<Report> b = mp::feedback::ParseReport(raw);
  if (!b.ok() || b->kind != r.kind || b->recipients.size() != r.recipients.size() ||
      b->original_message_id != r.original_message_id) {
    std::abort();
  }
  // The limit is enforced before parsing.
  if (!raw.empty() && mp::feedback::ParseReport(raw, raw.size() - 1).ok()) std::abort();
}

void CheckVerp(std::string_view address, std::string_view prefix) {
  auto t = mp::feedback::ParseVerpAddress(kKey, address, kDomain, prefix);
  if (!t) return;
  // Accepted: it must be (up to case, and optional angle brackets) the address made for the
  // message it names. Reaching this from random bytes means a forged MAC.
  std::string_view bare = address;
  if (bare.size() >= 2 && bare.front() == '<' && bare.back() == '>') {
    bare = bare.substr(1, bare.size() - 2);
  }
  const std::string made = mp::feedback::MakeVerpAddress(kKey, t->message, kDomain, prefix);
  if (made.empty() || !Lowered(made, bare)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    // Split: the first bytes (up to 23, from the selector) are a prefix, the rest an address.
    const size_t prefix_size = std::min<size_t>(data[0] >> 3, rest.size());
    std::string_view prefix = rest.substr(0, prefix_size);
    std::string_view address = rest.substr(prefix_size);
    CheckVerp(address, prefix.empty() ? mp::feedback::kDefaultVerpPrefix : prefix);
    // A valid address with the input folded into it somewhere must not verify unless unchanged.
    mp::MessageId id;
    for (size_t i = 0; i < id.bytes.size() && i < address.size(); ++i) {
      id.bytes[i] = static_cast<uint8_t>(address[i]);
    }
    std::string valid = mp::feedback::MakeVerpAddress(kKey, id, kDomain);
    if (valid.empty()) std::abort();
    if (!mp::feedback::ParseVerpAddress(kKey, valid, kDomain)) std::abort();
    if (!address.empty()) {
      const size_t at = static_cast<uint8_t>(address[0]) % valid.size();
      valid[at] = address.back();
      CheckVerp(valid, mp::feedback::kDefaultVerpPrefix);
    }
    return 0;
  }
  CheckReport(rest);
  return 0;
}
