#include "core/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace mp {
namespace {

// Walks a TOML table, reading known keys into fields and rejecting the rest.
class Reader {
 public:
  Reader(const toml::table& table, std::string prefix)
      : table_(table), prefix_(std::move(prefix)) {}

  template <typename T>
  void Int(const char* key, T* out) {
    seen_.insert(key);
    const toml::node* n = table_.get(key);
    if (!n) return;
    auto v = n->value<int64_t>();
    if (!v || !n->is_integer()) Fail(key, "an integer");
    if (*v < 0) Fail(key, "a non-negative integer");
    if (static_cast<uint64_t>(*v) > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
      Fail(key, "a smaller integer");
    }
    *out = static_cast<T>(*v);
  }
  void Str(const char* key, std::string* out) {
    seen_.insert(key);
    const toml::node* n = table_.get(key);
    if (!n) return;
    if (!n->is_string()) Fail(key, "a string");
    *out = *n->value<std::string>();
  }
  void Bool(const char* key, bool* out) {
    seen_.insert(key);
    const toml::node* n = table_.get(key);
    if (!n) return;
    if (!n->is_boolean()) Fail(key, "a boolean");
    *out = *n->value<bool>();
  }
  void Float(const char* key, double* out) {
    seen_.insert(key);
    const toml::node* n = table_.get(key);
    if (!n) return;
    if (!n->is_number()) Fail(key, "a number");
    *out = n->is_integer() ? static_cast<double>(*n->value<int64_t>()) : *n->value<double>();
  }
  void StrList(const char* key, std::vector<std::string>* out) {
    seen_.insert(key);
    const toml::node* n = table_.get(key);
    if (!n) return;
    if (!n->is_array()) Fail(key, "an array of strings");
    out->clear();
    for (const toml::node& e : *n->as_array()) {
      if (!e.is_string()) Fail(key, "an array of strings");
      out->push_back(*e.value<std::string>());
    }
  }
  void Tls(const char* key, TlsPolicy* out) {
    std::string v;
    Str(key, &v);
    if (v.empty() && !table_.get(key)) return;
    if (v == "disabled")
      *out = TlsPolicy::kDisabled;
    else if (v == "opportunistic")
      *out = TlsPolicy::kOpportunistic;
    else if (v == "required")
      *out = TlsPolicy::kRequired;
    else if (v == "verify")
      *out = TlsPolicy::kVerify;
    else
      Fail(key, "one of disabled, opportunistic, required, verify");
  }
  // An inline table of names to positive integer weights: { a = 70, b = 30 }.
  void Weights(const char* key, std::vector<WeightedName>* out) {
    seen_.insert(key);
    const toml::node* n = table_.get(key);
    if (!n) return;
    if (!n->is_table()) Fail(key, "a table of names to weights, like { a = 70, b = 30 }");
    out->clear();
    for (const auto& [k, v] : *n->as_table()) {
      auto w = v.value<int64_t>();
      if (!v.is_integer() || !w || *w < 0 || *w > 1000000) {
        Fail(key, "a table of names to integer weights from 0 to 1000000");
      }
      out->push_back(WeightedName{std::string(k.str()), static_cast<int>(*w)});
    }
  }
  // An array of tables: fn(Reader&) for each, with unknown keys rejected.
  template <typename Fn>
  void Tables(const char* key, Fn fn) {
    seen_.insert(key);
    const toml::node* n = table_.get(key);
    if (!n) return;
    if (!n->is_array_of_tables()) Fail(key, "an array of tables ([[...]])");
    size_t i = 0;
    for (const toml::node& e : *n->as_array()) {
      Reader r(*e.as_table(), prefix_ + key + "[" + std::to_string(i++) + "].");
      fn(r);
      r.RejectUnknown();
    }
  }
  const toml::table* Table(const char* key) {
    seen_.insert(key);
    const toml::node* n = table_.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) Fail(key, "a table");
    return n->as_table();
  }
  const std::string& Prefix() const { return prefix_; }
  void RejectUnknown() {
    for (const auto& [k, v] : table_) {
      if (!seen_.count(std::string(k.str()))) {
        throw ConfigError("unknown configuration key '" + prefix_ + std::string(k.str()) + "'");
      }
    }
  }

