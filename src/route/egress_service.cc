#include "route/egress_service.h"

#include <algorithm>
#include <boost/json.hpp>

#include "core/clock.h"
#include "core/log.h"
#include "store/kv.h"

namespace mp::route {
namespace json = boost::json;
namespace {

constexpr std::string_view kItemPrefix = "egress/item/";  // + kind + "/" + name
constexpr std::string_view kVersionKey = "egress/version";
constexpr std::string_view kHistoryPrefix = "egress/history/";  // + u64be version

std::string ItemKey(ItemKind kind, const std::string& name) {
  return std::string(kItemPrefix) + std::string(ItemKindName(kind)) + "/" + name;
}

std::string HistoryKey(uint64_t version) {
  std::string k(kHistoryPrefix);
  AppendU64BE(k, version);
  return k;
}

template <typename T>
std::string Serialize(const T& item) {
  return json::serialize(ToJson(item));
}
std::string Serialize(const Source& s) { return json::serialize(ToJson(s, true)); }

Result<json::value> ParseJson(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return MakeError(Code::kInvalidJson, "body is not valid JSON: " + ec.message());
  return v;
}

// Adds or replaces item `name` of `kind` from JSON in t (no validation of references).
Status Insert(EgressTable& t, ItemKind kind, const std::string& name, const json::value& v) {
  switch (kind) {
    case ItemKind::kSource: {
      auto s = SourceFromJson(v, name);
      if (!s.ok()) return s.error();
      t.sources[name] = std::move(s.value());
      return Status::Ok();
    }
    case ItemKind::kPool: {
      auto p = PoolFromJson(v, name);
      if (!p.ok()) return p.error();
      t.pools[name] = std::move(p.value());
      return Status::Ok();
    }
    case ItemKind::kRule: {
      auto r = RuleFromJson(v, name);
      if (!r.ok()) return r.error();
      t.rules[name] = std::move(r.value());
      return Status::Ok();
    }
  }
  return Status::Ok();
}

// The JSON of an item as stored, "" if absent; *from_config when it comes from the file.
std::string Describe(const EgressTable& t, ItemKind kind, const std::string& name,
                     bool* from_config) {
  *from_config = false;
  switch (kind) {
    case ItemKind::kSource:
      if (auto it = t.sources.find(name); it != t.sources.end()) {
        *from_config = it->second.from_config;
        return Serialize(it->second);
      }
      break;
    case ItemKind::kPool:
      if (auto it = t.pools.find(name); it != t.pools.end()) {
        *from_config = it->second.from_config;
        return Serialize(it->second);
      }
      break;
    case ItemKind::kRule:
      if (auto it = t.rules.find(name); it != t.rules.end()) {
        *from_config = it->second.from_config;
        return Serialize(it->second);
      }
      break;
  }
  return "";
}

}  // namespace

std::string_view ItemKindName(ItemKind k) {
  switch (k) {
    case ItemKind::kSource:
      return "source";
    case ItemKind::kPool:
      return "pool";
    case ItemKind::kRule:
      return "rule";
  }
  return "rule";
}

EgressService::EgressService(const EgressConfig& config, KvStore& kv, const Clock& clock)
    : config_(config), kv_(kv), clock_(clock), health_(config.failover, clock) {}

Status EgressService::Load() {
  auto base = TableFromConfig(config_);
  if (!base.ok()) return base.error();
  base_ = std::move(base.value());
  EgressTable t = base_;
  Status bad = Status::Ok();
  Status s = kv_.Scan(Column::kState, kItemPrefix, [&](std::string_view key, std::string_view v) {
    std::string_view rest = key.substr(kItemPrefix.size());
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return true;
    std::string_view kind = rest.substr(0, slash);
    std::string name(rest.substr(slash + 1));
    ItemKind k = kind == "source" ? ItemKind::kSource
                 : kind == "pool" ? ItemKind::kPool
                                  : ItemKind::kRule;
    bool from_config = false;
    Describe(base_, k, name, &from_config);
    if (from_config) {
      // The configuration file now defines this name: it wins (items of the file are read-only).
      log::Warn("egress.stored_item_shadowed",
                {{"kind", kind}, {"name", name}, {"hint", "the configuration file defines it"}});
      return true;
    }
    auto parsed = ParseJson(std::string(v));
    Status ins = parsed.ok() ? Insert(t, k, name, parsed.value()) : Status(parsed.error());
    if (!ins.ok()) {
      bad = MakeError(Code::kStorage, "stored egress " + std::string(kind) + " " + name +
                                          " is unreadable: " + ins.error().detail);
      return false;
    }
    return true;
  });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  auto version = kv_.Get(Column::kState, kVersionKey);
  if (!version.ok()) return version.error();
  if (version.value() && version.value()->size() == 8) t.version = ReadU64BE(*version.value());
  Status v = t.Validate();
  if (!v.ok()) return MakeError(Code::kInvalidValue, "egress table: " + v.error().detail);
  std::lock_guard lock(mu_);
  current_ = std::make_shared<const EgressTable>(std::move(t));
  return Status::Ok();
}

std::shared_ptr<const EgressTable> EgressService::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

Result<EgressTable> EgressService::Apply(const EgressTable& base, ItemKind kind,
                                         const std::string& name, const std::string* body_json,
                                         std::string* before, std::string* after) const {
  EgressTable t = base;
  bool from_config = false;
  *before = Describe(t, kind, name, &from_config);
  if (from_config) {
    return MakeError(Code::kConflict, std::string(ItemKindName(kind)) + " " + name +
                                          " is defined in the configuration file; change it there");
  }
  if (body_json) {
    auto v = ParseJson(*body_json);
    if (!v.ok()) return v.error();
    Status s = Insert(t, kind, name, v.value());
    if (!s.ok()) return s.error();
  } else {
    if (before->empty()) {
      return MakeError(Code::kNotFound, "no such " + std::string(ItemKindName(kind)));
    }
    bool builtin = false;
    if (!Describe(base_, kind, name, &builtin).empty()) {
      return MakeError(Code::kConflict, "the built-in " + std::string(ItemKindName(kind)) + " " +
                                            name + " cannot be deleted, only replaced");
    }
    switch (kind) {
      case ItemKind::kSource:
        t.sources.erase(name);
        break;
      case ItemKind::kPool:
        t.pools.erase(name);
        break;
      case ItemKind::kRule:
        t.rules.erase(name);
        break;
    }
  }
  Status v = t.Validate();
  if (!v.ok()) return v.error();
  bool ignored;
  *after = Describe(t, kind, name, &ignored);
  return t;
}

Result<uint64_t> EgressService::Put(ItemKind kind, const std::string& name,
                                    const std::string& body_json, const std::string& actor) {
  std::lock_guard write(write_mu_);
  std::string before, after;
  auto t = Apply(*Current(), kind, name, &body_json, &before, &after);
  if (!t.ok()) return t.error();
  EgressTable& table = t.value();
  table.version += 1;
  Change c{table.version, clock_.NowMs(), actor, "put", kind, name, before, after};
  WriteBatch batch;
  batch.Put(Column::kState, ItemKey(kind, name), after);
  std::string v;
  AppendU64BE(v, table.version);
  batch.Put(Column::kState, std::string(kVersionKey), v);
  json::object h{
      {"version", c.version},       {"at", c.at_ms}, {"actor", c.actor}, {"op", c.op},
      {"kind", ItemKindName(kind)}, {"name", name},  {"before", before}, {"after", after}};
  batch.Put(Column::kState, HistoryKey(table.version), json::serialize(h));
  Status s = kv_.CommitAndWait(std::move(batch));
  if (!s.ok()) return s.error();
  {
    std::lock_guard lock(mu_);
    current_ = std::make_shared<const EgressTable>(std::move(table));
  }
  log::Info("egress.changed", {{"version", c.version},
                               {"op", "put"},
                               {"kind", ItemKindName(kind)},
                               {"name", name},
                               {"actor", actor}});
  return c.version;
}

Result<uint64_t> EgressService::Delete(ItemKind kind, const std::string& name,
                                       const std::string& actor) {
  std::lock_guard write(write_mu_);
  std::string before, after;
  auto t = Apply(*Current(), kind, name, nullptr, &before, &after);
  if (!t.ok()) return t.error();
  EgressTable& table = t.value();
  table.version += 1;
  WriteBatch batch;
  batch.Delete(Column::kState, ItemKey(kind, name));
  std::string v;
  AppendU64BE(v, table.version);
  batch.Put(Column::kState, std::string(kVersionKey), v);
  json::object h{
      {"version", table.version},   {"at", clock_.NowMs()}, {"actor", actor},   {"op", "delete"},
      {"kind", ItemKindName(kind)}, {"name", name},         {"before", before}, {"after", ""}};
  batch.Put(Column::kState, HistoryKey(table.version), json::serialize(h));
  Status s = kv_.CommitAndWait(std::move(batch));
  if (!s.ok()) return s.error();
  uint64_t version = table.version;
  {
    std::lock_guard lock(mu_);
    current_ = std::make_shared<const EgressTable>(std::move(table));
  }
  log::Info("egress.changed", {{"version", version},
                               {"op", "delete"},
                               {"kind", ItemKindName(kind)},
                               {"name", name},
                               {"actor", actor}});
  return version;
}

Result<std::vector<Change>> EgressService::History(uint64_t before, size_t limit) {
  // Versions are dense from 1: read them downwards by key.
  uint64_t newest = Current()->version;
  uint64_t top = before ? std::min(before - 1, newest) : newest;
  std::vector<Change> out;
  for (uint64_t v = top; v >= 1 && out.size() < limit; --v) {
    auto r = kv_.Get(Column::kState, HistoryKey(v));
    if (!r.ok()) return r.error();
    if (!r.value()) continue;
    auto parsed = ParseJson(*r.value());
    if (!parsed.ok() || !parsed.value().is_object()) continue;
    const json::object& o = parsed.value().get_object();
    Change c;
    try {
      c.version = o.at("version").to_number<uint64_t>();
      c.at_ms = o.at("at").to_number<int64_t>();
      c.actor = o.at("actor").as_string();
      c.op = o.at("op").as_string();
      std::string_view k = o.at("kind").as_string();
      c.kind = k == "source" ? ItemKind::kSource : k == "pool" ? ItemKind::kPool : ItemKind::kRule;
      c.name = o.at("name").as_string();
      c.before = o.at("before").as_string();
      c.after = o.at("after").as_string();
    } catch (const std::exception&) {
      continue;
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string EgressService::PickWeighted(const std::string& key,
                                        const std::vector<WeightedName>& options) {
  if (rr_.size() > 100000) rr_.clear();  // bounded: a reset only restarts the rotation
  auto& state = rr_[key];
  int64_t total = 0;
  const WeightedName* best = nullptr;
  int64_t best_value = 0;
  for (const WeightedName& o : options) {
    if (o.weight <= 0) continue;
    total += o.weight;
    int64_t& cur = state[o.name];
    cur += o.weight;
    if (!best || cur > best_value) {
      best = &o;
      best_value = cur;
    }
  }
  if (!best) return "";
  state[best->name] -= total;
  return best->name;
}

Result<Choice> EgressService::Choose(const std::string& tenant, const std::string& domain,
                                     const std::vector<std::string>& mx_hosts,
                                     const std::string& site) {
  std::shared_ptr<const EgressTable> t = Current();
  EgressTable::Match m = t->Resolve(tenant, domain, mx_hosts);
  if (!m.rule) return MakeError(Code::kNotFound, "no egress rule matches " + domain);
  std::vector<WeightedName> usable;
  for (const WeightedName& p : m.rule->pools) {
    if (p.weight > 0 && health_.Eligible(site, p.name)) usable.push_back(p);
  }
  if (usable.empty()) {
    return MakeError(Code::kConflict, "every pool of egress rule " + m.rule->id +
                                          " is quarantined or pinned out for " + site);
  }
  Choice c;
  c.rule_id = m.rule->id;
  std::lock_guard lock(mu_rr_);
  c.pool = PickWeighted("r|" + m.rule->id + "|" + site, usable);
  auto pool = t->pools.find(c.pool);
  if (pool == t->pools.end()) return MakeError(Code::kInternal, "pool vanished");
  std::string source = PickWeighted("p|" + c.pool + "|" + site, pool->second.sources);
  auto src = t->sources.find(source);
  if (src == t->sources.end()) return MakeError(Code::kInternal, "source vanished");
  c.source = src->second;
  c.probe = health_.View(site, c.pool).state == HealthState::kProbing;
  if (c.probe) health_.Take(site, c.pool);
  return c;
}

}  // namespace mp::route
