// HttpRequest / HttpResponse: the plain values handlers see, so that Boost.Beast stays inside
// http_server.cc. Header names are lower-case.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mp {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query string
  std::string query;   // after '?', undecoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Set by the server's pre-body check when it has authenticated a tenant's key, so the handler
  // does not authenticate again. Never read from the wire.
  std::string tenant_id;

  std::string_view Header(std::string_view lower_name) const {
    for (const auto& [n, v] : headers) {
      if (n == lower_name) return v;
    }
    return {};
  }
  bool HasHeader(std::string_view lower_name) const {
    for (const auto& [n, v] : headers) {
      if (n == lower_name) return true;
    }
    return false;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string route;  // route template for metrics ("/v1/messages/{id}")
};

}  // namespace mp
