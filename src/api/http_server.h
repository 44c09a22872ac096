// HttpServer: HTTP/1.1 with keep-alive on Boost.Beast and C++20 coroutines.
//
// One io_context per I/O thread; the acceptor hands each new connection to the next thread, where
// it stays for life. Each connection is one coroutine: read headers (with a limit and a timeout),
// refuse an oversized body from its Content-Length before reading it (413, then close), answer
// "Expect: 100-continue", read the body (limit, timeout), call the handler, write, repeat.
// Stop() drains: no new connections, idle keep-alive connections are closed, requests in flight
// finish (up to the grace period), then the threads stop.
// SECURITY: sees raw bytes from the network. Limits: header bytes (16 KiB), body bytes
// (http.max_body_bytes), header/body/idle timeouts, connection count.
// Thread-safety: Start/Stop/Wait from one controlling thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "api/http_types.h"
#include "core/config.h"
#include "core/error.h"

namespace mp {

class HttpServer {
 public:
  using Handler = std::function<boost::asio::awaitable<HttpResponse>(HttpRequest&)>;
  // Sees a request before its body is read (body empty); a response refuses it at once. It may
  // record what it learnt (the authenticated tenant) on the request.
  using Precheck = std::function<std::optional<HttpResponse>(HttpRequest&)>;

  HttpServer(const HttpConfig& config, Handler handler, Precheck precheck = {});
  ~HttpServer();

  // Binds and starts the I/O threads. Fails if the address cannot be bound.
  Status Start();
  // The bound port (useful with port 0).
  uint16_t Port() const;
  // Begins a graceful drain; returns at once.
  void Stop();
  // Blocks until every I/O thread has stopped.
  void Wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp
