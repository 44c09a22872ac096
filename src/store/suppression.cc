#include "store/suppression.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>

#include "core/clock.h"
#include "core/id.h"
#include "store/event_log.h"
#include "store/spool.h"

namespace mp {
namespace {

constexpr char kSuppressionFormatV1 = 1;
constexpr std::string_view kKeyPrefix = "sup/";
// Domain index: lets a domain filter walk only that domain's entries instead of a whole list.
constexpr std::string_view kDomainPrefix = "supdom/";
constexpr size_t kMaxAddress = 320;  // 64 (local part) + 1 + 255 (domain)
constexpr size_t kMaxLocal = 64;
constexpr size_t kMaxDomain = 255;
constexpr size_t kMaxLabel = 63;
// A record past this many fields is refused without storing the rest (a line of commas would
// otherwise cost a string per comma).
constexpr size_t kMaxCsvFields = 16;
// Index entries are read in chunks and their records fetched after each chunk, so no Get runs
// inside a scan callback (a backend may not allow that).
constexpr size_t kIndexChunk = 128;
constexpr int64_t kMaxExpiresMs = kMaxSuppressionExpiresMs;

constexpr std::array<std::string_view, 6> kReasons = {
    "invalid_recipient", "bad_domain", "inactive_mailbox", "complaint", "unsubscribe", "manual"};
constexpr std::array<std::string_view, 3> kSources = {"auto", "api", "import"};
constexpr std::string_view kPolicyPrefix = "suppolicy/";
constexpr char kPolicyFormatV1 = 1;
constexpr uint8_t kPolicyUseGlobal = 0x01;  // the only flag bit of format v1

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string LowerCopy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 5322 atext.
bool IsAtext(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// Length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates, at
// most U+10FFFF), or 0.
size_t Utf8Length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(i + k) < 0x80 || b(i + k) > 0xBF) return 0;
  }
  return n;
}

// Valid UTF-8 without NUL bytes.
bool IsText(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '\0') return false;
    size_t n = Utf8Length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// The detail as stored: valid UTF-8 (each bad byte '?'), control characters (C0, DEL, C1) as
// spaces so it stays on one line in logs and exports, cut at a character boundary.
std::string CleanDetail(std::string_view s) {
  std::string out;
  out.reserve(std::min(s.size(), kMaxSuppressionDetail));
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8Length(s, i);
    if (out.size() + std::max<size_t>(n, 1) > kMaxSuppressionDetail) break;
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (n == 0) {
      out.push_back('?');
      n = 1;
    } else if (c < 0x20 || c == 0x7F ||
               (n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0)) {
      out.push_back(' ');
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

Error BadAddress(std::string detail) {
  return MakeError(Code::kInvalidValue, std::move(detail), "address");
}

// A domain of LDH labels (RFC 5321 section 4.1.2), lower case already.
Status CheckDomain(std::string_view d) {
  if (d.size() > kMaxDomain) return BadAddress("domain is longer than 255 octets");
  size_t labels = 0;
  std::string_view last;
  while (true) {
    size_t dot = d.find('.');
    std::string_view label = d.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabel) {
      return BadAddress("domain has an empty label or one longer than 63 octets");
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
        return BadAddress("domain holds a character other than letters, digits, '-' and '.'");
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return BadAddress("a domain label starts or ends with '-'");
    }
    ++labels;
    last = label;
    if (dot == std::string_view::npos) break;
    d.remove_prefix(dot + 1);
  }
  if (labels < 2) return BadAddress("domain has no dot");
  // A dotted quad without brackets is an IP address, not a domain.
  if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return BadAddress("domain's top label is all digits (write an IP address as [192.0.2.1])");
  }
  return Status::Ok();
}

// An address literal ("[192.0.2.1]", "[ipv6:2001:db8::1]"), canonicalized, or an error.
Result<std::string> NormalizeLiteral(std::string_view d) {
  if (d.size() < 3 || d.back() != ']') return BadAddress("address literal is not closed by ']'");
  std::string inner(d.substr(1, d.size() - 2));
  char buf[INET6_ADDRSTRLEN] = {};
  if (inner.starts_with("ipv6:")) {
    in6_addr a6{};
    if (inet_pton(AF_INET6, inner.c_str() + 5, &a6) != 1 ||
        inet_ntop(AF_INET6, &a6, buf, sizeof buf) == nullptr) {
      return BadAddress("address literal is not an IPv6 address");
    }
    return "[ipv6:" + std::string(buf) + "]";
  }
  in_addr a4{};
  if (inet_pton(AF_INET, inner.c_str(), &a4) != 1 ||
      inet_ntop(AF_INET, &a4, buf, sizeof buf) == nullptr) {
    return BadAddress("address literal is not an IPv4 address (or [IPv6:...])");
  }
  return "[" + std::string(buf) + "]";
}

