#include "core/config.h"

#include <toml++/toml.h>
#include <unistd.h>

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
  const toml::table* Table(const char* key) {
    seen_.insert(key);
    const toml::node* n = table_.get(key);
    if (!n) return nullptr;
    if (!n->is_table()) Fail(key, "a table");
    return n->as_table();
  }
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
    Reader r(*t, std::string(name) + ".");
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
}

std::string_view Version() { return MAILPLANE_VERSION; }

}  // namespace mp
