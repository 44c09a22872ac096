// Routes: where mail for a domain goes. A domain with a configured route goes to its relay
// (smarthost) with the route's TLS policy and credentials; "*" catches every other domain; the
// rest goes to the domain's MX hosts on delivery.port. A Destination names a "site": the set of
// hosts that share connection and rate limits, so all domains served by one provider's MX hosts
// (or one relay) share them.
// Thread-safety: RouteTable is immutable after construction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/config.h"

namespace mp {

struct Destination {
  std::string site;                // "mx:a.example,b.example" or "relay:host:port"
  std::vector<std::string> hosts;  // in order of preference (MX order, or the relay)
  uint16_t port = 25;
  TlsPolicy tls = TlsPolicy::kOpportunistic;
  std::string auth_user, auth_password;
  bool relay = false;
  std::string bind;  // local address to connect from (egress source); empty = any
  std::string ehlo;  // EHLO name (egress source); empty = delivery.helo_name
  // Egress: the pool and source chosen, and the destination site health is counted for (the MX
  // site). Empty for static [[delivery.routes]] relays.
  std::string pool, source, health_site;
};

class RouteTable {
 public:
  explicit RouteTable(const DeliveryConfig& config);
  // The relay route for a domain (lower-case A-labels), if any.
  std::optional<Destination> Relay(const std::string& domain) const;
  // The destination for a domain's MX hosts (already in preference order).
  Destination Mx(const std::vector<std::string>& mx_hosts) const;

 private:
  std::unordered_map<std::string, Destination> by_domain_;
  std::optional<Destination> wildcard_;
  uint16_t mx_port_;
  TlsPolicy mx_tls_;
};

}  // namespace mp
