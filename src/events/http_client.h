// HttpPost: one webhook delivery attempt, an HTTP/1.1 POST over TCP or TLS on Boost.Beast.
//
// Input: an endpoint URL (checked by ParseWebhookUrl), extra request headers, a body, a timeout
// for the whole exchange (resolve, connect, TLS handshake, write, read the response) and, for
// https, a TLS client context. Output: the response status, or 0 and an error saying what failed
// ("connect to 127.0.0.1:9 failed: Connection refused", "timeout after 5000 ms (reading the
// response)", "TLS handshake failed: ...", "certificate verify failed: self-signed certificate").
// Never throws (STYLE.md rule 4).
//
// One request per connection ("Connection: close"): webhook traffic per endpoint is small and
// batched, and a fresh connection per attempt keeps the client free of pool state, stale-connection
// retries and per-endpoint locking. Keep-alive pooling can come later behind the same function.
// Redirects are not followed: the Standard Webhooks specification counts a 3xx as a failure.
// TLS: the certificate chain is verified against the context's trust store and must name the host
// (DNS name, or IP address for a literal), whatever verify mode the context was given; SNI is sent
// for DNS names. The TLS session is not closed with close_notify (the response is complete by its
// HTTP framing; the socket is just closed).
//
// Outcome rule for callers: the endpoint answered iff status != 0, and then error is empty. Once
// the status line and headers are in, a body that is cut short, slow or over the cap ends the
// reading but does not turn the answer into a failure.
//
// SECURITY: sees untrusted bytes from the endpoint. Limits: response headers 16 KiB, body read at
// most 64 KiB (then the connection is closed), the caller's timeout on everything up to the end of
// the response. The URL is untrusted too (a tenant chose it): see webhook_url.h about SSRF.
// Thread-safety: call from a single-threaded executor or a strand; attempts are independent.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "events/webhook_url.h"

namespace boost::asio::ssl {
class context;
}
namespace boost::asio::ip {
class address;
}

namespace mp::events {

inline constexpr size_t kMaxResponseHeaderBytes = size_t{16} * 1024;
inline constexpr size_t kMaxResponseBodyBytes = size_t{64} * 1024;
inline constexpr size_t kResponseBodyPrefixBytes = 1024;

struct HttpPostResult {
  int status = 0;           // the HTTP status; 0 = no response
  std::string error;        // why there is no response; empty when status != 0
  std::string body_prefix;  // the first 1 KiB of the response body
  int64_t elapsed_ms = 0;   // from the call to the end of the response (or the failure)
};

// Sends body to url. The Host, Content-Length, Connection and (unless headers has one)
// Content-Type: application/json and User-Agent headers are set here; a header name or value with
// CR, LF or NUL, or a name that is not an HTTP token, is refused before anything is sent. tls is
// needed for https URLs (nullptr gives an error) and ignored for http.
// The arguments are references: co_await the call at once (STYLE.md rule 5).
// allow_private false: the host's addresses are filtered through IsPublicAddress before
// connecting, and a host with none left is refused ("... resolves only to private or reserved
// addresses"): a tenant's endpoint cannot reach the operator's internal network (SSRF). The check
// is on the resolved addresses actually connected to, so DNS rebinding does not get around it.
boost::asio::awaitable<HttpPostResult> HttpPost(
    const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
    std::string body, std::chrono::milliseconds timeout, boost::asio::ssl::context* tls,
    bool allow_private = true);

// False for loopback, private (RFC 1918, unique local), link-local, CGNAT (100.64/10),
// unspecified, multicast, broadcast, benchmarking (198.18/15), documentation and other reserved
// ranges; IPv4-mapped IPv6 addresses are judged as IPv4.
bool IsPublicAddress(const boost::asio::ip::address& a);

}  // namespace mp::events
