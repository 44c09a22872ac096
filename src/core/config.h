// Config: every option mailplane reads, with its default. docs/configuration.md documents each one;
// keep the two in step. Loaded once at start-up from TOML; command-line flags override it.
// Loading throws ConfigError (start-up only, STYLE.md rule 4).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace mp {

struct HttpConfig {
  std::string listen = "127.0.0.1:8025";  // address:port of the HTTP API
  int threads = 0;                        // I/O threads; 0 = one per core
  uint64_t max_body_bytes = 40ull << 20;  // largest request body accepted (413 above)
  int header_timeout_seconds = 30;        // time to receive a request's headers
  int body_timeout_seconds = 120;         // time to receive a request's body
  int idle_timeout_seconds = 60;          // keep-alive connection idle time before close
  int max_connections = 10000;            // connections beyond this are closed at accept
  int shutdown_grace_seconds = 10;        // time given to requests in flight on SIGTERM
};

struct AdminConfig {
  std::string token;  // bearer token for /v1/admin; empty disables the admin API
};

struct LimitsConfig {
  uint64_t max_message_bytes = 25ull << 20;  // largest composed (encoded) message
  int max_recipients = 1000;                 // to + cc + bcc of one message
  int max_batch_messages = 1000;             // messages in one batch request
  int send_at_max_future_days = 30;          // how far ahead send_at may be
  int send_at_past_skew_seconds = 300;       // how far in the past send_at may be (clock skew)
  int max_tags = 32;                         // tags per message
  int max_metadata_bytes = 8192;             // serialized metadata per message
};

struct SpoolConfig {
  bool sync = true;                    // fsync before acknowledging; false only for experiments
  int group_commit_max_writes = 4096;  // most submissions folded into one synced write
  int max_pending_writes = 65536;      // submissions waiting for the writer before 503
  int block_cache_mb = 256;            // RocksDB block cache shared by all column families
};

struct IdempotencyConfig {
  int ttl_hours = 24;  // how long an Idempotency-Key is remembered
};

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error
  std::string format = "json";  // json or text
};

struct Config {
  std::string data_dir = "./var";  // where the spool and state live
  HttpConfig http;
  AdminConfig admin;
  LimitsConfig limits;
  SpoolConfig spool;
  IdempotencyConfig idempotency;
  LogConfig log;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads a TOML file over the defaults. Unknown keys are errors, so a typo never goes unnoticed.
Config LoadConfig(const std::string& path);
// Parses TOML text over the defaults (for tests).
Config ParseConfig(std::string_view toml_text, const std::string& source_name = "config");
// Checks values that are well-typed but unusable; throws ConfigError.
void ValidateConfig(const Config& config);

// Splits "host:port" or "[v6]:port". Returns false on anything else.
bool SplitHostPort(std::string_view text, std::string* host, uint16_t* port);

std::string_view Version();

}  // namespace mp
