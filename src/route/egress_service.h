// EgressService: the live egress table (sources, pools, rules) and the routing choice for each
// delivery job.
//
// The table is the configuration file's items (read-only through the API) plus the items stored
// in the state column by the admin API; without egress items in the file, a built-in default
// (source, pool and rule "default": direct from the system's address) stands in, and the API may
// replace it. Every change is validated against the whole table, written with a new version and a
// history record (who, when, before, after) in one batch, and then applies at once: the engine
// takes the current table for each routing decision. Layout: docs/formats/spool.md.
//
// Choose() picks a pool by smooth weighted round robin among the rule's pools that PoolHealth
// allows for the site (so the split follows the weights exactly over any run of messages, per
// site), then a source of the pool the same way.
// Thread-safety: all methods are safe from any thread; Put/Delete block on the store (call them
// from a blocking pool).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "route/egress.h"
#include "route/health.h"

namespace mp {
class KvStore;
class Clock;
}  // namespace mp

namespace mp::route {

enum class ItemKind { kSource, kPool, kRule };
std::string_view ItemKindName(ItemKind k);  // "source", "pool", "rule"

struct Change {
  uint64_t version = 0;
  int64_t at_ms = 0;
  std::string actor;
  std::string op;  // "put" or "delete"
  ItemKind kind = ItemKind::kRule;
  std::string name;
  std::string before, after;  // JSON of the item, "" when absent
};

struct Choice {
  std::string rule_id;
  std::string pool;
  Source source;
  bool probe = false;  // the pool is on probation for this site
};

class EgressService {
 public:
  EgressService(const EgressConfig& config, KvStore& kv, const Clock& clock);

  // Builds the table from the configuration and the stored items. Errors stop the start.
  Status Load();

  std::shared_ptr<const EgressTable> Current() const;

  // Creates or replaces an item from its JSON body; returns the new version. Items from the
  // configuration file are read-only (kConflict).
  Result<uint64_t> Put(ItemKind kind, const std::string& name, const std::string& body_json,
                       const std::string& actor);
  Result<uint64_t> Delete(ItemKind kind, const std::string& name, const std::string& actor);
  // Newest first, versions below `before` (0 = from the newest).
  Result<std::vector<Change>> History(uint64_t before, size_t limit);

  // The pool and source for mail of tenant to domain at site (mx_hosts as resolved). kNotFound
  // when no rule matches, kConflict (with the reason) when every pool of the rule is quarantined
  // or pinned out for the site.
  Result<Choice> Choose(const std::string& tenant, const std::string& domain,
                        const std::vector<std::string>& mx_hosts, const std::string& site);

  PoolHealth& Health() { return health_; }

 private:
  Result<EgressTable> Apply(const EgressTable& base, ItemKind kind, const std::string& name,
                            const std::string* body_json, std::string* before,
                            std::string* after) const;
  // Smooth weighted round robin over (name, weight) with state under key. mu_rr_ held.
  std::string PickWeighted(const std::string& key, const std::vector<WeightedName>& options);

  const EgressConfig& config_;
  KvStore& kv_;
  const Clock& clock_;
  PoolHealth health_;
  std::mutex write_mu_;  // one change at a time
  mutable std::mutex mu_;
  std::shared_ptr<const EgressTable> current_;
  EgressTable base_;  // the configuration's items (or the built-in default)
  std::mutex mu_rr_;
  std::unordered_map<std::string, std::unordered_map<std::string, int64_t>> rr_;
};

}  // namespace mp::route
