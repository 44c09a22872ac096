// SmtpListener: accepts SMTP connections on one address and runs a ServerSession for each, with
// a fresh ServerHandler from the factory. Each connection runs on its own strand, so a session and
// its deadline timer never race. Connections beyond max_connections get "421 4.7.0 too many
// connections" and are closed at once.
// SECURITY: accepts untrusted connections; limits are in ServerOptions and max_connections.
// Thread-safety: Listen/Start/Stop from one thread; sessions run on the io_context's threads.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "smtp/server_session.h"

namespace mp::smtp {

class SmtpListener {
 public:
  using HandlerFactory = std::function<std::unique_ptr<ServerHandler>()>;
  SmtpListener(asio::io_context& io, ServerOptions options, HandlerFactory factory,
               int max_connections);
  ~SmtpListener();

  // Binds host:port (port 0 picks a free one).
  Status Listen(const std::string& host_port);
  uint16_t Port() const { return port_; }
  void Start();
  // Stops accepting; sessions in progress run to their end.
  void Stop();
  int Connections() const { return active_->load(); }

 private:
  asio::io_context& io_;
  ServerOptions options_;
  HandlerFactory factory_;
  int max_connections_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::shared_ptr<std::atomic<int>> active_;
};

// An SmtpListener served by its own io_context and threads (the SMTP submission port, the bounce
// listener). Start binds and serves; Stop stops accepting, lets sessions in progress end for up to
// grace, then stops the threads. Stop is idempotent; the destructor stops with no grace.
class SmtpServer {
 public:
  SmtpServer() = default;
  ~SmtpServer() { Stop(std::chrono::milliseconds(0)); }
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  Status Start(const std::string& host_port, ServerOptions options,
               SmtpListener::HandlerFactory factory, int max_connections, int threads);
  uint16_t Port() const { return listener_ ? listener_->Port() : 0; }
  void Stop(std::chrono::milliseconds grace);

 private:
  asio::io_context io_;
  std::unique_ptr<SmtpListener> listener_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

}  // namespace mp::smtp