std::string_view DomainOf(std::string_view address) {
  size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

std::string ScopePrefix(std::string_view scope) {
  std::string k(kKeyPrefix);
  k.append(scope);
  k.push_back('\0');
  return k;
}

std::string DomainPrefix(std::string_view scope, std::string_view domain) {
  std::string k(kDomainPrefix);
  k.append(scope);
  k.push_back('\0');
  k.append(domain);
  k.push_back('\0');
  return k;
}

// The first key after every key that starts with prefix ("" if there is none).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto last = static_cast<unsigned char>(prefix.back());
    if (last != 0xFF) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

void PutString(std::string& out, std::string_view s) {
  s = s.substr(0, 0xFFFF);
  out.push_back(static_cast<char>(s.size() >> 8));
  out.push_back(static_cast<char>(s.size() & 0xFF));
  out.append(s);
}

bool GetString(std::string_view& in, std::string* out) {
  if (in.size() < 2) return false;
  size_t n = static_cast<size_t>(static_cast<unsigned char>(in[0])) << 8 |
             static_cast<unsigned char>(in[1]);
  if (in.size() < 2 + n) return false;
  out->assign(in.substr(2, n));
  in.remove_prefix(2 + n);
  return true;
}

int Nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<std::string> Unhex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = Nibble(hex[i]), lo = Nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

bool Expired(const Suppression& s, int64_t now_ms) {
  return s.expires_ms != 0 && s.expires_ms <= now_ms;
}

Error Corrupt() { return MakeError(Code::kStorage, "corrupt suppression record"); }

// Fills one page from entries offered in address order, within the scan budget.
class Pager {
 public:
  Pager(const SuppressionQuery& q, int64_t now_ms)
      : q_(q), now_ms_(now_ms), max_scan_(std::max<size_t>(q.limit * 20, 10000)) {}

  // value is nullopt for a stale index entry. Returns false to stop.
  bool Offer(std::string_view address, const std::optional<std::string>& value) {
    if (page_.items.size() >= q_.limit || scanned_ >= max_scan_) {
      more_ = true;
      return false;
    }
    ++scanned_;
    last_.assign(address);
    if (!value) return true;
    auto s = DecodeSuppression(q_.scope, address, *value);
    if (!s) {
      corrupt_ = true;
      return false;
    }
    if (!q_.reason.empty() && s->reason != q_.reason) return true;
    if (!q_.include_expired && Expired(*s, now_ms_)) return true;
    page_.items.push_back(std::move(*s));
    return true;
  }

  Result<SuppressionPage> Finish() && {
    if (corrupt_) return Corrupt();
    if (more_) page_.next_cursor = HexEncode(last_);
    return std::move(page_);
  }

 private:
  const SuppressionQuery& q_;
  int64_t now_ms_;
  size_t max_scan_;
  size_t scanned_ = 0;
  bool more_ = false, corrupt_ = false;
  std::string last_;
  SuppressionPage page_;
};

// ---- CSV ----

// Splits RFC 4180 records, tracking physical line numbers.
class CsvReader {
 public:
  struct Record {
    size_t line = 0;
    std::vector<std::string> fields;
    std::string error;   // non-empty: the record is malformed
    bool blank = false;  // nothing but spaces on the line
  };

  explicit CsvReader(std::string_view s) : s_(s) {}

  bool Next(Record* rec) {
    if (pos_ >= s_.size()) return false;
    rec->line = line_;
    rec->fields.clear();
    rec->error.clear();
    bool quoted_any = false;
    while (true) {
      if (rec->fields.size() >= kMaxCsvFields) {
        return Fail(rec, "more than " + std::to_string(kMaxCsvFields) + " fields");
      }
      size_t q = pos_;
      while (q < s_.size() && (s_[q] == ' ' || s_[q] == '\t')) ++q;
      std::string field;
      if (q < s_.size() && s_[q] == '"') {
        quoted_any = true;
        pos_ = q + 1;
        while (true) {
          if (pos_ >= s_.size()) {
            rec->error = "a quoted field is not closed";
            return true;
          }
          char c = s_[pos_++];
          if (c == '"') {
            if (pos_ < s_.size() && s_[pos_] == '"') {
              field.push_back('"');
              ++pos_;
              continue;
            }
            break;
          }
          if (c == '\n' || (c == '\r' && (pos_ >= s_.size() || s_[pos_] != '\n'))) ++line_;
          field.push_back(c);
        }
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
        if (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != '\r' && s_[pos_] != '\n') {
          return Fail(rec, "text after a closing quote");
        }
      } else {
        size_t end = s_.find_first_of(",\r\n\"", pos_);
        if (end == std::string_view::npos) end = s_.size();
        if (end < s_.size() && s_[end] == '"') return Fail(rec, "a quote inside an unquoted field");
        field.assign(s_.substr(pos_, end - pos_));
        pos_ = end;
      }
      rec->fields.push_back(std::move(field));
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      EndLine();
      break;
    }
    rec->blank = !quoted_any && rec->fields.size() == 1 && Trim(rec->fields[0]).empty();
    return true;
  }

 private:
  bool Fail(Record* rec, std::string message) {
    rec->error = std::move(message);
    while (pos_ < s_.size() && s_[pos_] != '\r' && s_[pos_] != '\n') ++pos_;
    EndLine();
    return true;
  }
  void EndLine() {
    if (pos_ >= s_.size()) return;
    if (s_[pos_] == '\r') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '\n') ++pos_;
    ++line_;
  }

  std::string_view s_;
  size_t pos_ = 0;
  size_t line_ = 1;
};

