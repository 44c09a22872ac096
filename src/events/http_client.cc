#include "events/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <limits>
#include <memory>
#include <optional>
#include <tuple>

namespace mp::events {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr char kUserAgent[] = "mailplane-webhooks";
// A final answer should not take more interim (1xx) answers than this.
constexpr int kMaxInterimResponses = 5;

// One attempt's connection and its deadline. The deadline is one timer for the whole exchange:
// when it fires it marks the attempt timed out and cancels the resolver or closes the socket, so
// whatever operation is pending ends with an error that the coroutine reports as the timeout. The
// timer's handler holds a weak reference, so a late firing after the attempt ended touches nothing.
struct Attempt {
  explicit Attempt(const asio::any_io_executor& ex) : resolver(ex), socket(ex), timer(ex) {}
  tcp::socket& Lowest() { return tls ? tls->next_layer() : socket; }

  tcp::resolver resolver;
  tcp::socket socket;  // moved into tls for https
  std::unique_ptr<ssl::stream<tcp::socket>> tls;
  asio::steady_timer timer;
  bool timed_out = false;
  std::chrono::milliseconds timeout{0};
  std::string stage;  // what was under way, for the timeout message
};

void ArmDeadline(const std::shared_ptr<Attempt>& attempt,
                 std::chrono::steady_clock::time_point deadline) {
  attempt->timer.expires_at(deadline);
  attempt->timer.async_wait([weak = std::weak_ptr<Attempt>(attempt)](error_code ec) {
    std::shared_ptr<Attempt> a = weak.lock();
    if (ec || !a) return;
    a->timed_out = true;
    a->resolver.cancel();
    error_code ignored;
    a->Lowest().close(ignored);
  });
}

std::string TimeoutError(const Attempt& a) {
  return "timeout after " + std::to_string(a.timeout.count()) + " ms (" + a.stage + ")";
}

bool IsTokenChar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Refuses what would corrupt or smuggle through the request: CR, LF or NUL anywhere, names that
// are not tokens, and the headers this client owns.
std::string CheckHeaders(const Headers& headers) {
  for (const auto& [name, value] : headers) {
    if (name.empty()) return "request header with an empty name";
    for (char c : name) {
      if (!IsTokenChar(c)) return "request header name '" + name + "' is not an HTTP token";
    }
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return "request header " + name + " has CR, LF or NUL in its value";
    }
    for (std::string_view owned : {"host", "content-length", "connection", "transfer-encoding"}) {
      if (beast::iequals(name, owned)) return "request header " + name + " is set by the client";
    }
  }
  return "";
}

bool HasHeader(const Headers& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (beast::iequals(h.first, name)) return true;
  }
  return false;
}

http::request<http::string_body> MakeRequest(const ParsedUrl& url, const Headers& headers,
                                             std::string* body) {
  http::request<http::string_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, url.HostHeader());
  if (!HasHeader(headers, "user-agent")) req.set(http::field::user_agent, kUserAgent);
  if (!HasHeader(headers, "content-type")) req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) req.insert(name, value);
  req.keep_alive(false);
  req.body() = std::move(*body);
  req.prepare_payload();
  return req;
}

bool IsEndOfStream(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == ssl::error::stream_truncated;
}

// Reads the final response's status and up to kMaxResponseBodyBytes of its body. The body goes
// through a fixed chunk (buffer_body): a string_body would reserve whatever Content-Length the
// endpoint claims.
template <typename Stream>
asio::awaitable<void> ReadResponse(Attempt* a, Stream& stream, HttpPostResult* result) {
  a->stage = "reading the response";
  beast::flat_buffer buffer(kMaxResponseHeaderBytes + 4096);
  std::optional<http::response_parser<http::buffer_body>> parser;
  int status = 0;
  for (int interim = 0; interim <= kMaxInterimResponses; ++interim) {
    parser.emplace();
    parser->header_limit(kMaxResponseHeaderBytes);
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());  // capped below, not refused
    auto [ec, n] = co_await http::async_read_header(stream, buffer, *parser, kNoThrow);
    if (ec) {
      if (a->timed_out) {
        result->error = TimeoutError(*a);
      } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        result->error = "response headers are larger than " +
                        std::to_string(kMaxResponseHeaderBytes) + " bytes";
      } else if (IsEndOfStream(ec)) {
        result->error = "the endpoint closed the connection without a response";
      } else {
        result->error = "reading the response failed: " + ec.message();
      }
      co_return;
    }
    status = static_cast<int>(parser->get().result_int());
    if (status >= 200) break;
  }
  if (status < 200) {
    result->error = "no final response after " + std::to_string(kMaxInterimResponses) +
                    " interim (1xx) responses";
    co_return;
  }
  result->status = status;
  std::string body;
  std::array<char, 8192> chunk;
  while (!parser->is_done() && body.size() < kMaxResponseBodyBytes) {
    parser->get().body().data = chunk.data();
    parser->get().body().size = chunk.size();
    auto [ec, n] = co_await http::async_read(stream, buffer, *parser, kNoThrow);
    body.append(chunk.data(), chunk.size() - parser->get().body().size);
    // need_buffer: the chunk is full, go round. Anything else that is an error (a body cut short,
    // the deadline) ends the body, not the answer: the status is what the endpoint said.
    if (ec && ec != http::error::need_buffer) break;
  }
  if (body.size() > kResponseBodyPrefixBytes) body.resize(kResponseBodyPrefixBytes);
  result->body_prefix = std::move(body);
}

template <typename Stream>
asio::awaitable<void> Converse(Attempt* a, Stream& stream, http::request<http::string_body>* req,
                               HttpPostResult* result) {
  a->stage = "sending the request";
  auto [ec, n] = co_await http::async_write(stream, *req, kNoThrow);
  if (ec) {
    result->error = a->timed_out ? TimeoutError(*a) : "sending the request failed: " + ec.message();
    co_return;
  }
  co_await ReadResponse(a, stream, result);
}

asio::awaitable<void> Exchange(Attempt* a, const ParsedUrl* url, const Headers* headers,
                               std::string* body, ssl::context* tls, bool allow_private,
                               HttpPostResult* result) {
  const bool host_is_ip = url->HostIsIp();
  a->stage = "resolving " + url->host;
  const std::string port = std::to_string(url->port);
  auto flags = tcp::resolver::numeric_service;
  if (host_is_ip) flags |= tcp::resolver::numeric_host;
  auto [rec, endpoints] = co_await a->resolver.async_resolve(url->host, port, flags, kNoThrow);
  if (rec) {
    result->error =
        a->timed_out ? TimeoutError(*a) : "cannot resolve " + url->host + ": " + rec.message();
    co_return;
  }

  std::vector<tcp::endpoint> allowed;
  std::string refused;
  for (const auto& entry : endpoints) {
    if (allow_private || IsPublicAddress(entry.endpoint().address())) {
      allowed.push_back(entry.endpoint());
    } else if (refused.empty()) {
      refused = entry.endpoint().address().to_string();
    }
  }
  if (allowed.empty()) {
    result->error = url->host + " resolves only to private or reserved addresses (" + refused +
                    "); webhook endpoints must be public";
    co_return;
  }

  a->stage = "connecting to " + url->HostPort();
  auto [cec, endpoint] = co_await asio::async_connect(a->socket, allowed, kNoThrow);
  if (cec) {
    result->error = a->timed_out ? TimeoutError(*a)
                                 : "connect to " + url->HostPort() + " failed: " + cec.message();
    co_return;
  }
  error_code ignored;
  a->socket.set_option(tcp::no_delay(true), ignored);

  http::request<http::string_body> req = MakeRequest(*url, *headers, body);
  if (!url->tls) {
    co_await Converse(a, a->socket, &req, result);
    co_return;
  }

  a->stage = "TLS handshake with " + url->HostPort();
  a->tls = std::make_unique<ssl::stream<tcp::socket>>(std::move(a->socket), *tls);
  SSL* ssl_handle = a->tls->native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
  bool configured = true;
  if (host_is_ip) {
    // RFC 6066 allows no IP literal in SNI; the certificate must carry the address.
    configured = X509_VERIFY_PARAM_set1_ip_asc(param, url->host.c_str()) == 1;
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    configured = SSL_set_tlsext_host_name(ssl_handle, url->host.c_str()) == 1 &&
                 SSL_set1_host(ssl_handle, url->host.c_str()) == 1;
  }
  error_code vec;
  a->tls->set_verify_mode(ssl::verify_peer, vec);  // whatever the context says: always verify
  if (!configured || vec) {
    result->error = "TLS handshake failed: cannot set up verification for " + url->host;
    co_return;
  }
  auto [hec] = co_await a->tls->async_handshake(ssl::stream_base::client, kNoThrow);
  if (hec) {
    long verify = SSL_get_verify_result(ssl_handle);
    if (a->timed_out) {
      result->error = TimeoutError(*a);
    } else if (verify != X509_V_OK) {
      result->error =
          std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    } else {
      result->error = "TLS handshake failed: " + hec.message();
    }
    co_return;
  }
  co_await Converse(a, *a->tls, &req, result);
}

}  // namespace

