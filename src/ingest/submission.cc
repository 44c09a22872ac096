#include "ingest/submission.h"

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <vector>

#include "core/clock.h"
#include "core/id.h"
#include "mime/compose.h"
#include "mime/encoding.h"
#include "store/suppression.h"

namespace mp {
namespace {

namespace json = boost::json;

constexpr std::string_view kComposedFields[] = {
    "from",    "to",          "cc",   "bcc",      "reply_to", "subject", "text",       "html",
    "headers", "attachments", "tags", "metadata", "send_at",  "raw",     "unsubscribe"};

// Headers composed from their own fields; setting them through headers{} is an error.
constexpr std::string_view kReservedHeaders[] = {"from",
                                                 "to",
                                                 "cc",
                                                 "bcc",
                                                 "reply-to",
                                                 "subject",
                                                 "mime-version",
                                                 "content-type",
                                                 "content-transfer-encoding",
                                                 "content-disposition",
                                                 "content-id",
                                                 "return-path",
                                                 "received",
                                                 "sender"};

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '@') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

void ReplaceAll(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// [day-of-week ","] day month year hour ":" minute [":" second] zone (RFC 5322 section 3.3).
bool LooksLikeRfc5322Date(std::string_view v) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < v.size()) {
    while (i < v.size() && v[i] == ' ') ++i;
    size_t j = v.find(' ', i);
    if (j == std::string_view::npos) j = v.size();
    if (j > i) parts.push_back(v.substr(i, j - i));
    i = j;
  }
  size_t k = 0;
  if (!parts.empty() && parts[0].size() == 4 && parts[0][3] == ',') k = 1;
  if (parts.size() != k + 5) return false;
  auto digits = [](std::string_view d, size_t lo, size_t hi) {
    return d.size() >= lo && d.size() <= hi &&
           std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (!digits(parts[k], 1, 2) || !digits(parts[k + 2], 4, 4)) return false;
  if (std::find(std::begin(kMonths), std::end(kMonths), parts[k + 1]) == std::end(kMonths)) {
    return false;
  }
  std::string_view t = parts[k + 3];
  if (!(t.size() == 5 || t.size() == 8) || t[2] != ':' || (t.size() == 8 && t[5] != ':')) {
    return false;
  }
  std::string_view z = parts[k + 4];
  return z.size() == 5 && (z[0] == '+' || z[0] == '-') && digits(z.substr(1), 4, 4);
}

class Parser {
 public:
  Parser(const LimitsConfig& limits, std::string_view path) : limits_(limits), path_(path) {}

  std::string Field(std::string_view name) const {
    if (path_.empty()) return std::string(name);
    if (!name.empty() && name.front() == '[') return std::string(path_) + std::string(name);
    return std::string(path_) + "." + std::string(name);
  }
  std::string Index(std::string_view name, size_t i) const {
    return Field(name) + "[" + std::to_string(i) + "]";
  }

  Error TypeError(std::string_view field, std::string_view expected) const {
    return MakeError(Code::kInvalidType, std::string(field) + " must be " + std::string(expected),
                     std::string(field));
  }

  // unsubscribe: {url, mailto}; absent or null leaves out empty.
  Status UnsubscribeField(const json::object& o, Unsubscribe* out) {
    const json::value* v = o.if_contains("unsubscribe");
    if (!v || v->is_null()) return Status::Ok();
    if (!v->is_object()) return TypeError(Field("unsubscribe"), "an object {url, mailto}");
    for (const auto& kv : v->get_object()) {
      std::string f = Field("unsubscribe") + "." + std::string(kv.key());
      if (kv.key() != "url" && kv.key() != "mailto") {
        return MakeError(Code::kUnknownField, "unknown field " + f, f);
      }
      if (!kv.value().is_string()) return TypeError(f, "a string");
      (kv.key() == "url" ? out->url : out->mailto) = std::string(kv.value().get_string());
    }
    return CheckUnsubscribe(*out, Field("unsubscribe"));
  }

  // A string field; absent or null leaves out untouched.
  Status String(const json::object& o, std::string_view name, std::optional<std::string>* out) {
    const json::value* v = o.if_contains(name);
    if (!v || v->is_null()) return Status::Ok();
    if (!v->is_string()) return TypeError(Field(name), "a string");
    *out = std::string(v->get_string());
    return Status::Ok();
  }

