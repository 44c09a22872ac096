// Helpers shared by the admin handlers (admin.cc, admin_egress.cc): running store work on the
// blocking pool, JSON bodies and query strings. Included only by those files (Asio and JSON are
// heavy).
#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/http_types.h"
#include "core/error.h"

namespace mp {

// Runs fn on the blocking pool and resumes the awaiting coroutine on its own executor with fn's
// result. A plain function returning the awaitable (not a coroutine), and callers pass a named
// callable: GCC 12 mishandles non-trivial temporaries that live across a co_await.
template <typename R, typename Fn>
auto RunBlocking(boost::asio::thread_pool& pool, Fn& fn) {
  namespace asio = boost::asio;
  auto initiate = [&pool, &fn](auto handler) {
    using H = decltype(handler);
    auto h = std::make_shared<H>(std::move(handler));
    asio::post(pool, [&fn, h = std::move(h)]() mutable {
      R r = fn();
      auto ex = asio::get_associated_executor(*h);
      asio::post(ex,
                 [h = std::move(h), r = std::move(r)]() mutable { std::move (*h)(std::move(r)); });
    });
  };
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(R)>(initiate,
                                                                       asio::use_awaitable);
}

// Parses an optional JSON object body; empty body = {}.
Result<boost::json::object> BodyObject(const HttpRequest& req);

// kUnknownField for the first member of o not in allowed.
Status OnlyFields(const boost::json::object& o, std::initializer_list<std::string_view> allowed);

// Percent-decodes a path segment ('+' stays '+'); false on a bad %-escape.
bool PercentDecode(std::string_view in, std::string* out);

// The percent-decoded value of a query parameter ('+' is a space), if present.
std::optional<std::string> QueryParam(std::string_view query, std::string_view name);

}  // namespace mp