bool IsPublicAddress(const asio::ip::address& a) {
  if (a.is_v6()) {
    const asio::ip::address_v6 v6 = a.to_v6();
    if (v6.is_v4_mapped())
      return IsPublicAddress(asio::ip::make_address_v4(asio::ip::v4_mapped, v6));
    const auto b = v6.to_bytes();
    if (v6.is_unspecified() || v6.is_loopback() || v6.is_multicast()) return false;
    if ((b[0] & 0xfe) == 0xfc) return false;                  // fc00::/7 unique local
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;  // fe80::/10 link-local
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return false;  // fec0::/10 old site-local
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return false;  // docs
    if (b[0] == 0x01 && b[1] == 0x00 && b[2] == 0 && b[3] == 0) return false;  // 100::/64 discard
    return true;
  }
  const uint32_t v = a.to_v4().to_uint();
  auto in = [v](uint32_t net, int bits) {
    uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
    return (v & mask) == net;
  };
  return !(in(0x00000000, 8) || in(0x0a000000, 8) || in(0x64400000, 10) || in(0x7f000000, 8) ||
           in(0xa9fe0000, 16) || in(0xac100000, 12) || in(0xc0000000, 24) || in(0xc0000200, 24) ||
           in(0xc0a80000, 16) || in(0xc6120000, 15) || in(0xc6336400, 24) || in(0xcb007100, 24) ||
           in(0xe0000000, 4) || in(0xf0000000, 4));
}

asio::awaitable<HttpPostResult> HttpPost(const std::string& url, const Headers& headers,
                                         std::string body, std::chrono::milliseconds timeout,
                                         ssl::context* tls, bool allow_private) {
  const auto start = std::chrono::steady_clock::now();
  HttpPostResult result;
  Result<ParsedUrl> parsed = ParseWebhookUrl(url);
  std::string header_error = CheckHeaders(headers);
  if (!parsed.ok()) {
    result.error = parsed.error().detail;
  } else if (!header_error.empty()) {
    result.error = header_error;
  } else if (parsed.value().tls && tls == nullptr) {
    result.error = "https URL but no TLS context was given";
  } else {
    asio::any_io_executor ex = co_await asio::this_coro::executor;
    auto attempt = std::make_shared<Attempt>(ex);
    attempt->timeout = timeout;
    ArmDeadline(attempt, start + timeout);
    const ParsedUrl* target = &parsed.value();
    co_await Exchange(attempt.get(), target, &headers, &body, tls, allow_private, &result);
    attempt->timer.cancel();
    error_code ignored;
    attempt->Lowest().shutdown(tcp::socket::shutdown_both, ignored);
    attempt->Lowest().close(ignored);
  }
  result.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  co_return result;
}

}  // namespace mp::events
