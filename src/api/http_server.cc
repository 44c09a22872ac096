#include "api/http_server.h"

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>
#include <unordered_set>

#include "api/problem.h"
#include "core/log.h"

namespace mp {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// A connection and whether it waits for a request (idle) or is serving one.
struct Conn {
  explicit Conn(tcp::socket s) : stream(std::move(s)) {}
  beast::tcp_stream stream;
  bool idle = true;
};

// One I/O thread's state. Only that thread touches conns.
struct Worker {
  asio::io_context ioc{1};
  std::unordered_set<Conn*> conns;
};

}  // namespace

struct HttpServer::Impl {
  HttpConfig config;
  Handler handler;
  Precheck precheck;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<bool> draining{false};
  std::atomic<int> connections{0};
  std::atomic<int> in_flight{0};
  uint16_t port = 0;

  asio::awaitable<void> Accept();
  asio::awaitable<void> Serve(Worker& w, tcp::socket socket);
  asio::awaitable<void> Drain();
};

namespace {

template <typename Stream>
asio::awaitable<beast::error_code> WriteResponse(Stream& stream, HttpResponse& r, bool keep_alive,
                                                 unsigned version, bool head = false) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "mailplane");
  res.set(http::field::content_type, r.content_type);
  for (auto& [n, v] : r.headers) res.set(n, v);
  res.body() = std::move(r.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  if (head) res.body().clear();  // Content-Length stays that of the GET answer
  auto [ec, n] = co_await http::async_write(stream, res, kTuple);
  co_return ec;
}

HttpResponse TooLarge(uint64_t limit) {
  return ProblemResponse(MakeError(
      Code::kMessageTooLarge, "request body is larger than " + std::to_string(limit) + " bytes"));
}

}  // namespace

asio::awaitable<void> HttpServer::Impl::Serve(Worker& w, tcp::socket socket) {
  beast::error_code opt_ec;
  socket.set_option(tcp::no_delay(true), opt_ec);
  Conn conn(std::move(socket));
  // Unregisters on every way out of this coroutine, exceptions included: Stop() and Drain() walk
  // w.conns and must never see a destroyed connection.
  struct Registration {
    Worker& w;
    Conn* c;
    std::atomic<int>& connections;
    ~Registration() {
      w.conns.erase(c);
      connections.fetch_sub(1);
    }
  } registration{w, &conn, connections};
  w.conns.insert(&conn);
  // The buffer's limit must hold the largest header section; bodies stream through it.
  beast::flat_buffer buffer(size_t{64} * 1024);
  for (;;) {
    conn.idle = true;
    if (draining.load()) break;
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(config.max_body_bytes);
    // Idle keep-alive time before the first byte, then the header timeout, are one deadline here:
    // the larger of the two, so a slow client cannot hold a connection for long either way.
    conn.stream.expires_after(
        std::chrono::seconds(std::max(config.idle_timeout_seconds, config.header_timeout_seconds)));
    auto [ec, n] = co_await http::async_read_header(conn.stream, buffer, parser, kTuple);
    if (ec) {
      if (ec == http::error::body_limit) {
        // Beast compares Content-Length with the limit as soon as the headers are in: refuse
        // without reading the body, and close.
        HttpResponse r = TooLarge(config.max_body_bytes);
        co_await WriteResponse(conn.stream, r, false, 11);
      } else if (ec == http::error::header_limit) {
        HttpResponse r = ProblemResponse(
            MakeError(Code::kHeadersTooLarge, "request headers are larger than 16384 bytes"));
        co_await WriteResponse(conn.stream, r, false, 11);
      } else if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
                 ec != beast::error::timeout && ec != asio::error::connection_reset &&
                 ec != asio::error::eof) {
        HttpResponse r = ProblemResponse(
            MakeError(Code::kBadRequest, "malformed HTTP request: " + ec.message()));
        co_await WriteResponse(conn.stream, r, false, 11);
      }
      break;
    }
    conn.idle = false;
    struct InFlight {
      std::atomic<int>& n;
      explicit InFlight(std::atomic<int>& count) : n(count) { n.fetch_add(1); }
      ~InFlight() { n.fetch_sub(1); }
    } in_flight_guard(in_flight);
    auto& hdr = parser.get();
    unsigned version = hdr.version();
    bool keep_alive = hdr.keep_alive();
    if (auto len = parser.content_length(); len && *len > config.max_body_bytes) {
      // Refuse without reading the body: the client is told at once and the connection closes.
      HttpResponse r = TooLarge(config.max_body_bytes);
      co_await WriteResponse(conn.stream, r, false, version);
      break;
    }
    // The request as far as it is known: handlers may refuse it before its body is read.
    HttpRequest hr;
    hr.method = std::string(hdr.method_string());
    std::string_view target = hdr.target();
    size_t q = target.find('?');
    hr.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) hr.query = std::string(target.substr(q + 1));
    hr.headers.reserve(8);
    for (const auto& f : hdr) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      hr.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    if (precheck && !parser.is_done()) {
      if (std::optional<HttpResponse> early = precheck(hr)) {
        // Refused on its headers alone (e.g. no valid key): answer and close without reading
        // the body, so an unauthenticated client cannot make the server buffer it.
        co_await WriteResponse(conn.stream, *early, false, version);
        break;
      }
    }
    if (beast::iequals(hdr[http::field::expect], "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, version};
      conn.stream.expires_after(std::chrono::seconds(config.body_timeout_seconds));
      auto [wec, wn] = co_await http::async_write(conn.stream, cont, kTuple);
      if (wec) break;
    }
    if (!parser.is_done()) {
      conn.stream.expires_after(std::chrono::seconds(config.body_timeout_seconds));
      auto [bec, bn] = co_await http::async_read(conn.stream, buffer, parser, kTuple);
      if (bec) {
        if (bec == http::error::body_limit) {
          HttpResponse r = TooLarge(config.max_body_bytes);
          co_await WriteResponse(conn.stream, r, false, version);
        } else if (bec != beast::error::timeout && bec != asio::error::operation_aborted &&
                   bec != http::error::partial_message) {
          HttpResponse r = ProblemResponse(
              MakeError(Code::kBadRequest, "malformed HTTP request body: " + bec.message()));
          co_await WriteResponse(conn.stream, r, false, version);
        }
        break;
      }
    }
    hr.body = std::move(parser.get().body());
    HttpResponse r;
    try {
      r = co_await handler(hr);
    } catch (const std::exception& e) {
      // No exceptions on the data plane by design; if one escapes anyway (allocation failure, a
      // bug), this request fails alone and the connection closes cleanly.
      log::Error("http.handler_exception", {{"path", hr.path}, {"what", e.what()}});
      r = ProblemResponse(MakeError(Code::kInternal, "internal error"));
      keep_alive = false;
    }
    bool again = keep_alive && !draining.load();
    conn.stream.expires_after(std::chrono::seconds(config.body_timeout_seconds));
    beast::error_code wec =
        co_await WriteResponse(conn.stream, r, again, version, hr.method == "HEAD");
    if (wec || !again) break;
  }
  beast::error_code ignored;
  conn.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> HttpServer::Impl::Accept() {
  size_t next = 0;
  for (;;) {
    Worker& w = *workers[next];
    next = (next + 1) % workers.size();
    auto [ec, socket] = co_await acceptor->async_accept(w.ioc, kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      log::Warn("http.accept_failed", {{"error", ec.message()}});
      // Out of file descriptors and the like: back off briefly instead of spinning.
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
      co_await t.async_wait(kTuple);
      continue;
    }
    if (connections.load() >= config.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    connections.fetch_add(1);
    asio::co_spawn(w.ioc, Serve(w, std::move(socket)), asio::detached);
  }
}

HttpServer::HttpServer(const HttpConfig& config, Handler handler, Precheck precheck)
    : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->handler = std::move(handler);
  impl_->precheck = std::move(precheck);
  int n = config.threads > 0 ? config.threads
                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < n; ++i) {
    impl_->workers.push_back(std::make_unique<Worker>());
    impl_->guards.push_back(asio::make_work_guard(impl_->workers.back()->ioc));
  }
}