enum class CsvColumn { kAddress, kReason, kExpiresAt, kDetail, kIgnored };

// Drops the export's formula guard.
std::string_view Unguard(std::string_view s) {
  if (!s.empty() && s.front() == '\'') s.remove_prefix(1);
  return s;
}

Error BadCsv(std::string detail) {
  return MakeError(Code::kInvalidValue, std::move(detail), "csv");
}

// The header's columns, or an error for an unknown or repeated name or no address column.
Result<std::vector<CsvColumn>> HeaderColumns(const std::vector<std::string>& names) {
  std::vector<CsvColumn> cols;
  bool seen[4] = {};
  for (const std::string& raw : names) {
    std::string n = LowerCopy(Trim(raw));
    CsvColumn c;
    if (n == "address" || n == "email") {
      c = CsvColumn::kAddress;
    } else if (n == "reason") {
      c = CsvColumn::kReason;
    } else if (n == "expires_at") {
      c = CsvColumn::kExpiresAt;
    } else if (n == "detail") {
      c = CsvColumn::kDetail;
    } else if (n == "source" || n == "created_at" || n == "message_id" || n == "event_id") {
      c = CsvColumn::kIgnored;
    } else {
      return BadCsv(
          "unknown column in the header (columns: address, reason, expires_at, detail; source, "
          "created_at, message_id and event_id are ignored)");
    }
    if (c != CsvColumn::kIgnored) {
      if (seen[static_cast<int>(c)]) return BadCsv("a column is named twice in the header");
      seen[static_cast<int>(c)] = true;
    }
    cols.push_back(c);
  }
  return cols;
}

// One data record as a row, or the reason it is refused.
std::optional<std::string> ToRow(const std::vector<std::string>& fields,
                                 const std::vector<CsvColumn>& cols, SuppressionCsvRow* row) {
  if (fields.size() > cols.size()) {
    return std::to_string(fields.size()) + " fields, at most " + std::to_string(cols.size()) +
           " expected";
  }
  bool have_address = false;
  row->reason = "manual";
  for (size_t i = 0; i < fields.size(); ++i) {
    switch (cols[i]) {
      case CsvColumn::kAddress: {
        auto a = NormalizeSuppressedAddress(Unguard(Trim(fields[i])));
        if (!a.ok()) return a.error().detail;
        row->address = std::move(a).value();
        have_address = true;
        break;
      }
      case CsvColumn::kReason: {
        std::string r = LowerCopy(Unguard(Trim(fields[i])));
        if (r.empty()) break;
        if (!IsSuppressionReason(r)) {
          return std::string(
              "reason is not one of invalid_recipient, bad_domain, inactive_mailbox, complaint, "
              "unsubscribe, manual");
        }
        row->reason = std::move(r);
        break;
      }
      case CsvColumn::kExpiresAt: {
        std::string_view t = Unguard(Trim(fields[i]));
        if (t.empty()) break;
        int64_t ms = 0;
        if (!ParseRfc3339(t, &ms)) {
          return std::string("expires_at is not an RFC 3339 time like 2026-12-31T00:00:00Z");
        }
        if (ms <= 0) return std::string("expires_at is not after 1970-01-01T00:00:00Z");
        // Past year 9999 (reachable through an offset) the export could not write it back.
        if (ms > kMaxExpiresMs) return std::string("expires_at is after 9999-12-31T23:59:59Z");
        row->expires_ms = ms;
        break;
      }
      case CsvColumn::kDetail:
        row->detail.assign(Unguard(fields[i]));
        break;
      case CsvColumn::kIgnored:
        break;
    }
  }
  if (!have_address) return std::string("address is missing");
  return std::nullopt;
}

