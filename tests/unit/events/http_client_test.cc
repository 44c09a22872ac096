#include "events/http_client.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "test_util.h"

namespace mp::events {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using std::chrono::milliseconds;
using Headers = std::vector<std::pair<std::string, std::string>>;

// What the test server does with the one connection it accepts.
enum class Behavior {
  kAnswer,        // read the request, answer status and body, close
  kSilent,        // read the request, never answer; wait for the client to go away
  kEndlessBody,   // read the request, answer 200 with a 1 GB Content-Length and write until refused
  kAnswerAtOnce,  // answer status without reading anything (plain only)
};

// An HTTP server on 127.0.0.1 (port 0) in its own thread, serving exactly one connection with
// blocking I/O, plain or TLS. It records the request as received.
class TestServer {
 public:
  TestServer(Behavior behavior, int status = 200, std::string body = "",
             ssl::context* tls = nullptr)
      : behavior_(behavior),
        status_(status),
        body_(std::move(body)),
        tls_(tls),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Run(); });
  }
  ~TestServer() { Join(); }

  uint16_t port() const { return port_; }
  std::string Url(const std::string& scheme = "http", const std::string& host = "127.0.0.1",
                  const std::string& target = "/") const {
    return scheme + "://" + host + ":" + std::to_string(port_) + target;
  }

  // Waits for the connection to be over. A server that never saw a connection is woken by one.
  void Join() {
    if (!thread_.joinable()) return;
    if (!accepted_.load()) {
      stopping_ = true;
      tcp::socket wake(io_);
      error_code ec;
      wake.connect(acceptor_.local_endpoint(), ec);
    }
    thread_.join();
  }
  // Call after Join().
  const std::string& request() const { return request_; }
  const std::string& sni() const { return sni_; }
  const std::string& handshake_error() const { return handshake_error_; }
  size_t body_bytes_written() const { return written_; }

 private:
  void Run() {
    tcp::socket socket(io_);
    error_code ec;
    acceptor_.accept(socket, ec);
    accepted_ = true;
    if (ec || stopping_.load()) return;
    if (behavior_ == Behavior::kAnswerAtOnce) {
      std::string out =
          "HTTP/1.1 " + std::to_string(status_) + " Status\r\nContent-Length: 0\r\n\r\n";
      asio::write(socket, asio::buffer(out), ec);
      return;
    }
    if (tls_ == nullptr) {
      Serve(socket);
      return;
    }
    ssl::stream<tcp::socket&> stream(socket, *tls_);
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) {
      handshake_error_ = ec.message();
      return;
    }
    const char* name = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
    sni_ = name ? name : "";
    Serve(stream);
  }

  template <typename Stream>
  void Serve(Stream& stream) {
    error_code ec;
    std::string in;
    size_t head_end = asio::read_until(stream, asio::dynamic_buffer(in, 1 << 20), "\r\n\r\n", ec);
    if (ec) return;
    size_t length = 0;
    std::string head = in.substr(0, head_end);
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t at = head.find("\r\ncontent-length:");
    if (at != std::string::npos) length = std::stoul(head.substr(at + 17));
    if (in.size() < head_end + length) {
      asio::read(stream, asio::dynamic_buffer(in),
                 asio::transfer_exactly(head_end + length - in.size()), ec);
    }
    request_ = in;
    if (behavior_ == Behavior::kSilent) {
      char c;
      asio::read(stream, asio::buffer(&c, 1), ec);  // until the client closes
      return;
    }
    if (behavior_ == Behavior::kEndlessBody) {
      asio::write(
          stream,
          asio::buffer(std::string_view("HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")),
          ec);
      const std::string chunk(16 * 1024, 'x');
      // Bounded: stops at 64 MiB even if the client kept reading.
      while (!ec && written_ < (64u << 20)) {
        written_ += asio::write(stream, asio::buffer(chunk), ec);
      }
      return;
    }
    std::string out = "HTTP/1.1 " + std::to_string(status_) +
                      " Status\r\nContent-Length: " + std::to_string(body_.size()) +
                      "\r\nConnection: close\r\n\r\n" + body_;
    asio::write(stream, asio::buffer(out), ec);
  }

  Behavior behavior_;
  int status_;
  std::string body_;
  ssl::context* tls_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> accepted_{false};
  std::atomic<bool> stopping_{false};
  std::string request_, sni_, handshake_error_;
  size_t written_ = 0;
};

