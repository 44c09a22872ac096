// Config: every option mailplane reads, with its default. docs/configuration.md documents each one;
// keep the two in step. Loaded once at start-up from TOML; command-line flags override it.
// Loading throws ConfigError (start-up only, STYLE.md rule 4).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

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

struct DnsConfig {
  std::vector<std::string> servers;     // "ip:port" or "[v6]:port"; empty = /etc/resolv.conf
  int timeout_ms = 2000;                // per try, per server
  int tries = 2;                        // tries per server before a temporary failure
  int cache_entries = 100000;           // answers kept (positive and negative)
  int negative_ttl_max_seconds = 3600;  // cap on caching NXDOMAIN / no-data (RFC 2308)
};

// How the client treats STARTTLS on a route.
enum class TlsPolicy { kDisabled, kOpportunistic, kRequired, kVerify };

// Mail for `domain` ("*" = every domain) goes to a relay (smarthost) instead of the MX.
struct RouteConfig {
  std::string domain = "*";
  std::string relay;  // "host:port"
  TlsPolicy tls = TlsPolicy::kOpportunistic;
  std::string auth_user;      // AUTH PLAIN / LOGIN when set
  std::string auth_password;  // password for auth_user
};

struct DeliveryConfig {
  bool enabled = true;                        // false: accept and store, never deliver
  std::string helo_name;                      // EHLO name; empty = the machine's host name
  int window = 20000;                         // messages being delivered, held in memory at most
  uint16_t port = 25;                         // destination port for MX delivery (tests override)
  TlsPolicy tls = TlsPolicy::kOpportunistic;  // STARTTLS policy towards MX hosts
  int max_connections_per_site = 16;          // concurrent connections to one destination site
  int max_messages_per_connection = 100;      // then QUIT and reconnect
  int max_messages_per_second_per_site = 0;   // 0 = no limit
  int max_recipients_per_transaction = 100;   // RCPT commands in one transaction (1..100)
  int idle_seconds = 5;                       // an idle connection waits this long for more mail
  // Timeouts (RFC 5321 section 4.5.3.2 values by default), in seconds.
  int connect_timeout_seconds = 30;
  int greeting_timeout_seconds = 300;
  int command_timeout_seconds = 300;     // EHLO, STARTTLS, MAIL, RCPT, RSET, AUTH
  int data_init_timeout_seconds = 120;   // reply to DATA
  int data_block_timeout_seconds = 180;  // each write of the message
  int data_end_timeout_seconds = 600;    // reply to the final "."
  // Retries of deferred recipients (RetryPolicy).
  int retry_first_seconds = 300;
  double retry_multiplier = 2.0;
  int retry_max_seconds = 3600;
  double retry_jitter = 0.2;
  int max_age_seconds = 5 * 86400;  // then the recipient bounces as expired
  std::vector<RouteConfig> routes;
};

// An egress source: direct (deliver to MX hosts from a bind address with an EHLO name) or a relay
// (a smarthost, for example a sending service's SMTP endpoint in one region).
struct EgressSourceConfig {
  std::string name;
  std::string bind;   // direct: local address to connect from; empty = the system's choice
  std::string ehlo;   // direct: EHLO name; empty = delivery.helo_name
  std::string relay;  // relay: "host:port" (a source with relay set is a relay source)
  TlsPolicy tls = TlsPolicy::kOpportunistic;  // relay: STARTTLS policy
  std::string auth_user, auth_password;       // relay: AUTH credentials
};

// A name with a weight (a pool's sources, a rule's pools).
struct WeightedName {
  std::string name;
  int weight = 1;
};

struct EgressPoolConfig {
  std::string name;
  std::vector<WeightedName> sources;
};

// A routing rule: mail of `tenant` ("*" = every tenant) to `destination` (an exact domain,
// "*.suffix", "site:<MX host pattern>" or "*") goes over `pools` by weight.
struct EgressRuleConfig {
  std::string id;
  std::string tenant = "*";
  std::string destination = "*";
  std::vector<WeightedName> pools;
};

// Automatic failover per (destination site, pool).
struct FailoverConfig {
  bool enabled = true;
  int window_seconds = 300;  // outcomes counted over this rolling window
  int min_samples = 20;      // outcomes needed before a pool can be quarantined
  double threshold = 0.3;  // share of policy/reputation rejections, throttling, connection failures
  int cooldown_seconds =
      300;         // quarantine length before probing (doubles on a failed probe, <= 8x)
  int probes = 3;  // probe messages that must all succeed to release a pool
};