// A CSV field: quoted when it holds a separator, a quote, a line end or edge spaces. OWASP's
// advice against CSV (formula) injection: a spreadsheet runs a cell starting with = + - @ (or a
// tab or CR) as a formula, so such a field gets a leading apostrophe. A field that starts with an
// apostrophe gets one too, so that the importer's rule "drop one leading apostrophe" gives back
// every exported value exactly.
void AppendCsvField(std::string& out, std::string_view v) {
  std::string f;
  if (!v.empty() && std::string_view("=+-@\t\r'").find(v.front()) != std::string_view::npos) {
    f.push_back('\'');
  }
  f.append(v);
  bool quote = f.find_first_of(",\"\r\n") != std::string::npos ||
               (!f.empty() &&
                (f.front() == ' ' || f.front() == '\t' || f.back() == ' ' || f.back() == '\t'));
  if (!quote) {
    out += f;
    return;
  }
  out.push_back('"');
  for (char c : f) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

}  // namespace

Result<std::string> NormalizeSuppressedAddress(std::string_view address) {
  std::string_view a = Trim(address);
  if (a.empty()) return BadAddress("address is empty");
  if (a.size() > kMaxAddress) return BadAddress("address is longer than 320 octets");
  std::string out;
  out.reserve(a.size());
  for (char c : a) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      return BadAddress("address is not ASCII (write the domain in A-labels, xn--...)");
    }
    if (u <= 0x20 || u == 0x7F) return BadAddress("address holds a space or control character");
    out.push_back(Lower(c));
  }
  size_t at = out.rfind('@');
  if (at == std::string::npos) return BadAddress("address has no '@'");
  std::string_view local = std::string_view(out).substr(0, at);
  std::string_view domain = std::string_view(out).substr(at + 1);
  if (local.empty()) return BadAddress("address has an empty local part");
  if (local.size() > kMaxLocal) return BadAddress("local part is longer than 64 octets");
  for (char c : local) {
    if (!IsAtext(c) && c != '.') {
      return BadAddress(
          "local part holds a character other than letters, digits, . and "
          "!#$%&'*+-/=?^_`{|}~ (quoted local parts are not accepted)");
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return BadAddress("local part starts or ends with a dot or has two in a row");
  }
  if (domain.empty()) return BadAddress("address has an empty domain");
  if (domain.front() == '[') {
    auto lit = NormalizeLiteral(domain);
    if (!lit.ok()) return lit.error();
    out.resize(at + 1);
    out += lit.value();
    return out;
  }
  Status s = CheckDomain(domain);
  if (!s.ok()) return s.error();
  return out;
}

bool IsSuppressionReason(std::string_view r) {
  return std::find(kReasons.begin(), kReasons.end(), r) != kReasons.end();
}

bool IsSuppressionSource(std::string_view s) {
  return std::find(kSources.begin(), kSources.end(), s) != kSources.end();
}

std::string SuppressionKey(std::string_view scope, std::string_view address) {
  std::string k = ScopePrefix(scope);
  k.append(address);
  return k;
}

std::string EncodeSuppression(const Suppression& s) {
  std::string out(1, kSuppressionFormatV1);
  AppendU64BE(out, static_cast<uint64_t>(s.created_ms));
  AppendU64BE(out, static_cast<uint64_t>(s.expires_ms));
  PutString(out, s.reason);
  PutString(out, s.source);
  PutString(out, s.message_id);
  PutString(out, s.event_id);
  PutString(out, CleanDetail(s.detail));
  return out;
}

