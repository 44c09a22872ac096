// Egress: where outgoing mail leaves from. A source is direct (a bind address and an EHLO name,
// delivering to MX hosts) or a relay (a smarthost: host, port, TLS policy, credentials). A pool is
// a weighted set of sources. A rule maps (a tenant or every tenant, a destination) to pool weights.
//
// Destinations, most specific first: an exact domain ("example.com"), a suffix ("*.example.com",
// longest first; it matches example.com itself too), a site ("site:*.google.com": every domain
// whose MX hosts match the pattern), and the default ("*"). A tenant's own rules are consulted
// before the rules for every tenant, so a tenant given dedicated pools keeps them everywhere.
//
// EgressTable is an immutable snapshot: the engine takes the current one for each routing
// decision, and a change (admin API) builds a new one, so changes apply live.
// Thread-safety: EgressTable is immutable; share it through std::shared_ptr<const EgressTable>.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"

namespace boost::json {
class object;
class value;
}  // namespace boost::json

namespace mp::route {

struct Source {
  std::string name;
  bool relay = false;
  std::string bind;  // direct
  std::string ehlo;  // direct; empty = delivery.helo_name
  std::string relay_host;
  uint16_t relay_port = 25;
  TlsPolicy tls = TlsPolicy::kOpportunistic;  // relay
  std::string auth_user, auth_password;       // relay
  bool from_config = false;

  // Everything a connection depends on: connections of one fingerprint may be shared.
  std::string Fingerprint() const;
};

struct Pool {
  std::string name;
  std::vector<WeightedName> sources;
  bool from_config = false;
};

enum class MatchKind { kExact, kSuffix, kSite, kDefault };

struct Rule {
  std::string id;
  std::string tenant = "*";
  std::string destination = "*";
  std::vector<WeightedName> pools;
  bool from_config = false;

  MatchKind Kind() const;
};

// Names: 1 to 64 of letters, digits, '.', '_', '-'.
Status CheckEgressName(std::string_view what, std::string_view name);

// JSON forms, shared by the state store and the admin API. From* validate the shape and the
// values of one item (not references to others) and say what is wrong.
boost::json::object ToJson(const Source& s, bool with_secrets);
boost::json::object ToJson(const Pool& p);
boost::json::object ToJson(const Rule& r);
Result<Source> SourceFromJson(const boost::json::value& v, std::string_view name);
Result<Pool> PoolFromJson(const boost::json::value& v, std::string_view name);
Result<Rule> RuleFromJson(const boost::json::value& v, std::string_view id);

// Items of the configuration file, in their table form (names checked).
Result<Source> SourceFromConfig(const EgressSourceConfig& c);
Pool PoolFromConfig(const EgressPoolConfig& c);
Rule RuleFromConfig(const EgressRuleConfig& c, size_t index);

// The destination site of a set of MX hosts: "mx:" + the lower-case names, sorted, comma-separated
// (the order does not matter: equal preferences are shuffled).
std::string SiteName(const std::vector<std::string>& mx_hosts);

// Whether a host name matches a pattern: "*.google.com" (any name below google.com) or a name.
bool HostMatches(std::string_view pattern, std::string_view host);

class EgressTable {
 public:
  std::map<std::string, Source> sources;
  std::map<std::string, Pool> pools;
  std::map<std::string, Rule> rules;  // by id
  uint64_t version = 0;

  // Every reference resolves, every rule has a pool of positive weight with a source of positive
  // weight, no two rules share (tenant, destination).
  Status Validate() const;

  struct Match {
    const Rule* rule = nullptr;
    std::string why;  // "tenant t1, exact domain example.com", "every tenant, default"
  };
  // The rule for mail of tenant to domain (lower-case), whose MX hosts are mx_hosts (may be
  // empty when not known: site rules then do not match). Null if no rule matches.
  Match Resolve(std::string_view tenant, std::string_view domain,
                const std::vector<std::string>& mx_hosts) const;
  // Whether any rule is a site rule (then the MX hosts decide).
  bool HasSiteRules() const;

  // The table mailplane uses when the configuration defines no egress: one direct source from
  // the system's address, one pool, one default rule.
  static EgressTable Default();
};

// Builds the table from the configuration file's items; a configuration without egress items
// gets the default table. Errors name the item.
Result<EgressTable> TableFromConfig(const EgressConfig& config);

}  // namespace mp::route
