#include "smtp/listener.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/config.h"

namespace mp::smtp {
namespace {

struct Shared {
  ServerOptions options;
  SmtpListener::HandlerFactory factory;
};

asio::awaitable<void> Serve(tcp::socket socket, std::shared_ptr<const Shared> shared,
                            std::shared_ptr<std::atomic<int>> active) {
  struct Count {
    std::atomic<int>* n;
    ~Count() { n->fetch_sub(1); }
  } count{active.get()};
  Stream stream(std::move(socket));
  std::unique_ptr<ServerHandler> handler = shared->factory();
  co_await RunServerSession(stream, shared->options, *handler);
}

asio::awaitable<void> Refuse(tcp::socket socket, std::string hostname) {
  std::string line = "421 4.7.0 " + hostname + " too many connections, try again later\r\n";
  co_await asio::async_write(socket, asio::buffer(line), asio::as_tuple(asio::use_awaitable));
  error_code ignored;
  socket.close(ignored);
}

}  // namespace

SmtpListener::SmtpListener(asio::io_context& io, ServerOptions options, HandlerFactory factory,
                           int max_connections)
    : io_(io),
      options_(std::move(options)),
      factory_(std::move(factory)),
      max_connections_(max_connections),
      acceptor_(io),
      active_(std::make_shared<std::atomic<int>>(0)) {}

SmtpListener::~SmtpListener() { Stop(); }

Status SmtpListener::Listen(const std::string& host_port) {
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(host_port, &host, &port)) {
    return MakeError(Code::kInvalidValue, "listen address must be host:port: " + host_port);
  }
  error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return MakeError(Code::kInvalidValue, "not an IP address: " + host);
  tcp::endpoint ep(addr, port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError(Code::kInternal, "cannot listen on " + host_port + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  return Status::Ok();
}

void SmtpListener::Start() {
  auto shared = std::make_shared<const Shared>(Shared{options_, factory_});
  auto accept_loop =
      [](tcp::acceptor* acceptor, asio::io_context* io, std::shared_ptr<const Shared> shared,
         std::shared_ptr<std::atomic<int>> active, int max) -> asio::awaitable<void> {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(asio::make_strand(*io),
                                                          asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      if (ec) continue;  // e.g. EMFILE: keep serving the connections we have
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto ex = socket.get_executor();
      if (active->load() >= max) {
        asio::co_spawn(ex, Refuse(std::move(socket), shared->options.hostname), asio::detached);
        continue;
      }
      active->fetch_add(1);
      asio::co_spawn(ex, Serve(std::move(socket), shared, active), asio::detached);
    }
  };
  asio::co_spawn(acceptor_.get_executor(),
                 accept_loop(&acceptor_, &io_, shared, active_, max_connections_), asio::detached);
}

void SmtpListener::Stop() {
  error_code ignored;
  acceptor_.close(ignored);
}

Status SmtpServer::Start(const std::string& host_port, ServerOptions options,
                         SmtpListener::HandlerFactory factory, int max_connections, int threads) {
  listener_ =
      std::make_unique<SmtpListener>(io_, std::move(options), std::move(factory), max_connections);
  if (Status s = listener_->Listen(host_port); !s.ok()) {
    listener_.reset();
    return s;
  }
  listener_->Start();
  work_.emplace(io_.get_executor());
  for (int i = 0; i < std::max(threads, 1); ++i) threads_.emplace_back([this] { io_.run(); });
  return Status::Ok();
}

void SmtpServer::Stop(std::chrono::milliseconds grace) {
  if (!listener_) return;
  listener_->Stop();
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (listener_->Connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  work_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  listener_.reset();
}

}  // namespace mp::smtp