std::optional<Suppression> DecodeSuppression(std::string_view scope, std::string_view address,
                                             std::string_view value) {
  if (value.size() < 17 || value[0] != kSuppressionFormatV1) return std::nullopt;
  Suppression s;
  s.scope.assign(scope);
  s.address.assign(address);
  s.created_ms = static_cast<int64_t>(ReadU64BE(value.substr(1, 8)));
  s.expires_ms = static_cast<int64_t>(ReadU64BE(value.substr(9, 8)));
  value.remove_prefix(17);
  if (!GetString(value, &s.reason) || !GetString(value, &s.source) ||
      !GetString(value, &s.message_id) || !GetString(value, &s.event_id) ||
      !GetString(value, &s.detail) || !value.empty()) {
    return std::nullopt;
  }
  return s;
}

void AddSuppression(WriteBatch& batch, const Suppression& s) {
  batch.Put(Column::kState, SuppressionKey(s.scope, s.address), EncodeSuppression(s));
  batch.Put(Column::kState, DomainPrefix(s.scope, DomainOf(s.address)) + s.address, {});
}

void RemoveSuppression(WriteBatch& batch, std::string_view scope, std::string_view address) {
  batch.Delete(Column::kState, SuppressionKey(scope, address));
  batch.Delete(Column::kState, DomainPrefix(scope, DomainOf(address)) + std::string(address));
}

bool IsAutoSuppressionReason(std::string_view r) { return r != "manual" && IsSuppressionReason(r); }

SuppressionPolicy SuppressionPolicy::Defaults() {
  SuppressionPolicy p;
  p.auto_reasons = {{"invalid_recipient", 0},
                    {"bad_domain", 30 * kSuppressionDayMs},
                    {"inactive_mailbox", 0},
                    {"complaint", 0},
                    {"unsubscribe", 0}};
  return p;
}

std::optional<int64_t> SuppressionPolicy::AutoExpiry(std::string_view reason,
                                                     int64_t now_ms) const {
  auto it = auto_reasons.find(std::string(reason));
  if (it == auto_reasons.end()) return std::nullopt;
  if (it->second <= 0) return int64_t{0};
  // Past the last time the CSV export can write, an entry is as good as permanent.
  if (it->second > kMaxExpiresMs - now_ms) return kMaxExpiresMs;
  return now_ms + it->second;
}

std::string SuppressionPolicyKey(std::string_view tenant) {
  std::string k(kPolicyPrefix);
  k.append(tenant);
  return k;
}

std::string EncodeSuppressionPolicy(const SuppressionPolicy& p) {
  std::string out(1, kPolicyFormatV1);
  out.push_back(static_cast<char>(p.use_global ? kPolicyUseGlobal : 0));
  std::string entries;
  size_t n = 0;
  for (const auto& [reason, ms] : p.auto_reasons) {
    if (!IsAutoSuppressionReason(reason) || ms < 0) continue;
    entries.push_back(static_cast<char>(reason.size()));
    entries.append(reason);
    AppendU64BE(entries, static_cast<uint64_t>(ms));
    ++n;
  }
  out.push_back(static_cast<char>(n));
  out += entries;
  return out;
}

std::optional<SuppressionPolicy> DecodeSuppressionPolicy(std::string_view value) {
  if (value.size() < 3 || value[0] != kPolicyFormatV1) return std::nullopt;
  auto flags = static_cast<uint8_t>(value[1]);
  if (flags & ~kPolicyUseGlobal) return std::nullopt;
  size_t n = static_cast<unsigned char>(value[2]);
  value.remove_prefix(3);
  SuppressionPolicy p;
  p.use_global = flags & kPolicyUseGlobal;
  for (size_t i = 0; i < n; ++i) {
    if (value.empty()) return std::nullopt;
    size_t len = static_cast<unsigned char>(value[0]);
    if (value.size() < 1 + len + 8) return std::nullopt;
    std::string reason(value.substr(1, len));
    auto ms = static_cast<int64_t>(ReadU64BE(value.substr(1 + len, 8)));
    value.remove_prefix(1 + len + 8);
    if (!IsAutoSuppressionReason(reason) || ms < 0) return std::nullopt;
    if (!p.auto_reasons.emplace(std::move(reason), ms).second) return std::nullopt;
  }
  if (!value.empty()) return std::nullopt;
  return p;
}