 private:
  [[noreturn]] void Fail(const char* key, const char* what) {
    throw ConfigError("configuration key '" + prefix_ + key + "' must be " + what);
  }
  const toml::table& table_;
  std::string prefix_;
  std::set<std::string> seen_;
};

template <typename Fn>
void Section(Reader& root, const char* name, Fn fn) {
  if (const toml::table* t = root.Table(name)) {
    Reader r(*t, root.Prefix() + name + ".");
    fn(r);
    r.RejectUnknown();
  }
}

}  // namespace

Config ParseConfig(std::string_view text, const std::string& source_name) {
  toml::table table;
  try {
    table = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    throw ConfigError(os.str());
  }
  Config c;
  Reader root(table, "");
  root.Str("data_dir", &c.data_dir);
  Section(root, "http", [&](Reader& r) {
    r.Str("listen", &c.http.listen);
    r.Int("threads", &c.http.threads);
    r.Int("max_body_bytes", &c.http.max_body_bytes);
    r.Int("header_timeout_seconds", &c.http.header_timeout_seconds);
    r.Int("body_timeout_seconds", &c.http.body_timeout_seconds);
    r.Int("idle_timeout_seconds", &c.http.idle_timeout_seconds);
    r.Int("max_connections", &c.http.max_connections);
    r.Int("shutdown_grace_seconds", &c.http.shutdown_grace_seconds);
  });
  Section(root, "admin", [&](Reader& r) { r.Str("token", &c.admin.token); });
  Section(root, "limits", [&](Reader& r) {
    r.Int("max_message_bytes", &c.limits.max_message_bytes);
    r.Int("max_recipients", &c.limits.max_recipients);
    r.Int("max_batch_messages", &c.limits.max_batch_messages);
    r.Int("send_at_max_future_days", &c.limits.send_at_max_future_days);
    r.Int("send_at_past_skew_seconds", &c.limits.send_at_past_skew_seconds);
    r.Int("max_tags", &c.limits.max_tags);
    r.Int("max_metadata_bytes", &c.limits.max_metadata_bytes);
  });
  Section(root, "spool", [&](Reader& r) {
    r.Bool("sync", &c.spool.sync);
    r.Int("group_commit_max_writes", &c.spool.group_commit_max_writes);
    r.Int("max_pending_writes", &c.spool.max_pending_writes);
    r.Int("block_cache_mb", &c.spool.block_cache_mb);
  });
  Section(root, "idempotency", [&](Reader& r) { r.Int("ttl_hours", &c.idempotency.ttl_hours); });
  Section(root, "log", [&](Reader& r) {
    r.Str("level", &c.log.level);
    r.Str("format", &c.log.format);
  });
  Section(root, "dns", [&](Reader& r) {
    r.StrList("servers", &c.dns.servers);
    r.Int("timeout_ms", &c.dns.timeout_ms);
    r.Int("tries", &c.dns.tries);
    r.Int("cache_entries", &c.dns.cache_entries);
    r.Int("negative_ttl_max_seconds", &c.dns.negative_ttl_max_seconds);
  });
  Section(root, "delivery", [&](Reader& r) {
    DeliveryConfig& d = c.delivery;
    r.Bool("enabled", &d.enabled);
    r.Str("helo_name", &d.helo_name);
    r.Int("window", &d.window);
    r.Int("port", &d.port);
    r.Tls("tls", &d.tls);
    r.Int("max_connections_per_site", &d.max_connections_per_site);
    r.Int("max_messages_per_connection", &d.max_messages_per_connection);
    r.Int("max_messages_per_second_per_site", &d.max_messages_per_second_per_site);
    r.Int("max_recipients_per_transaction", &d.max_recipients_per_transaction);
    r.Int("idle_seconds", &d.idle_seconds);
    r.Int("connect_timeout_seconds", &d.connect_timeout_seconds);
    r.Int("greeting_timeout_seconds", &d.greeting_timeout_seconds);
    r.Int("command_timeout_seconds", &d.command_timeout_seconds);
    r.Int("data_init_timeout_seconds", &d.data_init_timeout_seconds);
    r.Int("data_block_timeout_seconds", &d.data_block_timeout_seconds);
    r.Int("data_end_timeout_seconds", &d.data_end_timeout_seconds);
    r.Int("retry_first_seconds", &d.retry_first_seconds);
    r.Float("retry_multiplier", &d.retry_multiplier);
    r.Int("retry_max_seconds", &d.retry_max_seconds);
    r.Float("retry_jitter", &d.retry_jitter);
    r.Int("max_age_seconds", &d.max_age_seconds);
    r.Tables("routes", [&](Reader& t) {
      RouteConfig rc;
      t.Str("domain", &rc.domain);
      t.Str("relay", &rc.relay);
      t.Tls("tls", &rc.tls);
      t.Str("auth_user", &rc.auth_user);
      t.Str("auth_password", &rc.auth_password);
      d.routes.push_back(std::move(rc));
    });
  });
  Section(root, "egress", [&](Reader& r) {
    EgressConfig& e = c.egress;
    r.Tables("sources", [&](Reader& t) {
      EgressSourceConfig sc;
      t.Str("name", &sc.name);
      t.Str("bind", &sc.bind);
      t.Str("ehlo", &sc.ehlo);
      t.Str("relay", &sc.relay);
      t.Tls("tls", &sc.tls);
      t.Str("auth_user", &sc.auth_user);
      t.Str("auth_password", &sc.auth_password);
      e.sources.push_back(std::move(sc));
    });
    r.Tables("pools", [&](Reader& t) {
      EgressPoolConfig pc;
      t.Str("name", &pc.name);
      t.Weights("sources", &pc.sources);
      e.pools.push_back(std::move(pc));
    });
    r.Tables("rules", [&](Reader& t) {
      EgressRuleConfig rc;
      t.Str("id", &rc.id);
      t.Str("tenant", &rc.tenant);
      t.Str("destination", &rc.destination);
      t.Weights("pools", &rc.pools);
      e.rules.push_back(std::move(rc));
    });
    Section(r, "failover", [&](Reader& f) {
      f.Bool("enabled", &e.failover.enabled);
      f.Int("window_seconds", &e.failover.window_seconds);
      f.Int("min_samples", &e.failover.min_samples);
      f.Float("threshold", &e.failover.threshold);
      f.Int("cooldown_seconds", &e.failover.cooldown_seconds);
      f.Int("probes", &e.failover.probes);
    });
    Section(r, "shaping", [&](Reader& f) {
      f.Str("rules_file", &e.shaping.rules_file);
      f.Float("decrease", &e.shaping.decrease);
      f.Float("min_rate", &e.shaping.min_rate);
      f.Int("recover_seconds", &e.shaping.recover_seconds);
    });
  });
  Section(root, "events", [&](Reader& r) {
    r.Int("retention_days", &c.events.retention_days);
    r.Int("reap_interval_seconds", &c.events.reap_interval_seconds);
  });
  Section(root, "webhooks", [&](Reader& r) {
    WebhooksConfig& w = c.webhooks;
    r.Bool("enabled", &w.enabled);
    r.Int("batch_size", &w.batch_size);
    r.Int("max_batch_size", &w.max_batch_size);
    r.Int("timeout_seconds", &w.timeout_seconds);
    r.Int("concurrency", &w.concurrency);
    r.Int("backoff_initial_seconds", &w.backoff_initial_seconds);
    r.Int("backoff_max_seconds", &w.backoff_max_seconds);
    r.Int("disable_after_seconds", &w.disable_after_seconds);
    r.Int("poll_interval_ms", &w.poll_interval_ms);
    r.Bool("allow_private_addresses", &w.allow_private_addresses);
    r.Int("max_endpoints_per_tenant", &w.max_endpoints_per_tenant);
    r.Str("ca_file", &w.ca_file);
  });
  Section(root, "bounces", [&](Reader& r) {
    BouncesConfig& b = c.bounces;
    r.Str("listen", &b.listen);
    r.Str("return_path_domain", &b.return_path_domain);
    r.Str("prefix", &b.prefix);
    r.Str("key", &b.key);
    r.Int("max_connections", &b.max_connections);
    r.Int("max_message_bytes", &b.max_message_bytes);
    r.Int("timeout_seconds", &b.timeout_seconds);
  });
  Section(root, "reputation", [&](Reader& r) {
    ReputationConfig& p = c.reputation;
    r.Bool("enabled", &p.enabled);
    r.Float("review_bounce_rate", &p.review_bounce_rate);
    r.Float("review_complaint_rate", &p.review_complaint_rate);
    r.Float("pause_bounce_rate", &p.pause_bounce_rate);
    r.Float("pause_complaint_rate", &p.pause_complaint_rate);
    r.Int("min_volume", &p.min_volume);
    r.Bool("auto_pause", &p.auto_pause);
    r.Int("evaluate_interval_seconds", &p.evaluate_interval_seconds);
  });
  Section(root, "feedback",
          [&](Reader& r) { r.Str("bounce_rules_file", &c.feedback.bounce_rules_file); });
  Section(root, "domains", [&](Reader& r) {
    r.Bool("require_verified", &c.domains.require_verified);
    r.Int("check_interval_seconds", &c.domains.check_interval_seconds);
    r.Str("return_path_host", &c.domains.return_path_host);
  });
  Section(root, "submission", [&](Reader& r) {
    SubmissionConfig& s = c.submission;
    r.Str("listen", &s.listen);
    r.Str("tls_cert", &s.tls_cert);
    r.Str("tls_key", &s.tls_key);
    r.Bool("auth_requires_tls", &s.auth_requires_tls);
    r.Int("max_connections", &s.max_connections);
    r.Int("timeout_seconds", &s.timeout_seconds);
    r.Str("hostname", &s.hostname);
  });
  root.RejectUnknown();
  return c;
}

