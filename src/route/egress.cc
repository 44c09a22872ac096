#include "route/egress.h"

#include <arpa/inet.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>

#include "core/ascii.h"

namespace mp::route {
namespace json = boost::json;
namespace {

bool IsIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// A domain or host name: labels of letters, digits and '-', dots between, at most 253 octets.
bool IsDomainName(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.back() == '.') return false;
  size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

Status CheckDestination(std::string_view d) {
  if (d == "*") return Status::Ok();
  std::string_view name = d;
  if (name.substr(0, 5) == "site:") {
    name.remove_prefix(5);
    if (name.substr(0, 2) == "*.") name.remove_prefix(2);
  } else if (name.substr(0, 2) == "*.") {
    name.remove_prefix(2);
  }
  if (!IsDomainName(name)) {
    return MakeError(Code::kInvalidValue,
                     "destination must be \"*\", a lower-case domain, \"*.suffix\" or "
                     "\"site:<MX host pattern>\" (like site:*.google.com), got \"" +
                         std::string(d) + "\"",
                     "destination");
  }
  return Status::Ok();
}

Result<std::vector<WeightedName>> WeightsFromJson(const json::value* v, std::string_view field) {
  std::string f(field);
  if (!v || !v->is_object() || v->get_object().empty()) {
    return MakeError(Code::kInvalidValue,
                     f + " must be a non-empty object of names to weights, like {\"a\": 70}", f);
  }
  std::vector<WeightedName> out;
  for (const auto& kv : v->get_object()) {
    if (!kv.value().is_int64() || kv.value().get_int64() < 0 || kv.value().get_int64() > 1000000) {
      return MakeError(Code::kInvalidValue, f + " weights must be integers from 0 to 1000000", f);
    }
    Status s = CheckEgressName(f, kv.key());
    if (!s.ok()) return s.error();
    out.push_back(WeightedName{std::string(kv.key()), static_cast<int>(kv.value().get_int64())});
  }
  return out;
}

json::object WeightsToJson(const std::vector<WeightedName>& w) {
  json::object o;
  for (const WeightedName& n : w) o[n.name] = n.weight;
  return o;
}

Status OnlyKeys(const json::object& o, std::initializer_list<std::string_view> allowed) {
  for (const auto& kv : o) {
    if (std::find(allowed.begin(), allowed.end(), kv.key()) == allowed.end()) {
      return MakeError(Code::kUnknownField, "unknown field " + std::string(kv.key()),
                       std::string(kv.key()));
    }
  }
  return Status::Ok();
}

Result<std::string> OptString(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::string();
  if (!v->is_string()) {
    return MakeError(Code::kInvalidType, std::string(key) + " must be a string", std::string(key));
  }
  return std::string(v->get_string());
}

Result<TlsPolicy> ParseTls(std::string_view s) {
  if (s.empty() || s == "opportunistic") return TlsPolicy::kOpportunistic;
  if (s == "disabled") return TlsPolicy::kDisabled;
  if (s == "required") return TlsPolicy::kRequired;
  if (s == "verify") return TlsPolicy::kVerify;
  return MakeError(Code::kInvalidValue,
                   "tls must be one of disabled, opportunistic, required, verify", "tls");
}

// Checks one source's values and fills relay_host/relay_port from "host:port".
Status CheckSource(Source& s, const std::string& relay) {
  Status n = CheckEgressName("name", s.name);
  if (!n.ok()) return n;
  if (!relay.empty()) {
    if (!s.bind.empty() || !s.ehlo.empty()) {
      return MakeError(Code::kInvalidValue,
                       "source " + s.name + ": a relay source has no bind or ehlo", "relay");
    }
    if (!SplitHostPort(relay, &s.relay_host, &s.relay_port) || s.relay_port == 0) {
      return MakeError(Code::kInvalidValue,
                       "source " + s.name + ": relay must be host:port, got \"" + relay + "\"",
                       "relay");
    }
    s.relay = true;
    if (s.auth_user.empty() != s.auth_password.empty()) {
      return MakeError(Code::kInvalidValue,
                       "source " + s.name + ": auth_user and auth_password go together",
                       "auth_user");
    }
    return Status::Ok();
  }
  if (!s.auth_user.empty() || !s.auth_password.empty()) {
    return MakeError(Code::kInvalidValue,
                     "source " + s.name + ": credentials belong to relay sources", "auth_user");
  }
  if (!s.bind.empty() && !IsIp(s.bind)) {
    return MakeError(
        Code::kInvalidValue,
        "source " + s.name + ": bind must be an IPv4 or IPv6 address, got \"" + s.bind + "\"",
        "bind");
  }
  if (!s.ehlo.empty() && !IsDomainName(AsciiLower(s.ehlo))) {
    return MakeError(Code::kInvalidValue,
                     "source " + s.name + ": ehlo must be a host name, got \"" + s.ehlo + "\"",
                     "ehlo");
  }
  return Status::Ok();
}

int DestinationRank(MatchKind k) {
  switch (k) {
    case MatchKind::kExact:
      return 0;
    case MatchKind::kSuffix:
      return 1;
    case MatchKind::kSite:
      return 2;
    case MatchKind::kDefault:
      return 3;
  }
  return 3;
}

}  // namespace

std::string Source::Fingerprint() const {
  if (relay) {
    return "relay:" + AsciiLower(relay_host) + ":" + std::to_string(relay_port) + "/" +
           std::string(TlsPolicyName(tls)) + "/" + auth_user + "/" + auth_password;
  }
  return "direct:" + bind + "/" + ehlo;
}

MatchKind Rule::Kind() const {
  if (destination == "*") return MatchKind::kDefault;
  if (destination.rfind("site:", 0) == 0) return MatchKind::kSite;
  if (destination.rfind("*.", 0) == 0) return MatchKind::kSuffix;
  return MatchKind::kExact;
}

Status CheckEgressName(std::string_view what, std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    return MakeError(Code::kInvalidValue,
                     std::string(what) +
                         " must be 1 to 64 letters, digits, '.', '_' or '-', got \"" +
                         std::string(name.substr(0, 80)) + "\"",
                     std::string(what));
  }
  return Status::Ok();
}