Result<SuppressionPolicy> ReadSuppressionPolicy(KvStore& kv, std::string_view tenant) {
  auto v = kv.Get(Column::kState, SuppressionPolicyKey(tenant));
  if (!v.ok()) return v.error();
  if (!v.value()) return SuppressionPolicy::Defaults();
  auto p = DecodeSuppressionPolicy(*v.value());
  if (!p) return MakeError(Code::kStorage, "corrupt suppression policy");
  return std::move(*p);
}

void AddSuppressionPolicy(WriteBatch& batch, std::string_view tenant, const SuppressionPolicy& p) {
  batch.Put(Column::kState, SuppressionPolicyKey(tenant), EncodeSuppressionPolicy(p));
}

Result<std::optional<Suppression>> ReadSuppression(KvStore& kv, std::string_view scope,
                                                   std::string_view address) {
  auto a = NormalizeSuppressedAddress(address);
  if (!a.ok()) return a.error();
  auto v = kv.Get(Column::kState, SuppressionKey(scope, a.value()));
  if (!v.ok()) return v.error();
  if (!v.value()) return std::optional<Suppression>();
  auto s = DecodeSuppression(scope, a.value(), *v.value());
  if (!s) return Corrupt();
  return s;
}

Result<std::optional<Suppression>> FindSuppression(KvStore& kv, std::string_view tenant,
                                                   std::string_view address, int64_t now_ms) {
  return FindSuppression(kv, tenant, address, now_ms, SuppressionPolicy{});
}

Result<std::optional<Suppression>> FindSuppression(KvStore& kv, std::string_view tenant,
                                                   std::string_view address, int64_t now_ms,
                                                   const SuppressionPolicy& policy) {
  auto a = NormalizeSuppressedAddress(address);
  if (!a.ok()) return std::optional<Suppression>();
  for (std::string_view scope : {tenant, kGlobalScope}) {
    if (scope == kGlobalScope && !policy.use_global) break;
    auto v = kv.Get(Column::kState, SuppressionKey(scope, a.value()));
    if (!v.ok()) return v.error();
    if (!v.value()) continue;
    auto s = DecodeSuppression(scope, a.value(), *v.value());
    if (!s) return Corrupt();
    if (!Expired(*s, now_ms)) return s;
  }
  return std::optional<Suppression>();
}

Result<SuppressionPage> ListSuppressions(KvStore& kv, const SuppressionQuery& q, int64_t now_ms) {
  if (q.scope.empty() || q.scope.find('\0') != std::string::npos) {
    return MakeError(Code::kInvalidValue, "scope must be a tenant id or '*'", "scope");
  }
  if (!q.reason.empty() && !IsSuppressionReason(q.reason)) {
    return MakeError(Code::kInvalidValue, "unknown reason", "reason");
  }
  if (q.limit == 0 || q.limit > kMaxSuppressionPage) {
    return MakeError(Code::kInvalidValue, "limit must be 1 to 1000", "limit");
  }
  std::string prefix = LowerCopy(Trim(q.address_prefix));
  if (prefix.size() > kMaxAddress || prefix.find('\0') != std::string::npos) {
    return MakeError(Code::kInvalidValue, "not an address prefix", "address_prefix");
  }
  std::string domain = LowerCopy(Trim(q.domain));
  if (domain.size() > kMaxDomain ||
      domain.find_first_of(std::string_view("@\0", 2)) != std::string::npos) {
    return MakeError(Code::kInvalidValue, "not a domain", "domain");
  }
  std::string after;
  if (!q.cursor.empty()) {
    auto c = Unhex(q.cursor);
    if (!c || c->empty() || c->size() > kMaxAddress || c->find('\0') != std::string::npos) {
      return MakeError(Code::kInvalidValue, "cursor is not one this API gave", "cursor");
    }
    after = std::move(*c);
  }

  const bool by_domain = !domain.empty();
  const std::string base = by_domain ? DomainPrefix(q.scope, domain) : ScopePrefix(q.scope);
  std::string from = base + prefix;
  const std::string to = PrefixEnd(from);
  if (!after.empty()) {
    std::string next = base + after;
    next.push_back('\0');  // strictly after the cursor's address
    from = std::max(from, next);
  }
  Pager pager(q, now_ms);
  if (from >= to) return std::move(pager).Finish();

  if (!by_domain) {
    Status s =
        kv.ScanRange(Column::kState, from, to, [&](std::string_view key, std::string_view v) {
          return pager.Offer(key.substr(base.size()), std::string(v));
        });
    if (!s.ok()) return s.error();
    return std::move(pager).Finish();
  }
  while (true) {
    std::vector<std::string> addresses;
    Status s = kv.ScanRange(Column::kState, from, to, [&](std::string_view key, std::string_view) {
      addresses.emplace_back(key.substr(base.size()));
      return addresses.size() < kIndexChunk;
    });
    if (!s.ok()) return s.error();
    for (const std::string& a : addresses) {
      auto v = kv.Get(Column::kState, SuppressionKey(q.scope, a));
      if (!v.ok()) return v.error();
      if (!pager.Offer(a, v.value())) return std::move(pager).Finish();
    }
    if (addresses.size() < kIndexChunk) break;
    from = base + addresses.back();
    from.push_back('\0');
  }
  return std::move(pager).Finish();
}

