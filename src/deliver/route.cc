#include "deliver/route.h"

#include <algorithm>

#include "route/egress.h"

namespace mp {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

RouteTable::RouteTable(const DeliveryConfig& config) : mx_port_(config.port), mx_tls_(config.tls) {
  for (const RouteConfig& r : config.routes) {
    Destination d;
    std::string host;
    uint16_t port = 25;
    SplitHostPort(r.relay, &host, &port);  // validated with the configuration
    // Routes to one relay with different TLS policies or credentials are different sites.
    d.site =
        "relay:" + Lower(r.relay) + "/" + std::string(TlsPolicyName(r.tls)) + "/" + r.auth_user;
    d.hosts = {host};
    d.port = port;
    d.tls = r.tls;
    d.auth_user = r.auth_user;
    d.auth_password = r.auth_password;
    d.relay = true;
    if (r.domain == "*") {
      wildcard_ = d;
    } else {
      by_domain_[Lower(r.domain)] = d;
    }
  }
}

std::optional<Destination> RouteTable::Relay(const std::string& domain) const {
  auto it = by_domain_.find(domain);
  if (it != by_domain_.end()) return it->second;
  return wildcard_;
}

Destination RouteTable::Mx(const std::vector<std::string>& mx_hosts) const {
  Destination d;
  d.site = route::SiteName(mx_hosts);
  d.hosts = mx_hosts;
  d.port = mx_port_;
  d.tls = mx_tls_;
  return d;
}

}  // namespace mp