// Traffic shaping per (source, site) and the AIMD reaction to throttling replies.
struct ShapingConfig {
  std::string rules_file;   // operator rules (TOML), read before the shipped share/shaping.toml
  double decrease = 0.5;    // rate multiplier on a throttling reply
  double min_rate = 0.2;    // messages a second never go below this while throttled
  int recover_seconds = 5;  // every this many seconds without throttling, rate += step
};

struct EgressConfig {
  std::vector<EgressSourceConfig> sources;
  std::vector<EgressPoolConfig> pools;
  std::vector<EgressRuleConfig> rules;
  FailoverConfig failover;
  ShapingConfig shaping;
};

struct SubmissionConfig {
  std::string listen = "127.0.0.1:587";  // "host:port" of the SMTP submission listener; "" = off
  std::string tls_cert;                  // PEM certificate chain for STARTTLS; empty = no STARTTLS
  std::string tls_key;                   // PEM private key
  bool auth_requires_tls = true;         // refuse AUTH before STARTTLS
  int max_connections = 1000;
  int timeout_seconds = 300;  // per command; RFC 5321 section 4.5.3.2.7 asks for 5 minutes
  std::string hostname;       // name in the greeting; empty = the machine's host name
};

// Sending domains and DKIM.
struct DomainsConfig {
  bool require_verified = true;       // refuse mail from domains not registered and verified
  int check_interval_seconds = 3600;  // re-check every domain's DNS records this often
  std::string return_path_host;       // where the return-path domain's MX should point
};

// The event log.
struct EventsConfig {
  int retention_days = 30;  // events older than this go away in compaction
  // How often finished messages past their retention are deleted (store/message_retention.h).
  int reap_interval_seconds = 300;
};

// Webhooks: delivery of tenants' events to their endpoints (src/events/webhook_service.h).
struct WebhooksConfig {
  bool enabled = true;
  int batch_size = 100;             // events per request unless an endpoint asks for fewer
  int max_batch_size = 1000;        // the most an endpoint may ask for
  int timeout_seconds = 10;         // one request, connect to the end of the response
  int concurrency = 16;             // requests in flight across every endpoint
  int backoff_initial_seconds = 5;  // after the first failure; doubles, +-20 %
  int backoff_max_seconds = 3600;
  int disable_after_seconds = 86400;     // failing this long (every attempt) disables the endpoint
  int poll_interval_ms = 200;            // how often idle endpoints look for new events
  bool allow_private_addresses = false;  // endpoints on loopback/private networks (SSRF guard)
  int max_endpoints_per_tenant = 20;
  std::string ca_file;  // trust store for https endpoints; "" = the system's
};

// Reputation: rolling bounce and complaint rates per tenant, sending domain, site and pool, and
// the thresholds that raise alerts (defaults like Amazon SES's).
struct ReputationConfig {
  bool enabled = true;
  double review_bounce_rate = 0.05;
  double review_complaint_rate = 0.001;
  double pause_bounce_rate = 0.10;
  double pause_complaint_rate = 0.005;
  int min_volume = 1000;   // judged once a window has this many sent
  bool auto_pause = true;  // at the pause level the tenant's sending is paused
  int evaluate_interval_seconds = 10;
};

// Asynchronous bounces and complaints: outgoing mail carries a VERP return path
// (<prefix>+<token>@bounces.<sender domain>, or @return_path_domain), and an inbound SMTP listener
// takes the DSNs, ARF complaints and auto-replies sent back to it. Off while listen is "".
struct BouncesConfig {
  std::string listen;              // "0.0.0.0:25" for the bounce domains' MX; "" = off
  std::string return_path_domain;  // one bounce domain for every sender; "" = bounces.<domain>
  std::string prefix = "b";        // local part prefix before "+token"
  std::string key;                 // HMAC key for the tokens (>= 16 bytes); "" = generated, stored
  int max_connections = 100;
  int64_t max_message_bytes = 10 << 20;
  int timeout_seconds = 60;
};

// Feedback: bounce classification.
struct FeedbackConfig {
  std::string bounce_rules_file;  // operator rules (TOML), read before share/bounce_rules.toml
};

struct Config {
  std::string data_dir = "./var";  // where the spool and state live
  HttpConfig http;
  AdminConfig admin;
  LimitsConfig limits;
  SpoolConfig spool;
  IdempotencyConfig idempotency;
  LogConfig log;
  DnsConfig dns;
  DeliveryConfig delivery;
  SubmissionConfig submission;
  EgressConfig egress;
  DomainsConfig domains;
  EventsConfig events;
  WebhooksConfig webhooks;
  ReputationConfig reputation;
  BouncesConfig bounces;
  FeedbackConfig feedback;
};

std::string_view TlsPolicyName(TlsPolicy p);

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