std::string SiteName(const std::vector<std::string>& mx_hosts) {
  std::vector<std::string> sorted;
  sorted.reserve(mx_hosts.size());
  for (const auto& h : mx_hosts) sorted.push_back(AsciiLower(h));
  std::sort(sorted.begin(), sorted.end());
  std::string site = "mx:";
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i) site += ',';
    site += sorted[i];
  }
  return site;
}

bool HostMatches(std::string_view pattern, std::string_view host) {
  std::string h = AsciiLower(host);
  while (!h.empty() && h.back() == '.') h.pop_back();
  if (pattern.substr(0, 2) == "*.") {
    std::string_view suffix = pattern.substr(1);  // ".google.com"
    return h.size() > suffix.size() &&
           h.compare(h.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
  }
  return h == pattern;
}

json::object ToJson(const Source& s, bool with_secrets) {
  json::object o;
  o["name"] = s.name;
  if (s.relay) {
    o["kind"] = "relay";
    o["relay"] = s.relay_host + ":" + std::to_string(s.relay_port);
    o["tls"] = TlsPolicyName(s.tls);
    if (!s.auth_user.empty()) {
      o["auth_user"] = s.auth_user;
      o["auth_password"] = with_secrets ? s.auth_password : std::string("********");
    }
  } else {
    o["kind"] = "direct";
    o["bind"] = s.bind;
    o["ehlo"] = s.ehlo;
  }
  o["origin"] = s.from_config ? "config" : "api";
  return o;
}

json::object ToJson(const Pool& p) {
  return json::object{{"name", p.name},
                      {"sources", WeightsToJson(p.sources)},
                      {"origin", p.from_config ? "config" : "api"}};
}

json::object ToJson(const Rule& r) {
  return json::object{{"id", r.id},
                      {"tenant", r.tenant},
                      {"destination", r.destination},
                      {"pools", WeightsToJson(r.pools)},
                      {"origin", r.from_config ? "config" : "api"}};
}

Result<Source> SourceFromJson(const json::value& v, std::string_view name) {
  if (!v.is_object()) return MakeError(Code::kInvalidType, "a source must be a JSON object");
  const json::object& o = v.get_object();
  Status k = OnlyKeys(
      o, {"name", "kind", "bind", "ehlo", "relay", "tls", "auth_user", "auth_password", "origin"});
  if (!k.ok()) return k.error();
  Source s;
  s.name = std::string(name);
  std::string relay, kind, tls;
  for (auto [key, out] :
       {std::pair{"bind", &s.bind}, std::pair{"ehlo", &s.ehlo}, std::pair{"relay", &relay},
        std::pair{"tls", &tls}, std::pair{"auth_user", &s.auth_user},
        std::pair{"auth_password", &s.auth_password}, std::pair{"kind", &kind}}) {
    auto r = OptString(o, key);
    if (!r.ok()) return r.error();
    *out = std::move(r.value());
  }
  if (!kind.empty() && kind != "direct" && kind != "relay") {
    return MakeError(Code::kInvalidValue, "kind must be \"direct\" or \"relay\"", "kind");
  }
  if (kind == "relay" && relay.empty()) {
    return MakeError(Code::kMissingField, "a relay source needs relay (host:port)", "relay");
  }
  if (kind == "direct" && !relay.empty()) {
    return MakeError(Code::kInvalidValue, "a direct source has no relay", "relay");
  }
  if (!tls.empty() && relay.empty()) {
    return MakeError(Code::kInvalidValue,
                     "tls belongs to relay sources (direct sources follow delivery.tls)", "tls");
  }
  auto policy = ParseTls(tls);
  if (!policy.ok()) return policy.error();
  s.tls = policy.value();
  Status c = CheckSource(s, relay);
  if (!c.ok()) return c.error();
  return s;
}

Result<Pool> PoolFromJson(const json::value& v, std::string_view name) {
  if (!v.is_object()) return MakeError(Code::kInvalidType, "a pool must be a JSON object");
  const json::object& o = v.get_object();
  Status k = OnlyKeys(o, {"name", "sources", "origin"});
  if (!k.ok()) return k.error();
  Pool p;
  p.name = std::string(name);
  Status n = CheckEgressName("name", p.name);
  if (!n.ok()) return n.error();
  auto w = WeightsFromJson(o.if_contains("sources"), "sources");
  if (!w.ok()) return w.error();
  p.sources = std::move(w.value());
  return p;
}

Result<Rule> RuleFromJson(const json::value& v, std::string_view id) {
  if (!v.is_object()) return MakeError(Code::kInvalidType, "a rule must be a JSON object");
  const json::object& o = v.get_object();
  Status k = OnlyKeys(o, {"id", "tenant", "destination", "pools", "origin"});
  if (!k.ok()) return k.error();
  Rule r;
  r.id = std::string(id);
  Status n = CheckEgressName("id", r.id);
  if (!n.ok()) return n.error();
  auto tenant = OptString(o, "tenant");
  if (!tenant.ok()) return tenant.error();
  r.tenant = tenant.value().empty() ? "*" : tenant.value();
  if (r.tenant != "*") {
    Status t = CheckEgressName("tenant", r.tenant);
    if (!t.ok()) return t.error();
  }
  auto dest = OptString(o, "destination");
  if (!dest.ok()) return dest.error();
  r.destination = dest.value().empty() ? "*" : AsciiLower(dest.value());
  Status d = CheckDestination(r.destination);
  if (!d.ok()) return d.error();
  auto w = WeightsFromJson(o.if_contains("pools"), "pools");
  if (!w.ok()) return w.error();
  r.pools = std::move(w.value());
  return r;
}

Result<Source> SourceFromConfig(const EgressSourceConfig& c) {
  Source s;
  s.name = c.name;
  s.bind = c.bind;
  s.ehlo = c.ehlo;
  s.tls = c.tls;
  s.auth_user = c.auth_user;
  s.auth_password = c.auth_password;
  s.from_config = true;
  Status st = CheckSource(s, c.relay);
  if (!st.ok()) return st.error();
  return s;
}

Pool PoolFromConfig(const EgressPoolConfig& c) { return Pool{c.name, c.sources, true}; }

Rule RuleFromConfig(const EgressRuleConfig& c, size_t index) {
  Rule r;
  r.id = c.id.empty() ? "config-" + std::to_string(index + 1) : c.id;
  r.tenant = c.tenant.empty() ? "*" : c.tenant;
  r.destination = c.destination.empty() ? "*" : AsciiLower(c.destination);
  r.pools = c.pools;
  r.from_config = true;
  return r;
}

Status EgressTable::Validate() const {
  for (const auto& [name, p] : pools) {
    int total = 0;
    for (const WeightedName& w : p.sources) {
      if (!sources.count(w.name)) {
        return MakeError(Code::kInvalidValue,
                         "pool " + name + " names source " + w.name + ", which does not exist",
                         "sources");
      }
      total += w.weight;
    }
    if (total <= 0) {
      return MakeError(Code::kInvalidValue,
                       "pool " + name + " needs at least one source with a positive weight",
                       "sources");
    }
  }
  std::set<std::pair<std::string, std::string>> seen;
  bool has_default = false;
  for (const auto& [id, r] : rules) {
    Status d = CheckDestination(r.destination);
    if (!d.ok()) return MakeError(Code::kInvalidValue, "rule " + id + ": " + d.error().detail);
    if (r.tenant != "*") {
      Status t = CheckEgressName("tenant", r.tenant);
      if (!t.ok()) return t;
    }
    int total = 0;
    for (const WeightedName& w : r.pools) {
      if (!pools.count(w.name)) {
        return MakeError(Code::kInvalidValue,
                         "rule " + id + " names pool " + w.name + ", which does not exist",
                         "pools");
      }
      total += w.weight;
    }
    if (total <= 0) {
      return MakeError(Code::kInvalidValue,
                       "rule " + id + " needs at least one pool with a positive weight", "pools");
    }
    if (!seen.insert({r.tenant, r.destination}).second) {
      return MakeError(Code::kConflict,
                       "rule " + id + ": another rule already covers tenant " + r.tenant +
                           " and destination " + r.destination,
                       "destination");
    }
    has_default = has_default || (r.tenant == "*" && r.destination == "*");
  }
  if (!has_default) {
    return MakeError(Code::kInvalidValue,
                     "a default rule (tenant \"*\", destination \"*\") is required", "destination");
  }
  return Status::Ok();
}

bool EgressTable::HasSiteRules() const {
  for (const auto& [id, r] : rules) {
    if (r.Kind() == MatchKind::kSite) return true;
  }
  return false;
}

EgressTable::Match EgressTable::Resolve(std::string_view tenant, std::string_view domain,
                                        const std::vector<std::string>& mx_hosts) const {
  // Best candidate: the tenant's own rules before everyone's; then exact, longest suffix, site,
  // default.
  const Rule* best = nullptr;
  std::tuple<int, int, size_t> best_key{9, 9, 0};
  std::string best_why;
  for (const auto& [id, r] : rules) {
    int tenant_rank;
    if (r.tenant == tenant && tenant != "*") {
      tenant_rank = 0;
    } else if (r.tenant == "*") {
      tenant_rank = 1;
    } else {
      continue;
    }
    MatchKind kind = r.Kind();
    std::string why;
    size_t length = 0;  // longer suffixes first (negated below)
    switch (kind) {
      case MatchKind::kExact:
        if (r.destination != domain) continue;
        why = "exact domain " + r.destination;
        break;
      case MatchKind::kSuffix: {
        std::string_view base = std::string_view(r.destination).substr(2);
        bool match = domain == base || (domain.size() > base.size() &&
                                        domain.substr(domain.size() - base.size()) == base &&
                                        domain[domain.size() - base.size() - 1] == '.');
        if (!match) continue;
        why = "domain suffix " + r.destination;
        length = base.size();
        break;
      }
      case MatchKind::kSite: {
        std::string_view pattern = std::string_view(r.destination).substr(5);
        std::string host;
        for (const std::string& h : mx_hosts) {
          if (HostMatches(pattern, h)) {
            host = h;
            break;
          }
        }
        if (host.empty()) continue;
        why = "site " + std::string(pattern) + " (MX host " + host + ")";
        break;
      }
      case MatchKind::kDefault:
        why = "default";
        break;
    }
    std::tuple<int, int, size_t> key{tenant_rank, DestinationRank(kind), SIZE_MAX - length};
    if (!best || key < best_key) {
      best = &r;
      best_key = key;
      best_why =
          (tenant_rank == 0 ? "tenant " + std::string(tenant) : std::string("every tenant")) +
          ", " + why;
    }
  }
  return Match{best, best_why};
}

EgressTable EgressTable::Default() {
  EgressTable t;
  Source s;
  s.name = "default";
  t.sources["default"] = s;
  t.pools["default"] = Pool{"default", {{"default", 1}}, false};
  Rule r;
  r.id = "default";
  r.pools = {{"default", 1}};
  t.rules["default"] = r;
  return t;
}

Result<EgressTable> TableFromConfig(const EgressConfig& config) {
  if (config.sources.empty() && config.pools.empty() && config.rules.empty()) {
    return EgressTable::Default();
  }
  EgressTable t;
  for (const EgressSourceConfig& c : config.sources) {
    auto s = SourceFromConfig(c);
    if (!s.ok()) return MakeError(Code::kInvalidValue, "egress.sources: " + s.error().detail);
    if (!t.sources.emplace(c.name, std::move(s.value())).second) {
      return MakeError(Code::kInvalidValue, "egress.sources: source " + c.name + " twice");
    }
  }
  for (const EgressPoolConfig& c : config.pools) {
    Status n = CheckEgressName("egress.pools name", c.name);
    if (!n.ok()) return n.error();
    if (!t.pools.emplace(c.name, PoolFromConfig(c)).second) {
      return MakeError(Code::kInvalidValue, "egress.pools: pool " + c.name + " twice");
    }
  }
  for (size_t i = 0; i < config.rules.size(); ++i) {
    Rule r = RuleFromConfig(config.rules[i], i);
    Status n = CheckEgressName("egress.rules id", r.id);
    if (!n.ok()) return n.error();
    std::string id = r.id;
    if (!t.rules.emplace(id, std::move(r)).second) {
      return MakeError(Code::kInvalidValue, "egress.rules: rule " + id + " twice");
    }
  }
  Status v = t.Validate();
  if (!v.ok()) return MakeError(Code::kInvalidValue, "egress: " + v.error().detail);
  return t;
}

}  // namespace mp::route
