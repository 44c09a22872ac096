#include "events/webhook_url.h"

#include <arpa/inet.h>

#include <array>

namespace mp::events {
namespace {

Error Bad(std::string detail) { return MakeError(Code::kInvalidValue, std::move(detail), "url"); }

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool IsHostChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' ||
         c == '_';
}

bool IsIpv4(const std::string& s) {
  std::array<unsigned char, 4> out{};
  return inet_pton(AF_INET, s.c_str(), out.data()) == 1;
}

bool IsIpv6(const std::string& s) {
  std::array<unsigned char, 16> out{};
  return inet_pton(AF_INET6, s.c_str(), out.data()) == 1;
}

// A DNS name, or a dotted-quad IPv4 address when its last label is all digits. Resolvers also take
// "127.1", "0x7f.1" or "2130706433" for 127.0.0.1; such forms are refused so that what a URL
// names is what it looks like.
Status CheckHostName(const std::string& host) {
  if (host.size() > 253) return Bad("webhook URL host is longer than 253 characters");
  for (char c : host) {
    if (!IsHostChar(c)) {
      return Bad(std::string("webhook URL host has a character that is not allowed: '") + c +
                 "' (letters, digits, '-', '_' and '.'; an internationalized name must be given "
                 "in its xn-- form)");
    }
  }
  size_t last_dot = host.rfind('.');
  std::string_view last_label = last_dot == std::string::npos
                                    ? std::string_view(host)
                                    : std::string_view(host).substr(last_dot + 1);
  bool numeric = !last_label.empty();
  for (char c : last_label) numeric = numeric && IsDigit(c);
  if (numeric) {
    if (!IsIpv4(host)) return Bad("webhook URL host '" + host + "' is not a valid IPv4 address");
    return Status::Ok();
  }
  size_t start = 0;
  for (;;) {
    size_t dot = host.find('.', start);
    size_t len = (dot == std::string::npos ? host.size() : dot) - start;
    if (len == 0) return Bad("webhook URL host '" + host + "' has an empty label");
    if (len > 63) return Bad("webhook URL host has a label longer than 63 characters");
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return Status::Ok();
}

}  // namespace

std::string ParsedUrl::HostPort() const {
  std::string out = ipv6_literal ? "[" + host + "]" : host;
  return out + ":" + std::to_string(port);
}

std::string ParsedUrl::HostHeader() const {
  std::string out = ipv6_literal ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

bool ParsedUrl::HostIsIp() const { return ipv6_literal || IsIpv4(host); }

Result<ParsedUrl> ParseWebhookUrl(std::string_view url) {
  if (url.empty()) return Bad("webhook URL is empty");
  if (url.size() > kMaxWebhookUrlBytes) {
    return Bad("webhook URL is longer than " + std::to_string(kMaxWebhookUrlBytes) + " characters");
  }
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u == ' ') return Bad("webhook URL contains a space (percent-encode it as %20)");
    if (u < 0x20 || u == 0x7f) return Bad("webhook URL contains a control character");
    if (u > 0x7f) {
      return Bad(
          "webhook URL contains a non-ASCII character (percent-encode it, or use the xn-- "
          "form of an internationalized host name)");
    }
  }
  if (url.find('#') != std::string_view::npos) {
    return Bad("webhook URL must not have a fragment ('#...'): it is never sent to the server");
  }

  ParsedUrl out;
  size_t colon = url.find("://");
  std::string scheme;
  if (colon != std::string_view::npos) {
    for (char c : url.substr(0, colon)) scheme.push_back(Lower(c));
  }
  if (scheme == "https") {
    out.tls = true;
  } else if (scheme != "http") {
    return Bad("webhook URL must start with http:// or https://");
  }
  std::string_view rest = url.substr(colon + 3);
  size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return Bad(
        "webhook URL must not contain user information ('user:password@'); put credentials "
        "in the path or query, or rely on the signature");
  }

  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad("webhook URL has an unclosed '[' in its host");
    std::string_view literal = authority.substr(1, close - 1);
    if (literal.find('%') != std::string_view::npos) {
      return Bad("webhook URL must not have an IPv6 zone id ('%...')");
    }
    for (char c : literal) out.host.push_back(Lower(c));
    if (out.host.empty() || !IsIpv6(out.host)) {
      return Bad("webhook URL host '[" + std::string(literal) + "]' is not a valid IPv6 address");
    }
    out.ipv6_literal = true;
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return Bad("webhook URL has characters after ']' that are not a port");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    size_t port_colon = authority.find(':');
    std::string_view name = authority.substr(0, port_colon);
    if (port_colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(port_colon + 1);
    }
    if (name.empty()) return Bad("webhook URL has no host");
    for (char c : name) out.host.push_back(Lower(c));
    if (Status s = CheckHostName(out.host); !s.ok()) return s.error();
  }

  if (has_port) {
    if (port_text.empty()) return Bad("webhook URL has ':' but no port after it");
    uint32_t port = 0;
    for (char c : port_text) {
      if (!IsDigit(c))
        return Bad("webhook URL port '" + std::string(port_text) + "' is not a number");
      port = port * 10 + static_cast<uint32_t>(c - '0');
      if (port > 65535) break;
    }
    if (port < 1 || port > 65535) return Bad("webhook URL port must be 1 to 65535");
    out.port = static_cast<uint16_t>(port);
  } else {
    out.port = out.tls ? 443 : 80;
  }

  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '%' &&
        (i + 2 >= target.size() || !IsHex(target[i + 1]) || !IsHex(target[i + 2]))) {
      return Bad("webhook URL has a '%' that is not followed by two hexadecimal digits");
    }
  }
  if (target.empty()) {
    out.target = "/";
  } else if (target.front() == '?') {
    out.target = "/" + std::string(target);
  } else {
    out.target = std::string(target);
  }
  return out;
}

}  // namespace mp::events