// Runs one HttpPost to its end on a fresh io_context.
HttpPostResult Post(const std::string& url, const Headers& headers, std::string body,
                    milliseconds timeout = milliseconds(5000), ssl::context* tls = nullptr) {
  asio::io_context io;
  std::optional<HttpPostResult> out;
  bool threw = false;
  asio::co_spawn(io, HttpPost(url, headers, std::move(body), timeout, tls),
                 [&](std::exception_ptr e, HttpPostResult r) {
                   threw = e != nullptr;
                   out = std::move(r);
                 });
  io.run_for(std::chrono::seconds(30));
  EXPECT_FALSE(threw);
  EXPECT_TRUE(out.has_value()) << "HttpPost did not finish within 30 s";
  return out.value_or(HttpPostResult{});
}

// The request line, the headers (names in lower case) and the body of a recorded request.
struct Received {
  std::string request_line;
  std::multimap<std::string, std::string> headers;
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "<absent>" : it->second;
  }
};

Received Parse(const std::string& raw) {
  Received r;
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return r;
  r.body = raw.substr(head_end + 4);
  size_t line_end = raw.find("\r\n");
  r.request_line = raw.substr(0, line_end);
  size_t at = line_end + 2;
  while (at < head_end) {
    size_t end = raw.find("\r\n", at);
    std::string line = raw.substr(at, end - at);
    size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t v = line.find_first_not_of(' ', colon + 1);
    r.headers.emplace(name, v == std::string::npos ? "" : line.substr(v));
    at = end + 2;
  }
  return r;
}

TEST(HttpPost, SendsHeadersAndBodyAndReturnsTheStatus) {
  TestServer server(Behavior::kAnswer, 200, "{\"received\":true}");
  const std::string body = "[{\"type\":\"message.delivered\"}]";
  Headers headers = {{"webhook-id", "msg_1"},
                     {"webhook-timestamp", "1700000000"},
                     {"webhook-signature", "v1,abc="}};
  HttpPostResult r =
      Post(server.Url("http", "127.0.0.1", "/hooks/a?tenant=t1&x=%20"), headers, body);
  server.Join();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.body_prefix, "{\"received\":true}");
  EXPECT_GE(r.elapsed_ms, 0);
  EXPECT_LT(r.elapsed_ms, 5000);

  Received got = Parse(server.request());
  EXPECT_EQ(got.request_line, "POST /hooks/a?tenant=t1&x=%20 HTTP/1.1");
  EXPECT_EQ(got.Header("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(got.Header("content-type"), "application/json");
  EXPECT_EQ(got.Header("content-length"), std::to_string(body.size()));
  EXPECT_EQ(got.Header("connection"), "close");
  EXPECT_EQ(got.Header("user-agent"), "mailplane-webhooks");
  EXPECT_EQ(got.Header("webhook-id"), "msg_1");
  EXPECT_EQ(got.Header("webhook-timestamp"), "1700000000");
  EXPECT_EQ(got.Header("webhook-signature"), "v1,abc=");
  EXPECT_EQ(got.body, body);
}

TEST(HttpPost, CallerContentTypeAndUserAgentReplaceTheDefaults) {
  TestServer server(Behavior::kAnswer, 204);
  HttpPostResult r =
      Post(server.Url(), {{"Content-Type", "text/plain"}, {"User-Agent", "x/1"}}, "hi");
  server.Join();
  EXPECT_EQ(r.status, 204);
  Received got = Parse(server.request());
  EXPECT_EQ(got.headers.count("content-type"), 1u);
  EXPECT_EQ(got.Header("content-type"), "text/plain");
  EXPECT_EQ(got.Header("user-agent"), "x/1");
  EXPECT_EQ(got.request_line, "POST / HTTP/1.1");
}

TEST(HttpPost, ServerErrorIsAnAnswerWithItsStatusAndBody) {
  TestServer server(Behavior::kAnswer, 500, "database is down");
  HttpPostResult r = Post(server.Url(), {}, "{}");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.body_prefix, "database is down");
}

TEST(HttpPost, BodyPrefixIsTheFirstKilobyte) {
  std::string big;
  for (int i = 0; i < 3000; ++i) big.push_back(static_cast<char>('a' + i % 26));
  TestServer server(Behavior::kAnswer, 410, big);
  HttpPostResult r = Post(server.Url(), {}, "{}");
  EXPECT_EQ(r.status, 410);
  EXPECT_EQ(r.body_prefix, big.substr(0, 1024));
}

