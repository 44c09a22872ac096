#include "mime/compose.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "core/id.h"
#include "mime/encoding.h"

namespace mp {
namespace {

bool IsSevenBitShortLines(std::string_view s) {
  size_t line = 0;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80 || c == 0) return false;
    if (c == '\r') continue;  // CR only as part of CRLF is fine; bare CR is normalized below
    if (c == '\n') {
      line = 0;
      continue;
    }
    if (++line > 76) return false;
  }
  return s.find('\r') == std::string_view::npos || s.find("\r\n") != std::string_view::npos;
}

// Normalizes line endings to CRLF (for 7bit parts). Bare CRs become CRLF too.
std::string ToCrlf(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 40);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out.append("\r\n");
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else if (s[i] == '\n') {
      out.append("\r\n");
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

class Composer {
 public:
  Composer(std::string& out, std::string_view seed) : out_(out), seed_(seed) {
    if (seed_.empty()) {
      unsigned char r[12];
      RandomBytes(r, sizeof r);
      seed_ = HexEncode(std::string_view(reinterpret_cast<char*>(r), sizeof r));
    }
  }

  std::string NewBoundary() { return "mp=_" + seed_ + "_" + std::to_string(counter_++); }

  void TextPart(std::string_view subtype, std::string_view body) {
    out_.append("Content-Type: text/").append(subtype).append("; charset=utf-8\r\n");
    if (IsSevenBitShortLines(body)) {
      out_.append("Content-Transfer-Encoding: 7bit\r\n\r\n");
      out_.append(ToCrlf(body));
    } else {
      out_.append("Content-Transfer-Encoding: quoted-printable\r\n\r\n");
      out_.append(QuotedPrintableEncode(body));
    }
    if (out_.size() < 2 || out_.compare(out_.size() - 2, 2, "\r\n") != 0) out_.append("\r\n");
  }

  void AttachmentPart(const Attachment& a, bool is_inline) {
    std::string ct = a.content_type;
    if (!a.filename.empty()) ct += "; " + Param("name", a.filename);
    AppendHeader(out_, "Content-Type", ct);
    out_.append("Content-Transfer-Encoding: base64\r\n");
    std::string disp = is_inline ? "inline" : "attachment";
    if (!a.filename.empty()) disp += "; " + Param("filename", a.filename);
    AppendHeader(out_, "Content-Disposition", disp);
    if (!a.content_id.empty()) out_.append("Content-ID: <").append(a.content_id).append(">\r\n");
    out_.append("\r\n").append(Base64EncodeMime(a.content));
  }

  // Opens a multipart: the Content-Type header and the blank line; returns the boundary.
  // extra: more parameters, each starting with "; ".
  std::string OpenMultipart(std::string_view subtype, std::string_view extra = {}) {
    std::string b = NewBoundary();
    out_.append("Content-Type: multipart/")
        .append(subtype)
        .append(extra)
        .append("; boundary=\"")
        .append(b)
        .append("\"\r\n\r\n");
    return b;
  }
  void Delimiter(const std::string& b) { out_.append("\r\n--").append(b).append("\r\n"); }
  void Close(const std::string& b) { out_.append("\r\n--").append(b).append("--\r\n"); }

 private:
  // A parameter: name="value" when the value is printable ASCII; otherwise RFC 2231 form,
  // name*0*=utf-8''%XX...; name*1*=... with sections short enough to fold between (RFC 2047
  // encoded words are not allowed inside parameters).
  static std::string Param(std::string_view name, std::string_view v) {
    bool ascii = std::all_of(v.begin(), v.end(), [](char c) { return c >= 32 && c < 127; });
    if (ascii) {
      std::string out = std::string(name) + "=\"";
      for (char c : v) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
      }
      out.push_back('"');
      return out;
    }
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::vector<std::string> sections(1);
    for (unsigned char c : v) {
      bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '-' || c == '_';
      if (sections.back().size() >= 60) sections.emplace_back();
      if (plain) {
        sections.back().push_back(static_cast<char>(c));
      } else {
        sections.back().append({'%', kHex[c >> 4], kHex[c & 15]});
      }
    }
    std::string out;
    for (size_t i = 0; i < sections.size(); ++i) {
      if (i) out.append("; ");
      out.append(name).append("*").append(std::to_string(i)).append("*=");
      if (i == 0) out.append("utf-8''");
      out.append(sections[i]);
    }
    return out;
  }

  std::string& out_;
  std::string seed_;
  int counter_ = 0;
};

std::string AddressList(const std::vector<Mailbox>& list) {
  std::string v;
  for (size_t i = 0; i < list.size(); ++i) {
    if (i) v.append(", ");
    v.append(FormatMailboxHeader(list[i]));
  }
  return v;
}

bool HasHeader(const ComposeInput& in, std::string_view name) {
  for (const auto& [n, v] : in.headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(a) == std::tolower(b);
        })) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string ComposeMessage(const ComposeInput& in) {
  std::string out;
  size_t estimate = 1024 + in.subject.size() + (in.text ? in.text->size() * 11 / 10 : 0) +
                    (in.html ? in.html->size() * 11 / 10 : 0);
  for (const Attachment& a : in.attachments) estimate += a.content.size() * 4 / 3 + 256;
  out.reserve(estimate);

  if (!HasHeader(in, "Date")) AppendHeader(out, "Date", in.date);
  AppendHeader(out, "From", FormatMailboxHeader(in.from));
  if (!in.to.empty()) AppendHeader(out, "To", AddressList(in.to));
  if (!in.cc.empty()) AppendHeader(out, "Cc", AddressList(in.cc));
  if (!in.reply_to.empty()) AppendHeader(out, "Reply-To", AddressList(in.reply_to));
  AppendHeader(out, "Subject", EncodeUnstructured(in.subject));
  if (!HasHeader(in, "Message-ID")) AppendHeader(out, "Message-ID", "<" + in.message_id + ">");
  for (const auto& [name, value] : in.headers) AppendHeader(out, name, EncodeUnstructured(value));
  out.append("MIME-Version: 1.0\r\n");

  std::vector<const Attachment*> inline_parts, regular;
  for (const Attachment& a : in.attachments) {
    (a.content_id.empty() || !in.html ? regular : inline_parts).push_back(&a);
  }

  Composer c(out, in.boundary_seed);
  std::string mixed;
  if (!regular.empty()) {
    mixed = c.OpenMultipart("mixed");
    out.append("This is a multi-part message in MIME format.\r\n");
    c.Delimiter(mixed);
  }
  // The body: text, html (with its inline parts), or both as alternatives.
  auto html_block = [&] {
    if (inline_parts.empty()) {
      c.TextPart("html", *in.html);
      return;
    }
    std::string related = c.OpenMultipart("related", "; type=\"text/html\"");
    c.Delimiter(related);
    c.TextPart("html", *in.html);
    for (const Attachment* a : inline_parts) {
      c.Delimiter(related);
      c.AttachmentPart(*a, true);
    }
    c.Close(related);
  };
  if (in.text && in.html) {
    std::string alt = c.OpenMultipart("alternative");
    c.Delimiter(alt);
    c.TextPart("plain", *in.text);
    c.Delimiter(alt);
    html_block();
    c.Close(alt);
  } else if (in.html) {
    html_block();
  } else {
    c.TextPart("plain", in.text ? *in.text : std::string());
  }
  if (!regular.empty()) {
    for (const Attachment* a : regular) {
      c.Delimiter(mixed);
      c.AttachmentPart(*a, false);
    }
    c.Close(mixed);
  }
  return out;
}

}  // namespace mp
