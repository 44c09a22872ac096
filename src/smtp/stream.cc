#include "smtp/stream.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <tuple>

namespace mp::smtp {
namespace {
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
}

Stream::Stream(tcp::socket socket)
    : plain_(std::move(socket)),
      timer_(plain_.get_executor()),
      alive_(std::make_shared<bool>(true)) {}

Stream::~Stream() {
  *alive_ = false;
  timer_.cancel();
}

tcp::socket& Stream::Socket() { return tls_ ? tls_->next_layer() : plain_; }

void Stream::Arm(std::chrono::milliseconds timeout) {
  uint64_t gen = ++generation_;
  timer_.expires_after(timeout);
  timer_.async_wait([this, gen, alive = alive_](error_code ec) {
    if (ec || !*alive || gen != generation_) return;
    error_code ignored;
    Socket().cancel(ignored);  // pending I/O ends with operation_aborted; the owner decides
  });
}

void Stream::Disarm() {
  ++generation_;
  timer_.cancel();
}

void Stream::Close() {
  Disarm();
  error_code ignored;
  Socket().shutdown(tcp::socket::shutdown_both, ignored);
  Socket().close(ignored);
}

asio::awaitable<error_code> Stream::ReadSome(char* buf, size_t size, size_t* got,
                                             std::chrono::milliseconds timeout) {
  Arm(timeout);
  // One co_await per statement (GCC 12 is fragile with co_await in both arms of ?:).
  std::tuple<error_code, size_t> r;
  if (tls_) {
    r = co_await tls_->async_read_some(asio::buffer(buf, size), kNoThrow);
  } else {
    r = co_await plain_.async_read_some(asio::buffer(buf, size), kNoThrow);
  }
  Disarm();
  *got = std::get<1>(r);
  co_return std::get<0>(r);
}

asio::awaitable<error_code> Stream::Write(std::string_view data,
                                          std::chrono::milliseconds timeout) {
  Arm(timeout);
  std::tuple<error_code, size_t> r;
  if (tls_) {
    r = co_await asio::async_write(*tls_, asio::buffer(data), kNoThrow);
  } else {
    r = co_await asio::async_write(plain_, asio::buffer(data), kNoThrow);
  }
  Disarm();
  co_return std::get<0>(r);
}

asio::awaitable<error_code> Stream::StartTlsClient(asio::ssl::context& ctx, const std::string& host,
                                                   bool verify, std::chrono::milliseconds timeout) {
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(plain_), ctx);
  plain_ = tcp::socket(timer_.get_executor());
  // SNI, so that a server with many names presents the right certificate.
  SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str());
  if (verify) {
    tls_->set_verify_mode(asio::ssl::verify_peer);
    tls_->set_verify_callback(asio::ssl::host_name_verification(host));
  } else {
    tls_->set_verify_mode(asio::ssl::verify_none);
  }
  Arm(timeout);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, kNoThrow);
  Disarm();
  co_return ec;
}

asio::awaitable<error_code> Stream::StartTlsServer(asio::ssl::context& ctx,
                                                   std::chrono::milliseconds timeout) {
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(plain_), ctx);
  plain_ = tcp::socket(timer_.get_executor());
  Arm(timeout);
  auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, kNoThrow);
  Disarm();
  co_return ec;
}

asio::awaitable<void> Stream::Shutdown() {
  if (tls_ && Socket().is_open()) {
    Arm(std::chrono::seconds(2));
    auto [ec] = co_await tls_->async_shutdown(kNoThrow);
    (void)ec;
    Disarm();
  }
  Close();
}

std::string Stream::TlsVersion() const {
  if (!tls_) return "";
  const char* v = SSL_get_version(tls_->native_handle());
  return v ? v : "";
}

std::string Stream::TlsCipher() const {
  if (!tls_) return "";
  const SSL_CIPHER* c = SSL_get_current_cipher(tls_->native_handle());
  return c ? SSL_CIPHER_get_name(c) : "";
}

std::unique_ptr<asio::ssl::context> MakeClientTlsContext() {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  error_code ec;
  ctx->set_default_verify_paths(ec);  // without a CA store, "verify" routes fail closed
  return ctx;
}

std::unique_ptr<asio::ssl::context> MakeServerTlsContext(const std::string& cert_file,
                                                         const std::string& key_file,
                                                         std::string* error) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    *error = "cannot load certificate " + cert_file + ": " + ec.message();
    return nullptr;
  }
  ctx->use_private_key_file(key_file, asio::ssl::context::pem, ec);
  if (ec) {
    *error = "cannot load private key " + key_file + ": " + ec.message();
    return nullptr;
  }
  return ctx;
}

}  // namespace mp::smtp