// The SSRF guard judges the addresses a name resolves to, so a public-looking name that points
// at loopback is refused before anything is sent.
TEST(HttpPost, PrivateDestinationsAreRefusedUnlessAllowed) {
  asio::io_context io;
  std::optional<HttpPostResult> out;
  const std::string url = "http://localhost:9/hook";  // HttpPost keeps references: named
  const Headers headers;
  asio::co_spawn(io,
                 HttpPost(url, headers, "{}", milliseconds(5000), nullptr,
                          /*allow_private=*/false),
                 [&](std::exception_ptr, HttpPostResult r) { out = std::move(r); });
  io.run_for(std::chrono::seconds(30));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 0);
  EXPECT_NE(out->error.find("private or reserved"), std::string::npos) << out->error;
}

TEST(HttpPost, PublicAddressClassification) {
  auto pub = [](const char* a) { return IsPublicAddress(asio::ip::make_address(a)); };
  for (const char* a : {"127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
                        "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1",
                        "::1", "::", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "2001:db8::1"}) {
    EXPECT_FALSE(pub(a)) << a;
  }
  for (const char* a :
       {"93.184.216.34", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:93.184.216.34"}) {
    EXPECT_TRUE(pub(a)) << a;
  }
}

TEST(HttpPost, ConnectionRefusedSaysWhere) {
  // A bound socket that does not listen: connecting to its port is refused, and no other test can
  // take the port meanwhile.
  asio::io_context io;
  tcp::socket bound(io);
  error_code ec;
  bound.open(tcp::v4(), ec);
  bound.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), ec);
  ASSERT_FALSE(ec) << ec.message();
  const std::string port = std::to_string(bound.local_endpoint().port());
  HttpPostResult r = Post("http://127.0.0.1:" + port + "/", {}, "{}");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error, "connect to 127.0.0.1:" + port + " failed: Connection refused");
}

TEST(HttpPost, SilentServerTimesOut) {
  TestServer server(Behavior::kSilent);
  HttpPostResult r = Post(server.Url(), {}, "{}", milliseconds(300));
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error, "timeout after 300 ms (reading the response)");
  EXPECT_GE(r.elapsed_ms, 250);
  EXPECT_LT(r.elapsed_ms, 3000);
  server.Join();  // the client closed the connection: the server saw its end
  EXPECT_EQ(Parse(server.request()).body, "{}");
}

TEST(HttpPost, EndlessResponseBodyIsCutAtTheCap) {
  TestServer server(Behavior::kEndlessBody);
  HttpPostResult r = Post(server.Url(), {}, "{}", milliseconds(20000));
  server.Join();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.body_prefix, std::string(1024, 'x'));
  // The client stopped reading at the cap and closed, long before the deadline; the server's
  // writes were refused after what the socket buffers hold.
  EXPECT_LT(r.elapsed_ms, 10000);
  EXPECT_LT(server.body_bytes_written(), size_t{32} << 20);
}

TEST(HttpPost, RefusesBadInputBeforeConnecting) {
  TestServer server(Behavior::kAnswer);
  struct Case {
    std::string url;
    Headers headers;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"ftp://127.0.0.1/", {}, "must start with http:// or https://"},
      {server.Url(), {{"x-a", "1\r\nx-b: 2"}}, "has CR, LF or NUL"},
      {server.Url(), {{"bad name", "1"}}, "is not an HTTP token"},
      {server.Url(), {{"Content-Length", "1"}}, "is set by the client"},
      {server.Url(), {{"Host", "evil.test"}}, "is set by the client"},
      {server.Url("https"), {}, "no TLS context"},
  };
  for (const auto& c : cases) {
    HttpPostResult r = Post(c.url, c.headers, "{}");
    EXPECT_EQ(r.status, 0) << c.url;
    EXPECT_NE(r.error.find(c.says), std::string::npos) << c.url << ": " << r.error;
  }
  server.Join();
  EXPECT_EQ(server.request(), "");  // nothing reached it
}

// A self-signed certificate and its key, PEM in memory.
using Cert = mp::test::PemCert;

Cert MakeCert(const char* subject_alt_names) {
  Cert out = mp::test::MakeSelfSignedPem(subject_alt_names);
  EXPECT_FALSE(out.cert_pem.empty() || out.key_pem.empty()) << "cannot make a test certificate";
  return out;
}

std::unique_ptr<ssl::context> ServerContext(const Cert& cert) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  error_code ec;
  ctx->use_certificate_chain(asio::buffer(cert.cert_pem), ec);
  EXPECT_FALSE(ec) << ec.message();
  ctx->use_private_key(asio::buffer(cert.key_pem), ssl::context::pem, ec);
  EXPECT_FALSE(ec) << ec.message();
  return ctx;
}