HttpServer::~HttpServer() {
  if (!impl_->threads.empty()) {
    Stop();
    Wait();
  }
}

Status HttpServer::Start() {
  std::string host;
  uint16_t port;
  if (!SplitHostPort(impl_->config.listen, &host, &port)) {
    return MakeError(Code::kInvalidValue, "bad listen address " + impl_->config.listen);
  }
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return MakeError(Code::kInvalidValue, "bad listen address " + impl_->config.listen);
  tcp::endpoint ep(addr, port);
  auto& ioc = impl_->workers[0]->ioc;
  impl_->acceptor = std::make_unique<tcp::acceptor>(ioc);
  impl_->acceptor->open(ep.protocol(), ec);
  if (!ec) impl_->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor->bind(ep, ec);
  if (!ec) impl_->acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError(Code::kInvalidValue,
                     "cannot listen on " + impl_->config.listen + ": " + ec.message());
  }
  impl_->port = impl_->acceptor->local_endpoint().port();
  asio::co_spawn(ioc, impl_->Accept(), asio::detached);
  for (auto& w : impl_->workers) {
    impl_->threads.emplace_back([&ioc = w->ioc] { ioc.run(); });
  }
  return Status::Ok();
}

uint16_t HttpServer::Port() const { return impl_->port; }

asio::awaitable<void> HttpServer::Impl::Drain() {
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(config.shutdown_grace_seconds);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(kTuple);
  }
  // Whatever is left (idle or over the grace period) is closed firmly.
  for (auto& w : workers) {
    asio::post(w->ioc, [wp = w.get()] {
      for (Conn* c : wp->conns) c->stream.cancel();
    });
  }
  timer.expires_after(std::chrono::milliseconds(50));
  co_await timer.async_wait(kTuple);
  for (auto& g : guards) g.reset();
  for (auto& w : workers) w->ioc.stop();
}

void HttpServer::Stop() {
  if (impl_->draining.exchange(true)) return;
  auto& ioc = impl_->workers[0]->ioc;
  asio::post(ioc, [this] {
    beast::error_code ignored;
    if (impl_->acceptor) impl_->acceptor->close(ignored);
    // Idle keep-alive connections are closed now; busy ones close after their response.
    for (auto& w : impl_->workers) {
      asio::post(w->ioc, [wp = w.get()] {
        for (Conn* c : wp->conns) {
          if (c->idle) c->stream.cancel();
        }
      });
    }
  });
  asio::co_spawn(ioc, impl_->Drain(), asio::detached);
}

void HttpServer::Wait() {
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
  impl_->threads.clear();
}

}  // namespace mp
