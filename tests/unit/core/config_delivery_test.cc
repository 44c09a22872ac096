// ParseConfig and ValidateConfig for [dns], [delivery], [[delivery.routes]] and [submission].
#include <gtest/gtest.h>

#include <string>

#include "core/config.h"

namespace mp {
namespace {

// The ConfigError message ParseConfig (then ValidateConfig) gives for text, or "" if none.
std::string Error(const std::string& toml) {
  try {
    Config c = ParseConfig(toml);
    ValidateConfig(c);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ConfigDelivery, Defaults) {
  Config c = ParseConfig("");
  EXPECT_NO_THROW(ValidateConfig(c));
  EXPECT_TRUE(c.dns.servers.empty());
  EXPECT_EQ(c.dns.timeout_ms, 2000);
  EXPECT_EQ(c.dns.tries, 2);
  EXPECT_EQ(c.dns.cache_entries, 100000);
  EXPECT_EQ(c.dns.negative_ttl_max_seconds, 3600);

  const DeliveryConfig& d = c.delivery;
  EXPECT_TRUE(d.enabled);
  EXPECT_EQ(d.helo_name, "");
  EXPECT_EQ(d.window, 20000);
  EXPECT_EQ(d.port, 25);
  EXPECT_EQ(d.tls, TlsPolicy::kOpportunistic);
  EXPECT_EQ(d.max_connections_per_site, 16);
  EXPECT_EQ(d.max_messages_per_connection, 100);
  EXPECT_EQ(d.max_messages_per_second_per_site, 0);
  EXPECT_EQ(d.max_recipients_per_transaction, 100);
  EXPECT_EQ(d.idle_seconds, 5);
  // RFC 5321 section 4.5.3.2.
  EXPECT_EQ(d.connect_timeout_seconds, 30);
  EXPECT_EQ(d.greeting_timeout_seconds, 300);
  EXPECT_EQ(d.command_timeout_seconds, 300);
  EXPECT_EQ(d.data_init_timeout_seconds, 120);
  EXPECT_EQ(d.data_block_timeout_seconds, 180);
  EXPECT_EQ(d.data_end_timeout_seconds, 600);
  EXPECT_EQ(d.retry_first_seconds, 300);
  EXPECT_DOUBLE_EQ(d.retry_multiplier, 2.0);
  EXPECT_EQ(d.retry_max_seconds, 3600);
  EXPECT_DOUBLE_EQ(d.retry_jitter, 0.2);
  EXPECT_EQ(d.max_age_seconds, 5 * 86400);
  EXPECT_TRUE(d.routes.empty());

  const SubmissionConfig& s = c.submission;
  EXPECT_EQ(s.listen, "127.0.0.1:587");
  EXPECT_EQ(s.tls_cert, "");
  EXPECT_EQ(s.tls_key, "");
  EXPECT_TRUE(s.auth_requires_tls);
  EXPECT_EQ(s.max_connections, 1000);
  EXPECT_EQ(s.timeout_seconds, 300);
  EXPECT_EQ(s.hostname, "");
}

TEST(ConfigDelivery, ReadsEveryKey) {
  Config c = ParseConfig(R"(
[dns]
servers = ["127.0.0.1:5353", "[::1]:53"]
timeout_ms = 500
tries = 3
cache_entries = 42
negative_ttl_max_seconds = 60

[delivery]
enabled = false
helo_name = "mx-out.example.com"
window = 7
port = 2525
tls = "verify"
max_connections_per_site = 3
max_messages_per_connection = 4
max_messages_per_second_per_site = 5
max_recipients_per_transaction = 50
idle_seconds = 9
connect_timeout_seconds = 11
greeting_timeout_seconds = 12
command_timeout_seconds = 13
data_init_timeout_seconds = 14
data_block_timeout_seconds = 15
data_end_timeout_seconds = 16
retry_first_seconds = 60
retry_multiplier = 1.5
retry_max_seconds = 7200
retry_jitter = 0.1
max_age_seconds = 86400

[[delivery.routes]]
domain = "example.org"
relay = "relay.example.net:587"
tls = "required"
auth_user = "alice"
auth_password = "secret"

[[delivery.routes]]
relay = "[2001:db8::1]:25"

[submission]
listen = "0.0.0.0:2587"
tls_cert = "/etc/mp/cert.pem"
tls_key = "/etc/mp/key.pem"
auth_requires_tls = false
max_connections = 10
timeout_seconds = 30
hostname = "submit.example.com"
)");
  EXPECT_NO_THROW(ValidateConfig(c));
  EXPECT_EQ(c.dns.servers, (std::vector<std::string>{"127.0.0.1:5353", "[::1]:53"}));
  EXPECT_EQ(c.dns.timeout_ms, 500);
  EXPECT_EQ(c.dns.tries, 3);
  EXPECT_EQ(c.dns.cache_entries, 42);
  EXPECT_EQ(c.dns.negative_ttl_max_seconds, 60);

  const DeliveryConfig& d = c.delivery;
  EXPECT_FALSE(d.enabled);
  EXPECT_EQ(d.helo_name, "mx-out.example.com");
  EXPECT_EQ(d.window, 7);
  EXPECT_EQ(d.port, 2525);
  EXPECT_EQ(d.tls, TlsPolicy::kVerify);
  EXPECT_EQ(d.max_connections_per_site, 3);
  EXPECT_EQ(d.max_messages_per_connection, 4);
  EXPECT_EQ(d.max_messages_per_second_per_site, 5);
  EXPECT_EQ(d.max_recipients_per_transaction, 50);
  EXPECT_EQ(d.idle_seconds, 9);
  EXPECT_EQ(d.connect_timeout_seconds, 11);
  EXPECT_EQ(d.greeting_timeout_seconds, 12);
  EXPECT_EQ(d.command_timeout_seconds, 13);
  EXPECT_EQ(d.data_init_timeout_seconds, 14);
  EXPECT_EQ(d.data_block_timeout_seconds, 15);
  EXPECT_EQ(d.data_end_timeout_seconds, 16);
  EXPECT_EQ(d.retry_first_seconds, 60);
  EXPECT_DOUBLE_EQ(d.retry_multiplier, 1.5);
  EXPECT_EQ(d.retry_max_seconds, 7200);
  EXPECT_DOUBLE_EQ(d.retry_jitter, 0.1);
  EXPECT_EQ(d.max_age_seconds, 86400);
  ASSERT_EQ(d.routes.size(), 2u);
  EXPECT_EQ(d.routes[0].domain, "example.org");
  EXPECT_EQ(d.routes[0].relay, "relay.example.net:587");
  EXPECT_EQ(d.routes[0].tls, TlsPolicy::kRequired);
  EXPECT_EQ(d.routes[0].auth_user, "alice");
  EXPECT_EQ(d.routes[0].auth_password, "secret");
  // Route defaults: every domain, opportunistic TLS, no AUTH.
  EXPECT_EQ(d.routes[1].domain, "*");
  EXPECT_EQ(d.routes[1].relay, "[2001:db8::1]:25");
  EXPECT_EQ(d.routes[1].tls, TlsPolicy::kOpportunistic);
  EXPECT_EQ(d.routes[1].auth_user, "");

  const SubmissionConfig& s = c.submission;
  EXPECT_EQ(s.listen, "0.0.0.0:2587");
  EXPECT_EQ(s.tls_cert, "/etc/mp/cert.pem");
  EXPECT_EQ(s.tls_key, "/etc/mp/key.pem");
  EXPECT_FALSE(s.auth_requires_tls);
  EXPECT_EQ(s.max_connections, 10);
  EXPECT_EQ(s.timeout_seconds, 30);
  EXPECT_EQ(s.hostname, "submit.example.com");
}

TEST(ConfigDelivery, IntegerValuesAreAcceptedForFloatKeys) {
  Config c = ParseConfig("[delivery]\nretry_multiplier = 3\nretry_jitter = 0");
  EXPECT_DOUBLE_EQ(c.delivery.retry_multiplier, 3.0);
  EXPECT_DOUBLE_EQ(c.delivery.retry_jitter, 0.0);
}

TEST(ConfigDelivery, UnknownKeysAreRejectedWithTheirFullName) {
  EXPECT_TRUE(Has(Error("[dns]\nserver = ['1.1.1.1:53']"), "'dns.server'"));
  EXPECT_TRUE(Has(Error("[delivery]\nbogus = 1"), "'delivery.bogus'"));
  EXPECT_TRUE(Has(Error("[submission]\nlisten_on = 'x'"), "'submission.listen_on'"));
  EXPECT_TRUE(
      Has(Error("[[delivery.routes]]\nrelay = 'r:25'\nbogus = 1"), "'delivery.routes[0].bogus'"));
  std::string second = Error(
      "[[delivery.routes]]\ndomain = 'a.test'\nrelay = 'r:25'\n"
      "[[delivery.routes]]\ndomain = 'b.test'\nrelay = 'r:25'\npasword = 'x'");
  EXPECT_TRUE(Has(second, "'delivery.routes[1].pasword'")) << second;
  EXPECT_TRUE(Has(Error("[delivery.nested]\na = 1"), "'delivery.nested'"));
}

TEST(ConfigDelivery, WrongTypesAreRejected) {
  EXPECT_TRUE(Has(Error("[dns]\nservers = '1.1.1.1:53'"), "'dns.servers' must be an array"));
  EXPECT_TRUE(Has(Error("[dns]\nservers = [53]"), "'dns.servers' must be an array of strings"));
  EXPECT_TRUE(Has(Error("[dns]\ntimeout_ms = -1"), "'dns.timeout_ms' must be a non-negative"));
  EXPECT_TRUE(Has(Error("[delivery]\nenabled = 1"), "'delivery.enabled' must be a boolean"));
  EXPECT_TRUE(Has(Error("[delivery]\nport = 65536"), "'delivery.port' must be a smaller integer"));
  EXPECT_TRUE(Has(Error("[delivery]\nwindow = 1.5"), "'delivery.window' must be an integer"));
  EXPECT_TRUE(Has(Error("[delivery]\nretry_multiplier = '2'"),
                  "'delivery.retry_multiplier' must be a number"));
  EXPECT_TRUE(Has(Error("[delivery]\ntls = true"), "'delivery.tls' must be a string"));
  EXPECT_TRUE(Has(Error("[delivery]\nroutes = { relay = 'r:25' }"),
                  "'delivery.routes' must be an array of tables"));
  EXPECT_TRUE(
      Has(Error("[delivery]\nroutes = ['r:25']"), "'delivery.routes' must be an array of tables"));
  EXPECT_TRUE(Has(Error("[[delivery.routes]]\nrelay = 25"), "'delivery.routes[0].relay'"));
  EXPECT_TRUE(Has(Error("delivery = 1"), "'delivery' must be a table"));
  EXPECT_TRUE(Has(Error("[submission]\nauth_requires_tls = 'no'"),
                  "'submission.auth_requires_tls' must be a boolean"));
}

TEST(ConfigDelivery, TlsPolicyNames) {
  for (TlsPolicy p : {TlsPolicy::kDisabled, TlsPolicy::kOpportunistic, TlsPolicy::kRequired,
                      TlsPolicy::kVerify}) {
    std::string name(TlsPolicyName(p));
    Config c = ParseConfig("[delivery]\ntls = '" + name +
                           "'\n[[delivery.routes]]\nrelay = "
                           "'r:25'\ntls = '" +
                           name + "'");
    EXPECT_EQ(c.delivery.tls, p) << name;
    ASSERT_EQ(c.delivery.routes.size(), 1u);
    EXPECT_EQ(c.delivery.routes[0].tls, p) << name;
  }
  EXPECT_EQ(TlsPolicyName(TlsPolicy::kDisabled), "disabled");
  EXPECT_EQ(TlsPolicyName(TlsPolicy::kOpportunistic), "opportunistic");
  EXPECT_EQ(TlsPolicyName(TlsPolicy::kRequired), "required");
  EXPECT_EQ(TlsPolicyName(TlsPolicy::kVerify), "verify");
  for (const char* bad : {"strict", "Required", "", "none"}) {
    std::string e = Error(std::string("[delivery]\ntls = '") + bad + "'");
    EXPECT_TRUE(Has(e, "'delivery.tls' must be one of disabled, opportunistic, required, verify"))
        << bad << ": " << e;
  }
  EXPECT_TRUE(Has(Error("[[delivery.routes]]\nrelay = 'r:25'\ntls = 'maybe'"),
                  "'delivery.routes[0].tls' must be one of"));
}

TEST(ConfigDelivery, RetryBoundsAreChecked) {
  EXPECT_TRUE(Has(Error("[delivery]\nretry_multiplier = 0.5"), "delivery.retry_multiplier"));
  EXPECT_TRUE(Has(Error("[delivery]\nretry_multiplier = 10.5"), "delivery.retry_multiplier"));
  EXPECT_EQ(Error("[delivery]\nretry_multiplier = 1.0"), "");
  EXPECT_EQ(Error("[delivery]\nretry_multiplier = 10"), "");
  EXPECT_TRUE(Has(Error("[delivery]\nretry_jitter = 0.51"), "delivery.retry_jitter"));
  EXPECT_TRUE(Has(Error("[delivery]\nretry_jitter = -0.1"), "delivery.retry_jitter"));
  EXPECT_EQ(Error("[delivery]\nretry_jitter = 0.5"), "");
  EXPECT_TRUE(Has(Error("[delivery]\nretry_first_seconds = 0"), "retry_first_seconds"));
  EXPECT_TRUE(Has(Error("[delivery]\nretry_first_seconds = 600\nretry_max_seconds = 300"),
                  "retry_max_seconds"));
  EXPECT_TRUE(Has(Error("[delivery]\nmax_age_seconds = 0"), "delivery.max_age_seconds"));
}

TEST(ConfigDelivery, NotANumberIsRejectedForRetryFloats) {
  // TOML allows nan and inf; a range check written as "v < lo || v > hi" lets nan through.
  EXPECT_TRUE(Has(Error("[delivery]\nretry_multiplier = nan"), "delivery.retry_multiplier"));
  EXPECT_TRUE(Has(Error("[delivery]\nretry_jitter = nan"), "delivery.retry_jitter"));
  EXPECT_TRUE(Has(Error("[delivery]\nretry_multiplier = inf"), "delivery.retry_multiplier"));
  EXPECT_TRUE(Has(Error("[delivery]\nretry_jitter = -inf"), "delivery.retry_jitter"));
}

TEST(ConfigDelivery, RecipientsPerTransactionIs1To100) {
  EXPECT_TRUE(Has(Error("[delivery]\nmax_recipients_per_transaction = 0"),
                  "delivery.max_recipients_per_transaction must be 1..100"));
  EXPECT_TRUE(Has(Error("[delivery]\nmax_recipients_per_transaction = 101"),
                  "delivery.max_recipients_per_transaction must be 1..100"));
  EXPECT_EQ(Error("[delivery]\nmax_recipients_per_transaction = 1"), "");
  EXPECT_EQ(Error("[delivery]\nmax_recipients_per_transaction = 100"), "");
}

TEST(ConfigDelivery, OtherDeliveryLimitsAreChecked) {
  EXPECT_TRUE(Has(Error("[delivery]\nwindow = 0"), "delivery.window"));
  EXPECT_TRUE(Has(Error("[delivery]\nport = 0"), "delivery.port"));
  EXPECT_TRUE(
      Has(Error("[delivery]\nmax_connections_per_site = 0"), "delivery.max_connections_per_site"));
  EXPECT_TRUE(Has(Error("[delivery]\nmax_messages_per_connection = 0"),
                  "delivery.max_messages_per_connection"));
  for (const char* key :
       {"connect_timeout_seconds", "greeting_timeout_seconds", "command_timeout_seconds",
        "data_init_timeout_seconds", "data_block_timeout_seconds", "data_end_timeout_seconds"}) {
    EXPECT_TRUE(Has(Error(std::string("[delivery]\n") + key + " = 0"), "delivery timeouts")) << key;
  }
}

TEST(ConfigDelivery, RoutesAreChecked) {
  EXPECT_TRUE(Has(Error("[[delivery.routes]]\ndomain = 'a.test'\nrelay = 'relay.example.net'"),
                  "delivery.routes[0].relay must be host:port, got 'relay.example.net'"));
  EXPECT_TRUE(Has(Error("[[delivery.routes]]\ndomain = 'a.test'"),
                  "delivery.routes[0].relay must be host:port"));
  EXPECT_TRUE(
      Has(Error("[[delivery.routes]]\nrelay = 'relay.example.net:0'"), "delivery.routes[0].relay"));
  EXPECT_TRUE(Has(Error("[[delivery.routes]]\ndomain = ''\nrelay = 'r:25'"),
                  "delivery.routes[0].domain must not be empty"));
  EXPECT_TRUE(Has(Error("[[delivery.routes]]\ndomain = 'a.test'\nrelay = 'r:25'\n"
                        "[[delivery.routes]]\ndomain = 'b.test'\nrelay = 'r:25'\n"
                        "[[delivery.routes]]\ndomain = 'a.test'\nrelay = 's:25'"),
                  "delivery.routes[2].domain 'a.test' has a route already"));
  EXPECT_TRUE(Has(Error("[[delivery.routes]]\ndomain = 'Example.ORG'\nrelay = 'r:25'\n"
                        "[[delivery.routes]]\ndomain = 'example.org'\nrelay = 's:25'"),
                  "delivery.routes[1].domain 'example.org' has a route already"));
  EXPECT_TRUE(Has(Error("[[delivery.routes]]\nrelay = 'r:25'\n[[delivery.routes]]\nrelay = 's:25'"),
                  "delivery.routes[1].domain '*' has a route already"));
  EXPECT_TRUE(Has(Error("[[delivery.routes]]\nrelay = 'r:25'\nauth_user = 'alice'"),
                  "delivery.routes[0]: auth_user and auth_password go together"));
  EXPECT_TRUE(Has(Error("[[delivery.routes]]\nrelay = 'r:25'\nauth_password = 'secret'"),
                  "delivery.routes[0]: auth_user and auth_password go together"));
  EXPECT_EQ(
      Error("[[delivery.routes]]\ndomain = 'a.test'\nrelay = 'r:25'\n"
            "[[delivery.routes]]\nrelay = '[::1]:2525'\nauth_user = 'u'\nauth_password = 'p'"),
      "");
}

TEST(ConfigDelivery, DnsServersAreChecked) {
  EXPECT_TRUE(Has(Error("[dns]\nservers = ['8.8.8.8']"), "dns.servers entries must be ip:port"));
  EXPECT_TRUE(Has(Error("[dns]\nservers = ['8.8.8.8']"), "got '8.8.8.8'"));
  EXPECT_TRUE(Has(Error("[dns]\nservers = ['127.0.0.1:53', '::1:53']"), "got '::1:53'"));
  EXPECT_TRUE(Has(Error("[dns]\nservers = ['[::1]']"), "dns.servers"));
  // An address, not a name (the resolver does not resolve its own servers), and a real port.
  EXPECT_TRUE(Has(Error("[dns]\nservers = ['dns.example.net:53']"), "got 'dns.example.net:53'"));
  EXPECT_TRUE(Has(Error("[dns]\nservers = ['127.0.0.1:0']"), "got '127.0.0.1:0'"));
  EXPECT_EQ(Error("[dns]\nservers = ['9.9.9.9:53', '[2620:fe::fe]:53']"), "");
  EXPECT_TRUE(Has(Error("[dns]\ntimeout_ms = 0"), "dns.timeout_ms"));
  EXPECT_TRUE(Has(Error("[dns]\ntries = 0"), "dns.tries"));
}

TEST(ConfigDelivery, SubmissionIsChecked) {
  EXPECT_TRUE(Has(Error("[submission]\ntls_cert = '/etc/mp/cert.pem'"),
                  "submission.tls_cert and submission.tls_key go together"));
  EXPECT_TRUE(Has(Error("[submission]\ntls_key = '/etc/mp/key.pem'"),
                  "submission.tls_cert and submission.tls_key go together"));
  EXPECT_TRUE(Has(Error("[submission]\nlisten = 'localhost'"),
                  "submission.listen must be host:port, got 'localhost'"));
  EXPECT_EQ(Error("[submission]\nlisten = ''"), "");  // off
  EXPECT_TRUE(Has(Error("[submission]\ntimeout_seconds = 0"), "submission.timeout_seconds"));
  EXPECT_TRUE(Has(Error("[submission]\nmax_connections = 0"), "submission.max_connections"));
}

}  // namespace
}  // namespace mp
