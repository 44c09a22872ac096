#include "events/webhook_url.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mp::events {
namespace {

TEST(WebhookUrl, AcceptsHttpAndHttpsWithDefaults) {
  auto u = ParseWebhookUrl("https://Hooks.Example.COM");
  ASSERT_TRUE(u.ok()) << u.error().detail;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "hooks.example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/");
  EXPECT_FALSE(u->HostIsIp());
  EXPECT_EQ(u->HostHeader(), "hooks.example.com");
  EXPECT_EQ(u->HostPort(), "hooks.example.com:443");

  auto p = ParseWebhookUrl("HTTP://example.com/in/mail?tenant=t_1&sig=a%2Fb");
  ASSERT_TRUE(p.ok()) << p.error().detail;
  EXPECT_FALSE(p->tls);
  EXPECT_EQ(p->port, 80);
  EXPECT_EQ(p->target, "/in/mail?tenant=t_1&sig=a%2Fb");
}

TEST(WebhookUrl, PortsAndHostHeader) {
  auto u = ParseWebhookUrl("http://127.0.0.1:8080/x");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 8080);
  EXPECT_TRUE(u->HostIsIp());
  EXPECT_EQ(u->HostHeader(), "127.0.0.1:8080");
  auto d = ParseWebhookUrl("https://example.com:443/");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->HostHeader(), "example.com");  // the default port is left out
  auto q = ParseWebhookUrl("https://example.com?x=1");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->target, "/?x=1");
  EXPECT_TRUE(ParseWebhookUrl("http://a:1").ok());
  EXPECT_TRUE(ParseWebhookUrl("http://a:65535").ok());
}

TEST(WebhookUrl, Ipv6LiteralsInBrackets) {
  auto u = ParseWebhookUrl("https://[2001:DB8::1]:8443/hook");
  ASSERT_TRUE(u.ok()) << u.error().detail;
  EXPECT_EQ(u->host, "2001:db8::1");
  EXPECT_TRUE(u->ipv6_literal);
  EXPECT_TRUE(u->HostIsIp());
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->HostPort(), "[2001:db8::1]:8443");
  EXPECT_EQ(u->HostHeader(), "[2001:db8::1]:8443");
  auto l = ParseWebhookUrl("http://[::1]");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->HostHeader(), "[::1]");
  EXPECT_EQ(l->port, 80);
}

TEST(WebhookUrl, RefusesBadUrlsWithAClearMessage) {
  struct Case {
    std::string url;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"", "is empty"},
      {"example.com/hook", "must start with http:// or https://"},
      {"ftp://example.com/", "must start with http:// or https://"},
      {"javascript://alert(1)", "must start with http:// or https://"},
      {"https:/example.com", "must start with http:// or https://"},
      {"https://", "has no host"},
      {"https:///path", "has no host"},
      {"https://:443/", "has no host"},
      {"https://user:pw@example.com/", "must not contain user information"},
      {"https://@example.com/", "must not contain user information"},
      {"https://example.com/#frag", "must not have a fragment"},
      {"https://example.com#", "must not have a fragment"},
      {"https://example.com:0/", "port must be 1 to 65535"},
      {"https://example.com:65536/", "port must be 1 to 65535"},
      {"https://example.com:99999999999999999999/", "port must be 1 to 65535"},
      {"https://example.com:/", "no port after it"},
      {"https://example.com:8a/", "is not a number"},
      {"https://example.com:-1/", "is not a number"},
      {"https://exa mple.com/", "contains a space"},
      {"https://example.com/a b", "contains a space"},
      {"https://example.com/\r\nHost: x", "control character"},
      {std::string("https://example.com/\0", 21), "control character"},
      {"https://b\xc3\xbc"
       "cher.de/",
       "non-ASCII"},
      {"https://example.com/%zz", "two hexadecimal digits"},
      {"https://example.com/%4", "two hexadecimal digits"},
      {"https://[::1/", "unclosed '['"},
      {"https://[::1]x/", "not a port"},
      {"https://[fe80::1%25eth0]/", "zone id"},
      {"https://[example.com]/", "not a valid IPv6 address"},
      {"https://[]/", "not a valid IPv6 address"},
      {"https://256.1.1.1/", "not a valid IPv4 address"},
      {"https://127.1/", "not a valid IPv4 address"},
      {"https://2130706433/", "not a valid IPv4 address"},
      {"https://0x7f.1/", "not a valid IPv4 address"},
      {"https://example..com/", "empty label"},
      {"https://example.com./", "empty label"},
      {"https://.example.com/", "empty label"},
      {"https://exa!mple.com/", "not allowed: '!'"},
      {"https://" + std::string(64, 'a') + ".com/", "label longer than 63"},
      {"https://" + std::string(250, 'a') + ".com/", "longer than 253"},
      {"https://example.com/" + std::string(2048, 'a'), "longer than 2048 characters"},
  };
  for (const auto& c : cases) {
    auto u = ParseWebhookUrl(c.url);
    ASSERT_FALSE(u.ok()) << c.url;
    EXPECT_EQ(u.error().code, Code::kInvalidValue) << c.url;
    EXPECT_EQ(u.error().field, "url") << c.url;
    EXPECT_NE(u.error().detail.find(c.says), std::string::npos)
        << c.url << ": " << u.error().detail;
  }
}

TEST(WebhookUrl, LengthLimitIsInclusive) {
  std::string url = "https://example.com/";
  url += std::string(kMaxWebhookUrlBytes - url.size(), 'a');
  ASSERT_EQ(url.size(), kMaxWebhookUrlBytes);
  EXPECT_TRUE(ParseWebhookUrl(url).ok());
  EXPECT_FALSE(ParseWebhookUrl(url + "a").ok());
}

}  // namespace
}  // namespace mp::events
