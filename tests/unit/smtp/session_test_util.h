// Helpers for the SMTP session tests, which run real sessions on loopback: a blocking connection
// with a read deadline (either end of a conversation, TLS as a client), a scripted server for one
// connection on a thread, a real SmtpListener on an io_context thread, and a self-signed
// certificate made with OpenSSL. Everything binds 127.0.0.1 port 0 and cleans up after itself.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "smtp/listener.h"
#include "smtp/server_session.h"
#include "test_util.h"

namespace mp::smtp::test {

using std::chrono::milliseconds;

inline std::string Base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// A blocking TCP connection. Every read has a deadline (3 s by default) so that a test whose peer
// misbehaves fails instead of hanging. Can turn into a TLS client in place (STARTTLS).
class Conn {
 public:
  explicit Conn(int fd) : fd_(fd) { SetDeadline(milliseconds(3000)); }
  ~Conn() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  static std::unique_ptr<Conn> Connect(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return nullptr;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(fd);
      return nullptr;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return std::make_unique<Conn>(fd);
  }

  void SetDeadline(milliseconds d) {
    deadline_ = d;
    // Also bounds a blocking SSL_read that polled readable for a record without application data.
    timeval tv{static_cast<time_t>(d.count() / 1000),
               static_cast<suseconds_t>(d.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  // Sends everything in one write call (one segment on loopback for small data).
  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n;
      if (ssl_) {
        n = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
      } else {
        n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      }
      if (n <= 0) {
        if (!ssl_ && n < 0 && errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // One line without its CRLF; nullopt on EOF, error or when the deadline passes.
  std::optional<std::string> ReadLine() {
    for (;;) {
      size_t lf = buf_.find('\n');
      if (lf != std::string::npos) {
        std::string line = buf_.substr(0, lf);
        buf_.erase(0, lf + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      if (!Fill()) return std::nullopt;
    }
  }

  // One complete reply: its lines (code included) without CRLF, joined by "\n"; "" on EOF.
  std::string ReadReply() {
    std::string out;
    for (;;) {
      std::optional<std::string> line = ReadLine();
      if (!line) return out;
      if (!out.empty()) out.push_back('\n');
      out += *line;
      if (line->size() < 4 || (*line)[3] != '-') return out;
    }
  }

  // The bytes of a DATA transfer up to and including CRLF "." CRLF (or a lone "." CRLF for an
  // empty one); nullopt on EOF or deadline.
  std::optional<std::string> ReadData() {
    for (;;) {
      size_t len = 0;
      if (buf_.rfind(".\r\n", 0) == 0) {
        len = 3;
      } else if (size_t end = buf_.find("\r\n.\r\n"); end != std::string::npos) {
        len = end + 5;
      }
      if (len > 0) {
        std::string data = buf_.substr(0, len);
        buf_.erase(0, len);
        return data;
      }
      if (!Fill()) return std::nullopt;
    }
  }

  // What a single read returns (after anything already buffered); "" on EOF.
  std::string ReadChunk() {
    if (buf_.empty() && !Fill()) return "";
    std::string out;
    out.swap(buf_);
    return out;
  }

  // True if bytes (or EOF) arrive within `wait`, for "the client waited for my reply" checks.
  bool DataWithin(milliseconds wait) {
    if (!buf_.empty()) return true;
    if (ssl_ && SSL_pending(ssl_) > 0) return true;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(wait.count())) > 0;
  }

  // Reads until the peer closes; what came before the close, or nullopt if it never closed.
  std::optional<std::string> ReadToEof() {
    std::string out;
    out.swap(buf_);
    for (;;) {
      int r = Recv();
      if (r == 0) return out;  // EOF or reset
      if (r < 0) return std::nullopt;
      out += buf_;
      buf_.clear();
    }
  }

  // A TLS handshake as a client without verification (the tests bring self-signed certificates).
  bool StartTlsClient(std::string* error) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
    if (SSL_connect(ssl_) != 1) {
      char msg[256];
      ERR_error_string_n(ERR_get_error(), msg, sizeof msg);
      *error = msg;
      return false;
    }
    return true;
  }
  std::string TlsVersion() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

 private:
  // Reads more into buf_: > 0 bytes read, 0 on EOF or reset, -1 when the deadline passed.
  int Recv() {
    pollfd p{fd_, POLLIN, 0};
    if (!(ssl_ && SSL_pending(ssl_) > 0)) {
      int ready = ::poll(&p, 1, static_cast<int>(deadline_.count()));
      if (ready == 0) return -1;
      if (ready < 0) return 0;
    }
    char chunk[16384];
    ssize_t n = ssl_ ? SSL_read(ssl_, chunk, sizeof chunk) : ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return 0;
    buf_.append(chunk, static_cast<size_t>(n));
    return static_cast<int>(n);
  }
  bool Fill() { return Recv() > 0; }

  int fd_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
  milliseconds deadline_{3000};
};

// Reads one line from conn and checks it.
inline void ExpectLine(Conn& conn, const std::string& want) {
  std::optional<std::string> got = conn.ReadLine();
  ASSERT_TRUE(got.has_value()) << "connection ended while waiting for '" << want << "'";
  EXPECT_EQ(*got, want);
}

// A server for one connection, run by a script on its own thread (a blocking fake SMTP server).
class FakeServer {
 public:
  explicit FakeServer(std::function<void(Conn&)> script) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(listen_fd_, 4) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
      return;
    }
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this, script = std::move(script)] {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) {
        ADD_FAILURE() << "the client never connected";
        return;
      }
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      Conn conn(fd);
      script(conn);
    });
  }
  ~FakeServer() {
    Join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

// A real SmtpListener on 127.0.0.1:0 with its io_context on a thread.
class TestSmtpServer {
 public:
  TestSmtpServer(ServerOptions options, SmtpListener::HandlerFactory factory) {
    listener_ = std::make_unique<SmtpListener>(io_, std::move(options), std::move(factory), 100);
    Status st = listener_->Listen("127.0.0.1:0");
    if (!st.ok()) {
      ADD_FAILURE() << st.error().detail;
      return;
    }
    listener_->Start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TestSmtpServer() {
    asio::post(io_, [this] { listener_->Stop(); });
    // Sessions end when their clients have gone; give them a moment, then stop firmly.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (listener_->Connections() > 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    io_.stop();
    if (thread_.joinable()) thread_.join();
    listener_.reset();
  }
  uint16_t port() const { return listener_->Port(); }
  int Connections() const { return listener_->Connections(); }

 private:
  asio::io_context io_;
  std::unique_ptr<SmtpListener> listener_;
  std::thread thread_;
};

// A self-signed certificate for "localhost" (and 127.0.0.1) with an EC P-256 key, as PEM files.
struct TestCert {
  std::string cert_file, key_file;
};

inline bool MakeSelfSignedCert(const std::string& dir, TestCert* out, std::string* error) {
  out->cert_file = dir + "/cert.pem";
  out->key_file = dir + "/key.pem";
  mp::test::PemCert pem = mp::test::MakeSelfSignedPem("DNS:localhost,IP:127.0.0.1", error);
  if (pem.cert_pem.empty() || pem.key_pem.empty()) return false;
  std::ofstream(out->cert_file, std::ios::binary) << pem.cert_pem;
  std::ofstream(out->key_file, std::ios::binary) << pem.key_pem;
  return true;
}

}  // namespace mp::smtp::test
