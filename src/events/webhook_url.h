// Webhook endpoint URLs: the one parser that both the tenant API (refusing a bad endpoint with a
// clear message) and the HTTP client (where to connect, what to ask for) use, so a URL that was
// accepted is always one the client can deliver to.
//
// Accepted: http:// or https:// (scheme case-insensitive), a host (a DNS name, an IPv4 address or
// an IPv6 literal in brackets), an optional port 1..65535, then an optional path and query of
// printable ASCII where '%' starts a two-digit escape. At most 2048 characters. Refused, each with
// its own message: other schemes, userinfo ("user:pass@host"), a fragment ("#..."), spaces,
// control or non-ASCII characters (an internationalized name must be given in its xn-- form), IPv6
// zone ids. What the host resolves to is not checked here (see SECURITY).
//
// SECURITY: sees untrusted input (a URL an API client chose); one pass, linear, no allocation
// beyond the result. It does not protect against server-side request forgery: a URL naming an
// internal address is well formed. Where that matters, the delivery side must filter the
// addresses it connects to (or send through an egress proxy).
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

namespace mp::events {

inline constexpr size_t kMaxWebhookUrlBytes = 2048;

struct ParsedUrl {
  bool tls = false;  // https
  std::string host;  // lower case; an IPv6 literal without its brackets
  bool ipv6_literal = false;
  uint16_t port = 0;   // the explicit port, else 80 or 443
  std::string target;  // path and query as sent on the request line; "/" when the URL has none

  // "example.com:443", "[::1]:8080": how errors name the peer.
  std::string HostPort() const;
  // The Host header's value: the port only when it is not the scheme's default.
  std::string HostHeader() const;
  // True when host is an IPv4 or IPv6 literal (no SNI, IP-address certificate matching).
  bool HostIsIp() const;
};

// Errors are kInvalidValue with field "url" and a detail meant for the API's user.
Result<ParsedUrl> ParseWebhookUrl(std::string_view url);

}  // namespace mp::events