Result<SuppressionCsvResult> ParseSuppressionCsv(std::string_view csv, size_t max_rows,
                                                 size_t max_bytes) {
  if (csv.size() > max_bytes) {
    return MakeError(Code::kMessageTooLarge,
                     "CSV is larger than " + std::to_string(max_bytes) + " bytes", "csv");
  }
  if (!IsText(csv)) return BadCsv("CSV is not UTF-8 text");
  if (csv.starts_with("\xEF\xBB\xBF")) csv.remove_prefix(3);  // byte order mark (Excel)

  static const std::vector<CsvColumn> kPositional = {CsvColumn::kAddress, CsvColumn::kReason,
                                                     CsvColumn::kExpiresAt, CsvColumn::kDetail};
  std::vector<CsvColumn> cols = kPositional;
  SuppressionCsvResult out;
  CsvReader reader(csv);
  CsvReader::Record rec;
  bool first = true;
  size_t records = 0;
  while (reader.Next(&rec)) {
    if (rec.blank) continue;
    if (first) {
      first = false;
      if (rec.error.empty()) {
        std::string f0 = LowerCopy(Trim(rec.fields[0]));
        if (f0 == "address" || f0 == "email") {
          auto h = HeaderColumns(rec.fields);
          if (!h.ok()) return h.error();
          cols = std::move(h).value();
          continue;
        }
      }
    }
    if (++records > max_rows) {
      return MakeError(Code::kBatchTooLarge,
                       "CSV has more than " + std::to_string(max_rows) + " rows", "csv");
    }
    if (!rec.error.empty()) {
      out.errors.push_back({rec.line, std::move(rec.error)});
      continue;
    }
    SuppressionCsvRow row;
    if (auto err = ToRow(rec.fields, cols, &row)) {
      out.errors.push_back({rec.line, std::move(*err)});
      continue;
    }
    out.rows.push_back(std::move(row));
  }
  return out;
}

std::string SuppressionCsvHeader() {
  return "address,reason,source,created_at,expires_at,message_id,detail\r\n";
}

std::string SuppressionCsvLine(const Suppression& s) {
  std::string out;
  AppendCsvField(out, s.address);
  out.push_back(',');
  AppendCsvField(out, s.reason);
  out.push_back(',');
  AppendCsvField(out, s.source);
  out.push_back(',');
  AppendCsvField(out, FormatRfc3339(s.created_ms));
  out.push_back(',');
  AppendCsvField(out, s.expires_ms ? FormatRfc3339(s.expires_ms) : std::string());
  out.push_back(',');
  AppendCsvField(out, s.message_id);
  out.push_back(',');
  AppendCsvField(out, s.detail);
  out += "\r\n";
  return out;
}

bool AddAutoSuppression(KvStore& kv, WriteBatch& batch, const Envelope& e,
                        const std::string& address, const std::string& reason, const Event& ev) {
  auto policy = ReadSuppressionPolicy(kv, e.tenant_id);
  SuppressionPolicy p = policy.ok() ? policy.value() : SuppressionPolicy::Defaults();
  auto expires = p.AutoExpiry(reason, ev.at_ms);
  if (!expires) return false;
  auto normalized = NormalizeSuppressedAddress(address);
  if (!normalized.ok()) return false;
  Suppression s;
  s.scope = e.tenant_id;
  s.address = normalized.value();
  s.reason = reason;
  s.source = "auto";
  s.created_ms = ev.at_ms;
  s.expires_ms = *expires;
  s.message_id = e.id.ToString();
  s.event_id = ev.id.ToString();
  s.detail = ev.text;
  AddSuppression(batch, s);
  return true;
}

}  // namespace mp