// A client context that trusts cert, or nothing at all.
std::unique_ptr<ssl::context> ClientContext(const Cert* trusted) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  if (trusted != nullptr) {
    error_code ec;
    ctx->add_certificate_authority(asio::buffer(trusted->cert_pem), ec);
    EXPECT_FALSE(ec) << ec.message();
  }
  return ctx;
}

TEST(HttpClientTls, UntrustedCertificateFailsVerification) {
  Cert cert = MakeCert("DNS:localhost,IP:127.0.0.1");
  auto server_ctx = ServerContext(cert);
  auto client_ctx = ClientContext(nullptr);
  TestServer server(Behavior::kAnswer, 200, "", server_ctx.get());
  HttpPostResult r = Post(server.Url("https"), {}, "{}", milliseconds(5000), client_ctx.get());
  server.Join();
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error, "certificate verify failed: self-signed certificate");
  EXPECT_EQ(server.request(), "");  // the body never left the client
}

TEST(HttpClientTls, VerifiesEvenWhenTheContextSaysNotTo) {
  Cert cert = MakeCert("DNS:localhost,IP:127.0.0.1");
  auto server_ctx = ServerContext(cert);
  auto client_ctx = ClientContext(nullptr);
  client_ctx->set_verify_mode(ssl::verify_none);
  TestServer server(Behavior::kAnswer, 200, "", server_ctx.get());
  HttpPostResult r = Post(server.Url("https"), {}, "{}", milliseconds(5000), client_ctx.get());
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error.rfind("certificate verify failed: ", 0), 0u) << r.error;
}

TEST(HttpClientTls, TrustedCertificateForTheAddressSucceeds) {
  Cert cert = MakeCert("IP:127.0.0.1");
  auto server_ctx = ServerContext(cert);
  auto client_ctx = ClientContext(&cert);
  TestServer server(Behavior::kAnswer, 202, "queued", server_ctx.get());
  HttpPostResult r = Post(server.Url("https", "127.0.0.1", "/in"), {{"webhook-id", "msg_9"}},
                          "{\"a\":1}", milliseconds(5000), client_ctx.get());
  server.Join();
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body_prefix, "queued");
  EXPECT_EQ(server.sni(), "");  // no SNI for an IP literal (RFC 6066)
  Received got = Parse(server.request());
  EXPECT_EQ(got.request_line, "POST /in HTTP/1.1");
  EXPECT_EQ(got.Header("webhook-id"), "msg_9");
  EXPECT_EQ(got.body, "{\"a\":1}");
}

TEST(HttpClientTls, TrustedCertificateForTheNameSucceedsWithSni) {
  Cert cert = MakeCert("DNS:localhost");
  auto server_ctx = ServerContext(cert);
  auto client_ctx = ClientContext(&cert);
  TestServer server(Behavior::kAnswer, 200, "", server_ctx.get());
  HttpPostResult r =
      Post(server.Url("https", "localhost"), {}, "{}", milliseconds(5000), client_ctx.get());
  server.Join();
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(server.sni(), "localhost");
  EXPECT_EQ(Parse(server.request()).Header("host"), "localhost:" + std::to_string(server.port()));
}

TEST(HttpClientTls, TrustedCertificateForAnotherNameFails) {
  Cert cert = MakeCert("DNS:hooks.example.com");
  auto server_ctx = ServerContext(cert);
  auto client_ctx = ClientContext(&cert);
  {
    TestServer server(Behavior::kAnswer, 200, "", server_ctx.get());
    HttpPostResult r = Post(server.Url("https"), {}, "{}", milliseconds(5000), client_ctx.get());
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.error, "certificate verify failed: IP address mismatch");
  }
  {
    TestServer server(Behavior::kAnswer, 200, "", server_ctx.get());
    HttpPostResult r =
        Post(server.Url("https", "localhost"), {}, "{}", milliseconds(5000), client_ctx.get());
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.error, "certificate verify failed: hostname mismatch");
  }
}

TEST(HttpClientTls, PlainServerFailsTheHandshake) {
  TestServer server(Behavior::kAnswerAtOnce, 200);
  auto client_ctx = ClientContext(nullptr);
  HttpPostResult r = Post(server.Url("https"), {}, "{}", milliseconds(5000), client_ctx.get());
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error.rfind("TLS handshake failed: ", 0), 0u) << r.error;
}

}  // namespace
}  // namespace mp::events
