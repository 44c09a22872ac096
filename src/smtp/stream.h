// Stream: one SMTP connection's byte stream, plain TCP that can turn into TLS in place (STARTTLS,
// RFC 3207), shared by the client and server sessions. Every operation takes a deadline and returns
// an error_code, never throws (STYLE.md rule 4): a deadline that passes cancels the pending
// operation (operation_aborted) and the session decides what that means (421, 451, ...).
// Thread-safety: none; a stream lives on one executor for its life.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace mp::smtp {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

class Stream {
 public:
  explicit Stream(tcp::socket socket);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Reads what is available (at least one byte) into buf.
  asio::awaitable<error_code> ReadSome(char* buf, size_t size, size_t* got,
                                       std::chrono::milliseconds timeout);
  asio::awaitable<error_code> Write(std::string_view data, std::chrono::milliseconds timeout);
  // TLS handshake as a client; verify checks the certificate chain and that it names host.
  asio::awaitable<error_code> StartTlsClient(asio::ssl::context& ctx, const std::string& host,
                                             bool verify, std::chrono::milliseconds timeout);
  asio::awaitable<error_code> StartTlsServer(asio::ssl::context& ctx,
                                             std::chrono::milliseconds timeout);
  // Sends close_notify when TLS is up (best effort, bounded), then closes the socket.
  asio::awaitable<void> Shutdown();
  void Close();

  bool Tls() const { return tls_ != nullptr; }
  std::string TlsVersion() const;  // "TLSv1.3", or "" without TLS
  std::string TlsCipher() const;   // "TLS_AES_256_GCM_SHA384", or ""
  tcp::socket& Socket();
  asio::any_io_executor Executor() { return timer_.get_executor(); }

 private:
  // Arms the deadline: when it passes, pending I/O is canceled (operation_aborted).
  void Arm(std::chrono::milliseconds timeout);
  void Disarm();

  tcp::socket plain_;
  std::unique_ptr<asio::ssl::stream<tcp::socket>> tls_;
  asio::steady_timer timer_;
  uint64_t generation_ = 0;  // a timer that fires for an earlier operation is ignored
  std::shared_ptr<bool> alive_;
};

// A client TLS context: TLS 1.2 or later, the system CA store for verification.
std::unique_ptr<asio::ssl::context> MakeClientTlsContext();
// A server TLS context from PEM files; nullptr and *error on failure.
std::unique_ptr<asio::ssl::context> MakeServerTlsContext(const std::string& cert_file,
                                                         const std::string& key_file,
                                                         std::string* error);

}  // namespace mp::smtp
