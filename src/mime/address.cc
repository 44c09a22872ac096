#include "mime/address.h"

#include <arpa/inet.h>
#include <idn2.h>

#include <cstdlib>

#include "mime/encoding.h"

namespace mp {
namespace {

bool IsAtext(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

bool HasControl(std::string_view s) {
  for (unsigned char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

bool IsAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

bool ValidDotString(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!IsAtext(static_cast<unsigned char>(c))) {
      return false;
    }
    prev = c;
  }
  return true;
}

// RFC 5321 Quoted-string: DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE
bool ValidQuotedString(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      if (i + 2 >= s.size()) return false;
      auto n = static_cast<unsigned char>(s[++i]);
      if (n < 32 || n > 126) return false;
    } else if (c == '"' || c < 32 || c > 126) {
      return false;
    }
  }
  return true;
}

bool ValidIpv4(std::string_view s) {
  int parts = 0;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find('.', i);
    if (j == std::string_view::npos) j = s.size();
    std::string_view p = s.substr(i, j - i);
    if (p.empty() || p.size() > 3) return false;
    int v = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    if (v > 255) return false;
    ++parts;
    i = j + 1;
    if (j == s.size()) break;
  }
  return parts == 4;
}

bool ValidHostname(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  size_t labels = 0;
  size_t i = 0;
  std::string_view last;
  while (true) {
    size_t j = d.find('.', i);
    if (j == std::string_view::npos) j = d.size();
    std::string_view label = d.substr(i, j - i);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-')) {
        return false;
      }
    }
    ++labels;
    last = label;
    if (j == d.size()) break;
    i = j + 1;
  }
  if (labels < 2) return false;  // a bare host name is not deliverable across the Internet
  bool numeric_tld = true;
  for (char c : last) numeric_tld = numeric_tld && c >= '0' && c <= '9';
  return !numeric_tld;
}

Error Invalid(std::string_view field, std::string detail) {
  return MakeError(Code::kInvalidAddress, std::move(detail), std::string(field));
}

}  // namespace

Result<Mailbox> ParseAddress(std::string_view text, std::string_view field) {
  if (HasControl(text)) {
    return MakeError(Code::kHeaderInjection, "address contains CR, LF or NUL", std::string(field));
  }
  if (text.empty()) return Invalid(field, "address is empty");
  size_t at = text.rfind('@');
  if (at == std::string_view::npos) return Invalid(field, "address has no '@'");
  std::string_view local = text.substr(0, at);
  std::string_view domain = text.substr(at + 1);
  if (local.empty()) return Invalid(field, "address has an empty local part");
  if (domain.empty()) return Invalid(field, "address has an empty domain");
  if (!IsAscii(local)) {
    return Invalid(field, "non-ASCII local parts need SMTPUTF8, which is not supported yet");
  }
  if (local.size() > 64) return Invalid(field, "local part is longer than 64 octets");
  if (!ValidDotString(local) && !ValidQuotedString(local)) {
    return Invalid(field, "local part '" + std::string(local) + "' is not allowed by RFC 5321");
  }
  Mailbox m;
  m.local = std::string(local);
  if (domain.front() == '[') {
    if (domain.back() != ']') return Invalid(field, "address literal is not closed with ']'");
    std::string_view lit = domain.substr(1, domain.size() - 2);
    bool ok = ValidIpv4(lit);
    if (!ok && lit.substr(0, 5) == "IPv6:") {
      std::string v6(lit.substr(5));
      in6_addr addr6;
      ok = inet_pton(AF_INET6, v6.c_str(), &addr6) == 1;
    }
    if (!ok) return Invalid(field, "address literal '" + std::string(domain) + "' is not valid");
    m.domain = std::string(domain);
  } else if (!IsAscii(domain)) {
    char* out = nullptr;
    std::string in(domain);
    int rc = idn2_to_ascii_8z(in.c_str(), &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK) {
      return Invalid(field,
                     "internationalized domain '" + in + "' is not valid: " + idn2_strerror(rc));
    }
    m.domain = out;
    std::free(out);
    if (!ValidHostname(m.domain)) {
      return Invalid(field, "domain '" + in + "' is not a valid host name");
    }
  } else {
    if (!ValidHostname(domain)) {
      return Invalid(field, "domain '" + std::string(domain) + "' is not a valid host name");
    }
    m.domain = std::string(domain);
  }
  if (m.local.size() + 1 + m.domain.size() > 254) {
    return Invalid(field, "address is longer than 254 octets");
  }
  return m;
}

Result<Mailbox> ParseMailbox(std::string_view text, std::string_view field) {
  if (HasControl(text)) {
    return MakeError(Code::kHeaderInjection, "address contains CR, LF or NUL", std::string(field));
  }
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  text = trim(text);
  if (text.empty() || text.back() != '>') return ParseAddress(text, field);
  size_t lt = text.rfind('<');
  if (lt == std::string_view::npos) return Invalid(field, "'>' without '<'");
  auto addr = ParseAddress(text.substr(lt + 1, text.size() - lt - 2), field);
  if (!addr.ok()) return addr;
  std::string_view name = trim(text.substr(0, lt));
  std::string display;
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
    for (size_t i = 1; i + 1 < name.size(); ++i) {
      if (name[i] == '\\' && i + 2 < name.size()) ++i;
      display.push_back(name[i]);
    }
  } else {
    display = std::string(name);
  }
  if (!IsValidUtf8(display)) return Invalid(field, "display name is not valid UTF-8");
  addr.value().display_name = std::move(display);
  return addr;
}

std::string FormatMailboxHeader(const Mailbox& m) {
  if (m.display_name.empty()) return m.Address();
  return EncodePhrase(m.display_name) + " <" + m.Address() + ">";
}

}  // namespace mp
