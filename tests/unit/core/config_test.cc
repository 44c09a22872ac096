#include "core/config.h"

#include <gtest/gtest.h>

namespace mp {
namespace {

TEST(Config, DefaultsWhenEmpty) {
  Config c = ParseConfig("");
  EXPECT_EQ(c.http.listen, "127.0.0.1:8025");
  EXPECT_EQ(c.limits.max_recipients, 1000);
  EXPECT_EQ(c.limits.max_message_bytes, 25u << 20);
  EXPECT_EQ(c.idempotency.ttl_hours, 24);
  EXPECT_NO_THROW(ValidateConfig(c));
}

TEST(Config, ReadsEveryKindOfValue) {
  Config c = ParseConfig(R"(
data_dir = "/srv/mp"
[http]
listen = "0.0.0.0:9000"
threads = 4
[limits]
max_recipients = 50
[spool]
sync = false
[admin]
token = "0123456789abcdef0123"
)");
  EXPECT_EQ(c.data_dir, "/srv/mp");
  EXPECT_EQ(c.http.listen, "0.0.0.0:9000");
  EXPECT_EQ(c.http.threads, 4);
  EXPECT_EQ(c.limits.max_recipients, 50);
  EXPECT_FALSE(c.spool.sync);
  EXPECT_EQ(c.admin.token, "0123456789abcdef0123");
}

TEST(Config, UnknownKeysAndWrongTypesAreErrors) {
  EXPECT_THROW(ParseConfig("datadir = 'x'"), ConfigError);
  EXPECT_THROW(ParseConfig("[http]\nlisten_on = 'x'"), ConfigError);
  EXPECT_THROW(ParseConfig("[nope]\na = 1"), ConfigError);
  EXPECT_THROW(ParseConfig("[http]\nthreads = 'four'"), ConfigError);
  EXPECT_THROW(ParseConfig("[http]\nthreads = -1"), ConfigError);
  EXPECT_THROW(ParseConfig("[spool]\nsync = 1"), ConfigError);
  EXPECT_THROW(ParseConfig("this is not toml"), ConfigError);
}

TEST(Config, ValidationCatchesUnusableValues) {
  Config c;
  c.http.listen = "nonsense";
  EXPECT_THROW(ValidateConfig(c), ConfigError);
  c = Config{};
  c.admin.token = "short";
  EXPECT_THROW(ValidateConfig(c), ConfigError);
  c = Config{};
  c.log.format = "xml";
  EXPECT_THROW(ValidateConfig(c), ConfigError);
}

TEST(SplitHostPort, V4V6AndErrors) {
  std::string host;
  uint16_t port;
  ASSERT_TRUE(SplitHostPort("127.0.0.1:0", &host, &port));
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(SplitHostPort("[::1]:8025", &host, &port));
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 8025);
  EXPECT_FALSE(SplitHostPort("127.0.0.1", &host, &port));
  EXPECT_FALSE(SplitHostPort("127.0.0.1:65536", &host, &port));
  EXPECT_FALSE(SplitHostPort("::1:80", &host, &port));
  EXPECT_FALSE(SplitHostPort(":80", &host, &port));
}

}  // namespace
}  // namespace mp