Config LoadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read configuration file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

bool SplitHostPort(std::string_view text, std::string* host, uint16_t* port) {
  size_t colon;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    *host = std::string(text.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    *host = std::string(text.substr(0, colon));
    if (host->find(':') != std::string::npos) return false;
  }
  std::string_view p = text.substr(colon + 1);
  if (p.empty() || p.size() > 5) return false;
  unsigned v = 0;
  for (char ch : p) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<unsigned>(ch - '0');
  }
  if (v > 65535) return false;
  *port = static_cast<uint16_t>(v);
  return true;
}

void ValidateConfig(const Config& c) {
  std::string host;
  uint16_t port;
  if (!SplitHostPort(c.http.listen, &host, &port)) {
    throw ConfigError("http.listen must be host:port, got '" + c.http.listen + "'");
  }
  if (c.data_dir.empty()) throw ConfigError("data_dir must not be empty");
  if (c.limits.max_recipients < 1) throw ConfigError("limits.max_recipients must be at least 1");
  if (c.limits.max_batch_messages < 1) {
    throw ConfigError("limits.max_batch_messages must be at least 1");
  }
  if (c.limits.max_message_bytes < 1024) {
    throw ConfigError("limits.max_message_bytes must be at least 1024");
  }
  if (c.spool.group_commit_max_writes < 1 || c.spool.max_pending_writes < 1) {
    throw ConfigError("spool.group_commit_max_writes and spool.max_pending_writes must be >= 1");
  }
  if (c.http.threads > 256) throw ConfigError("http.threads must be at most 256");
  if (c.log.format != "json" && c.log.format != "text") {
    throw ConfigError("log.format must be 'json' or 'text'");
  }
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error"};
  if (!kLevels.count(c.log.level)) {
    throw ConfigError("log.level must be one of trace, debug, info, warn, error");
  }
  if (!c.admin.token.empty() && c.admin.token.size() < 16) {
    throw ConfigError("admin.token must be at least 16 characters");
  }
  for (const std::string& s : c.dns.servers) {
    unsigned char buf[16];
    if (!SplitHostPort(s, &host, &port) || port == 0 ||
        (inet_pton(AF_INET, host.c_str(), buf) != 1 &&
         inet_pton(AF_INET6, host.c_str(), buf) != 1)) {
      throw ConfigError("dns.servers entries must be ip:port (an IP address, not a name), got '" +
                        s + "'");
    }
  }
  if (c.dns.timeout_ms < 1 || c.dns.tries < 1) {
    throw ConfigError("dns.timeout_ms and dns.tries must be at least 1");
  }
  const DeliveryConfig& d = c.delivery;
  if (d.window < 1) throw ConfigError("delivery.window must be at least 1");
  if (d.port == 0) throw ConfigError("delivery.port must be 1..65535");
  if (d.max_connections_per_site < 1 || d.max_messages_per_connection < 1) {
    throw ConfigError(
        "delivery.max_connections_per_site and delivery.max_messages_per_connection must be >= 1");
  }
  if (d.max_recipients_per_transaction < 1 || d.max_recipients_per_transaction > 100) {
    throw ConfigError("delivery.max_recipients_per_transaction must be 1..100");
  }
  for (int t :
       {d.connect_timeout_seconds, d.greeting_timeout_seconds, d.command_timeout_seconds,
        d.data_init_timeout_seconds, d.data_block_timeout_seconds, d.data_end_timeout_seconds}) {
    if (t < 1) throw ConfigError("delivery timeouts must be at least 1 second");
  }
  if (d.retry_first_seconds < 1 || d.retry_max_seconds < d.retry_first_seconds) {
    throw ConfigError("delivery.retry_first_seconds must be >= 1 and <= retry_max_seconds");
  }
  if (!std::isfinite(d.retry_multiplier) || d.retry_multiplier < 1.0 || d.retry_multiplier > 10.0) {
    throw ConfigError("delivery.retry_multiplier must be between 1 and 10");
  }
  if (!std::isfinite(d.retry_jitter) || d.retry_jitter < 0.0 || d.retry_jitter > 0.5) {
    throw ConfigError("delivery.retry_jitter must be between 0 and 0.5");
  }
  if (d.max_age_seconds < 1) throw ConfigError("delivery.max_age_seconds must be at least 1");
  std::set<std::string> domains;
  for (size_t i = 0; i < d.routes.size(); ++i) {
    const RouteConfig& r = d.routes[i];
    std::string where = "delivery.routes[" + std::to_string(i) + "]";
    if (!SplitHostPort(r.relay, &host, &port) || port == 0) {
      throw ConfigError(where + ".relay must be host:port, got '" + r.relay + "'");
    }
    if (r.domain.empty()) throw ConfigError(where + ".domain must not be empty");
    std::string lower = r.domain;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!domains.insert(lower).second) {
      throw ConfigError(where + ".domain '" + r.domain + "' has a route already");
    }
    if (r.auth_user.empty() != r.auth_password.empty()) {
      throw ConfigError(where + ": auth_user and auth_password go together");
    }
  }
  const BouncesConfig& bc = c.bounces;
  if (!bc.key.empty() && bc.key.size() < 16) {
    throw ConfigError("bounces.key must be at least 16 bytes (or empty: generated and stored)");
  }
  if (bc.prefix.empty() || bc.prefix.size() > 23) {
    throw ConfigError("bounces.prefix must be 1 to 23 characters");
  }
  if (bc.max_connections < 1 || bc.max_message_bytes < 1024 || bc.timeout_seconds < 1) {
    throw ConfigError(
        "bounces.max_connections, max_message_bytes and timeout_seconds must be positive");
  }
  const ReputationConfig& rp = c.reputation;
  for (double rate : {rp.review_bounce_rate, rp.review_complaint_rate, rp.pause_bounce_rate,
                      rp.pause_complaint_rate}) {
    if (!(rate > 0 && rate <= 1)) throw ConfigError("reputation rates must be > 0 and <= 1");
  }
  if (rp.review_bounce_rate > rp.pause_bounce_rate ||
      rp.review_complaint_rate > rp.pause_complaint_rate) {
    throw ConfigError("reputation review rates must not be above the pause rates");
  }
  if (rp.min_volume < 1) throw ConfigError("reputation.min_volume must be at least 1");
  if (rp.evaluate_interval_seconds < 1 || rp.evaluate_interval_seconds > 3600) {
    throw ConfigError("reputation.evaluate_interval_seconds must be 1 to 3600");
  }
  const WebhooksConfig& w = c.webhooks;
  if (w.max_batch_size < 1 || w.max_batch_size > 10000 || w.batch_size < 1 ||
      w.batch_size > w.max_batch_size) {
    throw ConfigError("webhooks.batch_size must be 1 to webhooks.max_batch_size (at most 10000)");
  }
  if (w.timeout_seconds < 1 || w.timeout_seconds > 300) {
    throw ConfigError("webhooks.timeout_seconds must be 1 to 300");
  }
  if (w.concurrency < 1 || w.concurrency > 1024) {
    throw ConfigError("webhooks.concurrency must be 1 to 1024");
  }
  if (w.backoff_initial_seconds < 1 || w.backoff_max_seconds < w.backoff_initial_seconds) {
    throw ConfigError(
        "webhooks.backoff_initial_seconds must be at least 1 and at most backoff_max_seconds");
  }
  if (w.disable_after_seconds < 1) throw ConfigError("webhooks.disable_after_seconds must be > 0");
  if (w.poll_interval_ms < 10 || w.poll_interval_ms > 60000) {
    throw ConfigError("webhooks.poll_interval_ms must be 10 to 60000");
  }
  if (w.max_endpoints_per_tenant < 1 || w.max_endpoints_per_tenant > 1000) {
    throw ConfigError("webhooks.max_endpoints_per_tenant must be 1 to 1000");
  }
  if (c.events.retention_days < 1 || c.events.retention_days > 3650) {
    throw ConfigError("events.retention_days must be 1 to 3650");
  }
  if (c.events.reap_interval_seconds < 1 || c.events.reap_interval_seconds > 86400) {
    throw ConfigError("events.reap_interval_seconds must be 1 to 86400");
  }
  if (c.domains.check_interval_seconds < 60) {
    throw ConfigError("domains.check_interval_seconds must be at least 60");
  }
  const EgressConfig& e = c.egress;
  // Names and references are checked with the routing table (route/egress.cc), which the admin
  // API shares; here only the numbers.
  const FailoverConfig& f = e.failover;
  if (f.window_seconds < 1 || f.min_samples < 1 || f.cooldown_seconds < 1 || f.probes < 1) {
    throw ConfigError(
        "egress.failover window_seconds, min_samples, cooldown_seconds and probes must be >= 1");
  }
  if (!std::isfinite(f.threshold) || f.threshold <= 0 || f.threshold > 1) {
    throw ConfigError("egress.failover.threshold must be above 0 and at most 1");
  }
  const ShapingConfig& sh = e.shaping;
  if (!std::isfinite(sh.decrease) || sh.decrease <= 0 || sh.decrease >= 1) {
    throw ConfigError("egress.shaping.decrease must be between 0 and 1 (exclusive)");
  }
  if (!std::isfinite(sh.min_rate) || sh.min_rate <= 0 || sh.recover_seconds < 1) {
    throw ConfigError("egress.shaping.min_rate must be > 0 and recover_seconds >= 1");
  }
  const SubmissionConfig& s = c.submission;
  if (!s.listen.empty() && !SplitHostPort(s.listen, &host, &port)) {
    throw ConfigError("submission.listen must be host:port, got '" + s.listen + "'");
  }
  if (s.tls_cert.empty() != s.tls_key.empty()) {
    throw ConfigError("submission.tls_cert and submission.tls_key go together");
  }
  if (s.timeout_seconds < 1 || s.max_connections < 1) {
    throw ConfigError("submission.timeout_seconds and submission.max_connections must be >= 1");
  }
}

std::string_view TlsPolicyName(TlsPolicy p) {
  switch (p) {
    case TlsPolicy::kDisabled:
      return "disabled";
    case TlsPolicy::kOpportunistic:
      return "opportunistic";
    case TlsPolicy::kRequired:
      return "required";
    case TlsPolicy::kVerify:
      return "verify";
  }
  return "opportunistic";
}

std::string_view Version() { return MAILPLANE_VERSION; }

}  // namespace mp