  // A list of mailboxes: a string or an array of strings.
  Status Mailboxes(const json::object& o, std::string_view name, std::vector<Mailbox>* out,
                   bool allow_display_name = true) {
    const json::value* v = o.if_contains(name);
    if (!v || v->is_null()) return Status::Ok();
    auto one = [&](const json::value& e, const std::string& field) -> Status {
      if (!e.is_string()) return TypeError(field, "a string");
      auto m = allow_display_name ? ParseMailbox(e.get_string(), field)
                                  : ParseAddress(e.get_string(), field);
      if (!m.ok()) return m.error();
      out->push_back(std::move(m.value()));
      return Status::Ok();
    };
    if (v->is_string()) return one(*v, Field(name));
    if (!v->is_array()) return TypeError(Field(name), "an array of addresses");
    const json::array& a = v->get_array();
    if (a.size() > static_cast<size_t>(limits_.max_recipients)) {
      return MakeError(Code::kTooManyRecipients,
                       Field(name) + " has " + std::to_string(a.size()) +
                           " addresses; the limit is " + std::to_string(limits_.max_recipients),
                       Field(name));
    }
    for (size_t i = 0; i < a.size(); ++i) {
      Status s = one(a[i], Index(name, i));
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

  Status HeaderText(std::string_view value, const std::string& field) {
    for (unsigned char c : value) {
      if (c == '\r' || c == '\n' || c == '\0') {
        return MakeError(Code::kHeaderInjection, field + " contains CR, LF or NUL", field);
      }
    }
    if (!IsValidUtf8(value)) {
      return MakeError(Code::kInvalidValue, field + " is not valid UTF-8", field);
    }
    if (value.size() > 16384) {
      return MakeError(Code::kInvalidValue, field + " is longer than 16384 octets", field);
    }
    size_t word = 0;
    for (char c : value) {
      word = (c == ' ' || c == '\t') ? 0 : word + 1;
      if (word > 900) {
        return MakeError(Code::kInvalidValue,
                         field + " has a word longer than 900 characters, which cannot be folded",
                         field);
      }
    }
    return Status::Ok();
  }

  Status Headers(const json::object& o, ComposeInput* in, std::string* message_id) {
    const json::value* v = o.if_contains("headers");
    if (!v || v->is_null()) return Status::Ok();
    if (!v->is_object()) return TypeError(Field("headers"), "an object of name: value");
    if (v->get_object().size() > 100) {
      return MakeError(Code::kInvalidValue, "headers has more than 100 entries", Field("headers"));
    }
    for (const auto& kv : v->get_object()) {
      std::string field = Field("headers") + "." + std::string(kv.key());
      std::string_view name = kv.key();
      if (name.empty() || name.size() > 76) {
        return MakeError(Code::kInvalidValue, "header name must be 1 to 76 characters", field);
      }
      for (unsigned char c : name) {
        if (c == '\r' || c == '\n' || c == '\0') {
          return MakeError(Code::kHeaderInjection, "header name contains CR, LF or NUL", field);
        }
        if (c < 33 || c > 126 || c == ':') {
          return MakeError(Code::kInvalidValue,
                           "header name may only contain printable ASCII other than ':'", field);
        }
      }
      for (const auto& [seen, unused] : in->headers) {
        if (IEquals(seen, name)) {
          return MakeError(Code::kInvalidValue,
                           "header " + std::string(name) + " is given twice (names ignore case)",
                           field);
        }
      }
      for (std::string_view r : kReservedHeaders) {
        if (IEquals(name, r)) {
          return MakeError(Code::kInvalidValue,
                           "header " + std::string(name) +
                               " is set from its own field or by mailplane, not through headers",
                           field);
        }
      }
      if (!kv.value().is_string()) return TypeError(field, "a string");
      std::string_view value = kv.value().get_string();
      Status s = HeaderText(value, field);
      if (!s.ok()) return s;
      if (IEquals(name, "Message-ID")) {
        if (value.size() < 5 || value.front() != '<' || value.back() != '>' ||
            value.find('@') == std::string_view::npos ||
            value.find(' ') != std::string_view::npos) {
          return MakeError(Code::kInvalidValue, "Message-ID must look like <id@domain>", field);
        }
        *message_id = std::string(value.substr(1, value.size() - 2));
      }
      if (IEquals(name, "Date") && !LooksLikeRfc5322Date(value)) {
        return MakeError(Code::kInvalidValue,
                         "Date must be an RFC 5322 date-time such as "
                         "\"Tue, 24 Nov 2026 10:00:00 +0000\"",
                         field);
      }
      in->headers.emplace_back(std::string(name), std::string(value));
    }
    return Status::Ok();
  }

  Status Attachments(const json::object& o, ComposeInput* in) {
    const json::value* v = o.if_contains("attachments");
    if (!v || v->is_null()) return Status::Ok();
    if (!v->is_array()) return TypeError(Field("attachments"), "an array");
    const json::array& a = v->get_array();
    if (a.size() > 100) {
      return MakeError(Code::kInvalidValue, "at most 100 attachments", Field("attachments"));
    }
    for (size_t i = 0; i < a.size(); ++i) {
      std::string base = Index("attachments", i);
      if (!a[i].is_object()) return TypeError(base, "an object");
      const json::object& ao = a[i].get_object();
      for (const auto& kv : ao) {
        std::string_view k = kv.key();
        if (k != "filename" && k != "content_type" && k != "content" && k != "content_id") {
          return MakeError(Code::kUnknownField, "unknown field " + std::string(k),
                           base + "." + std::string(k));
        }
      }
      Attachment att;
      auto str = [&](std::string_view name, std::string* out, bool required) -> Status {
        std::string field = base + "." + std::string(name);
        const json::value* f = ao.if_contains(name);
        if (!f || f->is_null()) {
          if (required) {
            return MakeError(Code::kMissingField, field + " is required", field);
          }
          return Status::Ok();
        }
        if (!f->is_string()) return TypeError(field, "a string");
        *out = std::string(f->get_string());
        return Status::Ok();
      };
      std::string content_b64;
      for (Status s :
           {str("filename", &att.filename, false), str("content_type", &att.content_type, false),
            str("content", &content_b64, true), str("content_id", &att.content_id, false)}) {
        if (!s.ok()) return s;
      }
      Status s = HeaderText(att.filename, base + ".filename");
      if (!s.ok()) return s;
      s = HeaderText(att.content_id, base + ".content_id");
      if (!s.ok()) return s;
      if (att.content_type.empty()) att.content_type = "application/octet-stream";
      if (!ValidContentType(att.content_type)) {
        return MakeError(Code::kInvalidValue, "content_type must be type/subtype",
                         base + ".content_type");
      }
      // RFC 2046 allows only 7bit, 8bit or binary for these, and attachments are base64.
      std::string lower_type = att.content_type;
      for (char& ch : lower_type)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (lower_type.rfind("multipart/", 0) == 0 || lower_type.rfind("message/", 0) == 0) {
        return MakeError(Code::kInvalidValue,
                         "multipart/* and message/* cannot be attachments; send the message as raw "
                         "or attach it as application/octet-stream",
                         base + ".content_type");
      }
      if (!att.content_id.empty()) {
        if (att.content_id.front() == '<' && att.content_id.back() == '>') {
          att.content_id = att.content_id.substr(1, att.content_id.size() - 2);
        }
        bool printable = std::all_of(att.content_id.begin(), att.content_id.end(),
                                     [](char ch) { return ch > 32 && ch < 127; });
        if (att.content_id.empty() || !printable ||
            att.content_id.find_first_of("<>\"") != std::string::npos) {
          return MakeError(Code::kInvalidValue,
                           "content_id must be printable ASCII without spaces, quotes or <>",
                           base + ".content_id");
        }
      }
      if (content_b64.size() > limits_.max_message_bytes * 4 / 3 + 4) {
        return MakeError(Code::kMessageTooLarge, "attachment is larger than the message limit",
                         base + ".content");
      }
      auto decoded = Base64Decode(content_b64);
      if (!decoded) {
        return MakeError(Code::kInvalidBase64, base + ".content is not valid base64",
                         base + ".content");
      }
      att.content = std::move(*decoded);
      in->attachments.push_back(std::move(att));
    }
    return Status::Ok();
  }

  static bool ValidContentType(std::string_view ct) {
    size_t slash = ct.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == ct.size()) return false;
    for (size_t i = 0; i < ct.size(); ++i) {
      char c = ct[i];
      if (i == slash) continue;
      bool tchar = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   std::string_view("!#$&-^_.+").find(c) != std::string_view::npos;
      if (!tchar) return false;
    }
    return ct.size() <= 127;
  }

  Status Tags(const json::object& o, std::vector<std::string>* tags) {
    const json::value* v = o.if_contains("tags");
    if (!v || v->is_null()) return Status::Ok();
    if (!v->is_array()) return TypeError(Field("tags"), "an array of strings");
    const json::array& a = v->get_array();
    if (a.size() > static_cast<size_t>(limits_.max_tags)) {
      return MakeError(Code::kInvalidValue, "at most " + std::to_string(limits_.max_tags) + " tags",
                       Field("tags"));
    }
    for (size_t i = 0; i < a.size(); ++i) {
      std::string f = Index("tags", i);
      if (!a[i].is_string()) return TypeError(f, "a string");
      std::string_view t = a[i].get_string();
      if (t.empty() || t.size() > 128) {
        return MakeError(Code::kInvalidValue, "a tag must be 1 to 128 characters", f);
      }
      for (unsigned char c : t) {
        if (c < 0x20 || c == 0x7f) {
          return MakeError(Code::kInvalidValue, "a tag must not contain control characters", f);
        }
      }
      if (!IsValidUtf8(t)) return MakeError(Code::kInvalidValue, "a tag must be UTF-8", f);
      tags->emplace_back(t);
    }
    return Status::Ok();
  }

  Status Metadata(const json::object& o, std::string* out) {
    const json::value* v = o.if_contains("metadata");
    if (!v || v->is_null()) {
      *out = "{}";
      return Status::Ok();
    }
    if (!v->is_object()) return TypeError(Field("metadata"), "an object");
    *out = json::serialize(*v);
    if (out->size() > static_cast<size_t>(limits_.max_metadata_bytes)) {
      return MakeError(
          Code::kInvalidValue,
          "metadata is larger than " + std::to_string(limits_.max_metadata_bytes) + " bytes",
          Field("metadata"));
    }
    return Status::Ok();
  }

  // now: the message's creation time (one clock reading, so an unscheduled message's send_at
  // equals its created_at exactly).
  Status SendAt(const json::object& o, int64_t now, int64_t* send_at_ms) {
    const json::value* v = o.if_contains("send_at");
    *send_at_ms = now;
    if (!v || v->is_null()) return Status::Ok();
    std::string f = Field("send_at");
    if (!v->is_string()) return TypeError(f, "an RFC 3339 date-time string");
    int64_t t;
    if (!ParseRfc3339(v->get_string(), &t)) {
      return MakeError(Code::kInvalidSendAt,
                       "send_at must be an RFC 3339 date-time such as 2026-11-24T10:00:00Z", f);
    }
    if (t < now - int64_t{limits_.send_at_past_skew_seconds} * 1000) {
      return MakeError(Code::kInvalidSendAt, "send_at is in the past", f);
    }
    if (t > now + int64_t{limits_.send_at_max_future_days} * 86400 * 1000) {
      return MakeError(
          Code::kInvalidSendAt,
          "send_at is more than " + std::to_string(limits_.send_at_max_future_days) + " days ahead",
          f);
    }
    *send_at_ms = std::max(t, now);
    return Status::Ok();
  }

 private:
  const LimitsConfig& limits_;
  std::string_view path_;
};

// Finds the Message-ID in a raw message's header section (for display; the body is not changed).
std::string RawMessageId(std::string_view raw) {
  size_t pos = 0;
  while (pos < raw.size()) {
    size_t eol = raw.find('\n', pos);
    if (eol == std::string_view::npos) eol = raw.size();
    std::string_view line = raw.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // end of headers
    if (line.size() > 11 && IEquals(line.substr(0, 11), "message-id:")) {
      std::string_view v = line.substr(11);
      size_t lt = v.find('<'), gt = v.find('>');
      if (lt != std::string_view::npos && gt != std::string_view::npos && gt > lt) {
        return std::string(v.substr(lt + 1, gt - lt - 1));
      }
    }
    pos = eol + 1;
  }
  return {};
}

// A raw message must at least begin with a header field and have a header/body structure that
// SMTP can carry: no NUL, lines within 998 octets.
Status CheckRaw(std::string_view raw, const std::string& field) {
  if (raw.empty()) return MakeError(Code::kInvalidValue, "raw message is empty", field);
  size_t colon = raw.find(':');
  size_t eol = raw.find('\n');
  if (colon == std::string_view::npos || (eol != std::string_view::npos && colon > eol) ||
      colon == 0) {
    return MakeError(Code::kInvalidValue, "raw message does not start with a header field", field);
  }
  for (size_t i = 0; i < colon; ++i) {
    auto c = static_cast<unsigned char>(raw[i]);
    if (c < 33 || c > 126) {
      return MakeError(Code::kInvalidValue, "raw message does not start with a header field",
                       field);
    }
  }
  size_t line = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    char ch = raw[i];
    if (ch == '\0') return MakeError(Code::kInvalidValue, "raw message contains NUL", field);
    if (ch == '\r') {
      if (i + 1 >= raw.size() || raw[i + 1] != '\n') {
        return MakeError(Code::kInvalidValue, "raw message contains a bare CR", field);
      }
      continue;  // part of CRLF: not counted in the line
    }
    if (ch == '\n') {
      line = 0;
    } else if (++line > 998) {
      return MakeError(Code::kInvalidValue, "raw message has a line longer than 998 octets", field);
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckUnsubscribe(const Unsubscribe& u, std::string_view field) {
  std::string f(field);
  if (u.empty()) {
    return MakeError(Code::kInvalidValue, f + " needs url (https) or mailto, or both", f);
  }
  if (!u.url.empty()) {
    bool ok = u.url.rfind("https://", 0) == 0 && u.url.size() > 8 && u.url.size() <= 900;
    for (unsigned char c : u.url) ok = ok && c > 32 && c < 127 && c != '<' && c != '>' && c != ',';
    if (!ok) {
      return MakeError(Code::kInvalidValue,
                       f + ".url must be an https URL of at most 900 printable ASCII characters "
                           "without spaces, '<', '>' or ',' (RFC 8058 one-click needs https)",
                       f + ".url");
    }
  }
  if (!u.mailto.empty()) {
    std::string probe = u.mailto;
    ReplaceAll(probe, "{recipient}", "r");
    ReplaceAll(probe, "{message_id}", "m");
    std::string_view addr = probe;
    size_t q = addr.find('?');  // mailto:x@y?subject=... is allowed
    auto parsed = ParseAddress(addr.substr(0, q), f + ".mailto");
    bool ok = parsed.ok() && probe.size() <= 900;
    for (unsigned char c : probe) ok = ok && c > 32 && c < 127 && c != '<' && c != '>' && c != ',';
    if (!ok) {
      return MakeError(Code::kInvalidValue,
                       f + ".mailto must be an ASCII email address (optionally ?subject=...)",
                       f + ".mailto");
    }
  }
  return Status::Ok();
}

Result<PreparedMessage> PrepareMessage(const json::value& value, std::string_view tenant_id,
                                       const LimitsConfig& limits, const Clock& clock,
                                       std::string_view path,
                                       const Unsubscribe* tenant_unsubscribe) {
  Parser p(limits, path);
  if (!value.is_object()) {
    return p.TypeError(path.empty() ? std::string("(body)") : std::string(path), "a JSON object");
  }
  const json::object& o = value.get_object();
  for (const auto& kv : o) {
    if (std::find(std::begin(kComposedFields), std::end(kComposedFields), kv.key()) ==
        std::end(kComposedFields)) {
      return MakeError(Code::kUnknownField, "unknown field " + std::string(kv.key()),
                       p.Field(kv.key()));
    }
  }
  const bool raw_mode = o.contains("raw") && !o.at("raw").is_null();

  ComposeInput in;
  std::optional<std::string> from_text;
  Status s = p.String(o, "from", &from_text);
  if (!s.ok()) return s.error();
  if (!from_text) return MakeError(Code::kMissingField, "from is required", p.Field("from"));
  auto from = ParseMailbox(*from_text, p.Field("from"));
  if (!from.ok()) return from.error();
  in.from = std::move(from.value());

  std::vector<Mailbox> bcc;
  for (const Status& st : {p.Mailboxes(o, "to", &in.to), p.Mailboxes(o, "cc", &in.cc),
                           p.Mailboxes(o, "bcc", &bcc), p.Mailboxes(o, "reply_to", &in.reply_to)}) {
    if (!st.ok()) return st.error();
  }
  if (in.to.empty() && in.cc.empty() && bcc.empty()) {
    return MakeError(Code::kMissingField, "at least one recipient in to, cc or bcc is required",
                     p.Field("to"));
  }
  size_t total = in.to.size() + in.cc.size() + bcc.size();
  if (total > static_cast<size_t>(limits.max_recipients)) {
    return MakeError(Code::kTooManyRecipients,
                     "the message has " + std::to_string(total) + " recipients; the limit is " +
                         std::to_string(limits.max_recipients),
                     p.Field("to"));
  }

  PreparedMessage out;
  Envelope& e = out.envelope;
  s = p.Tags(o, &e.tags);
  if (!s.ok()) return s.error();
  s = p.Metadata(o, &e.metadata_json);
  if (!s.ok()) return s.error();
  const int64_t now = clock.NowMs();
  int64_t send_at = 0;
  s = p.SendAt(o, now, &send_at);
  if (!s.ok()) return s.error();

  e.id = NewId(clock);
  e.tenant_id = std::string(tenant_id);
  e.mail_from = in.from.Address();
  e.created_ms = now;
  e.updated_ms = e.created_ms;
  e.send_at_ms = send_at;
  e.source = "http";
  const bool scheduled = send_at > e.created_ms;
  e.status = scheduled ? MessageStatus::kScheduled : MessageStatus::kQueued;

  if (raw_mode) {
    for (std::string_view f :
         {"subject", "text", "html", "headers", "attachments", "reply_to", "unsubscribe"}) {
      if (o.contains(f) && !o.at(f).is_null()) {
        return MakeError(Code::kInvalidValue,
                         "raw cannot be combined with " + std::string(f) +
                             ": the raw message already contains it",
                         p.Field(f));
      }
    }
    const json::value& rv = o.at("raw");
    if (!rv.is_string()) return p.TypeError(p.Field("raw"), "a base64 string");
    if (rv.get_string().size() / 4 * 3 > limits.max_message_bytes + 3) {
      return MakeError(
          Code::kMessageTooLarge,
          "the message is larger than " + std::to_string(limits.max_message_bytes) + " bytes",
          p.Field("raw"));
    }
    auto decoded = Base64Decode(rv.get_string());
    if (!decoded) {
      return MakeError(Code::kInvalidBase64, "raw is not valid base64", p.Field("raw"));
    }
    s = CheckRaw(*decoded, p.Field("raw"));
    if (!s.ok()) return s.error();
    out.body = std::move(*decoded);
    e.message_id = RawMessageId(out.body);
  } else {
    std::optional<std::string> subject;
    for (const Status& st : {p.String(o, "subject", &subject), p.String(o, "text", &in.text),
                             p.String(o, "html", &in.html)}) {
      if (!st.ok()) return st.error();
    }
    if (subject) {
      s = p.HeaderText(*subject, p.Field("subject"));
      if (!s.ok()) return s.error();
      in.subject = std::move(*subject);
    }
    for (const auto* body : {&in.text, &in.html}) {
      if (*body && !IsValidUtf8(**body)) {
        return MakeError(Code::kInvalidValue, "body text is not valid UTF-8",
                         p.Field(body == &in.text ? "text" : "html"));
      }
    }
    // A lower bound of the encoded size, before any work: bodies encode to at least their own
    // size and attachments to at least their base64 text.
    uint64_t at_least = (in.text ? in.text->size() : 0) + (in.html ? in.html->size() : 0);
    if (const json::value* atts = o.if_contains("attachments"); atts && atts->is_array()) {
      for (const json::value& a : atts->get_array()) {
        const json::value* c = a.is_object() ? a.get_object().if_contains("content") : nullptr;
        if (c && c->is_string()) at_least += c->get_string().size();
      }
    }
    if (at_least > limits.max_message_bytes) {
      return MakeError(Code::kMessageTooLarge,
                       "the message is at least " + std::to_string(at_least) +
                           " bytes encoded; the limit is " +
                           std::to_string(limits.max_message_bytes),
                       path.empty() ? std::string() : std::string(path));
    }
    std::string user_message_id;
    s = p.Headers(o, &in, &user_message_id);
    if (!s.ok()) return s.error();
    Unsubscribe unsubscribe;
    s = p.UnsubscribeField(o, &unsubscribe);
    if (!s.ok()) return s.error();
    bool from_default = false;
    if (unsubscribe.empty() && tenant_unsubscribe && !tenant_unsubscribe->empty()) {
      unsubscribe = *tenant_unsubscribe;
      from_default = true;
    }
    s = p.Attachments(o, &in);
    if (!s.ok()) return s.error();
    if (!in.text && !in.html && in.attachments.empty()) {
      return MakeError(Code::kMissingField, "one of text, html or attachments is required",
                       p.Field("text"));
    }
    std::string lower_id = e.id.ToString();
    std::transform(lower_id.begin(), lower_id.end(), lower_id.begin(), ::tolower);
    in.message_id = user_message_id.empty() ? lower_id + "@" + in.from.domain : user_message_id;
    in.date = FormatRfc5322Date(e.created_ms);
    if (!unsubscribe.empty()) {
      for (const auto& [name, unused] : in.headers) {
        if (IEquals(name, "List-Unsubscribe") || IEquals(name, "List-Unsubscribe-Post")) {
          return MakeError(Code::kInvalidValue,
                           "List-Unsubscribe comes from the unsubscribe field (or the tenant's "
                           "default); do not set it in headers as well",
                           p.Field("headers"));
        }
      }
      if (from_default) {
        std::string lower_id = e.id.ToString();
        std::transform(lower_id.begin(), lower_id.end(), lower_id.begin(), ::tolower);
        bool one = in.to.size() + in.cc.size() + bcc.size() == 1;
        for (std::string* t : {&unsubscribe.url, &unsubscribe.mailto}) {
          if (t->find("{recipient}") != std::string::npos) {
            if (!one) {
              return MakeError(Code::kInvalidValue,
                               "the tenant's default unsubscribe target names {recipient}, which "
                               "needs a message with exactly one recipient (or give unsubscribe)",
                               p.Field("to"));
            }
            const Mailbox& m = !in.to.empty() ? in.to[0] : !in.cc.empty() ? in.cc[0] : bcc[0];
            ReplaceAll(*t, "{recipient}", UrlEncode(m.Address()));
          }
          ReplaceAll(*t, "{message_id}", lower_id);
        }
      }
      std::string value;
      if (!unsubscribe.mailto.empty()) value += "<mailto:" + unsubscribe.mailto + ">";
      if (!unsubscribe.url.empty()) {
        if (!value.empty()) value += ", ";
        value += "<" + unsubscribe.url + ">";
      }
      in.headers.emplace_back("List-Unsubscribe", value);
      // One click (RFC 8058) needs the https URL; a mailto alone is the older RFC 2369 form.
      if (!unsubscribe.url.empty()) {
        in.headers.emplace_back("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
      }
    }
    in.boundary_seed = e.id.ToString();
    e.subject = in.subject;
    e.message_id = in.message_id;
    out.body = ComposeMessage(in);
  }
  if (out.body.size() > limits.max_message_bytes) {
    return MakeError(Code::kMessageTooLarge,
                     "the message is " + std::to_string(out.body.size()) +
                         " bytes encoded; the limit is " + std::to_string(limits.max_message_bytes),
                     path.empty() ? std::string() : std::string(path));
  }
  e.size = out.body.size();

  // Envelope recipients: to, cc, bcc in order, each address once (case-insensitive).
  std::set<std::string> seen;
  auto add = [&](const std::vector<Mailbox>& list, RecipientKind kind) {
    for (const Mailbox& m : list) {
      std::string addr = m.Address();
      // Local parts are case-sensitive (RFC 5321 section 2.4); domains are not.
      std::string domain = m.domain;
      std::transform(domain.begin(), domain.end(), domain.begin(), ::tolower);
      std::string key = m.local + "@" + domain;
      if (!seen.insert(key).second) continue;
      e.recipients.push_back({std::move(addr), kind,
                              scheduled ? RecipientStatus::kScheduled : RecipientStatus::kQueued});
    }
  };
  add(in.to, RecipientKind::kTo);
  add(in.cc, RecipientKind::kCc);
  add(bcc, RecipientKind::kBcc);
  return out;
}

Status ApplySuppressions(KvStore& kv, Envelope& e, int64_t now_ms) {
  bool any = false;
  auto policy = ReadSuppressionPolicy(kv, e.tenant_id);  // whether the global list applies
  if (!policy.ok()) return policy.error();
  for (RecipientRecord& r : e.recipients) {
    if (!r.Pending()) continue;
    auto found = FindSuppression(kv, e.tenant_id, r.address, now_ms, policy.value());
    if (!found.ok()) return found.error();
    if (!found.value()) continue;
    const Suppression& s = *found.value();
    r.status = RecipientStatus::kSuppressed;
    r.reason = (s.scope == kGlobalScope ? "global list: " : "tenant list: ") + s.reason;
    any = true;
  }
  if (any) e.status = DeriveStatus(e);
  return {};
}

}  // namespace mp
