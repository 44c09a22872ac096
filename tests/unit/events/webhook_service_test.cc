// WebhookService's API side: validation (URL, SSRF guard, event types, batch size, secret), the
// per-tenant cap, persistence across a restart (Load), enable/disable/replay/rotate bookkeeping.
// Delivery itself is tested end to end in tests/integration/webhooks.test.mjs.
#include "events/webhook_service.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "store/event_log.h"
#include "store/kv.h"
#include "test_util.h"

namespace mp::events {
namespace {

class WebhookServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kv = OpenRocksDbStore(dir.path(), SpoolConfig{});
    ASSERT_TRUE(kv.ok());
    store = std::move(kv.value());
  }
  WebhookChange Url(std::string url) {
    WebhookChange c;
    c.url = std::move(url);
    return c;
  }
  test::TempDir dir;
  std::unique_ptr<KvStore> store;
  ManualClock clock{1'800'000'000'000};
};

TEST_F(WebhookServiceTest, RefusesBadEndpointsWithTheFieldNamed) {
  WebhooksConfig config;  // allow_private_addresses = false
  WebhookService s(config, *store, clock);
  auto field = [&](const WebhookChange& c, const std::string& secret = "") {
    auto r = s.Create("tn_a", c, secret);
    return r.ok() ? std::string("ok") : r.error().field;
  };
  EXPECT_EQ(field(WebhookChange{}), "url");
  EXPECT_EQ(field(Url("ftp://example.com/")), "url");
  EXPECT_EQ(field(Url("http://127.0.0.1:8080/hook")), "url");  // loopback: SSRF guard
  EXPECT_EQ(field(Url("http://10.1.2.3/hook")), "url");
  EXPECT_EQ(field(Url("http://[::1]/hook")), "url");
  EXPECT_EQ(field(Url("http://169.254.169.254/latest/meta-data")), "url");  // cloud metadata
  WebhookChange types = Url("https://hooks.example.com/x");
  types.event_types = std::vector<std::string>{"delivered", "deliverd"};
  EXPECT_EQ(field(types), "event_types");
  WebhookChange batch = Url("https://hooks.example.com/x");
  batch.batch_size = config.max_batch_size + 1;
  EXPECT_EQ(field(batch), "batch_size");
  WebhookChange desc = Url("https://hooks.example.com/x");
  desc.description = std::string("a\nb");
  EXPECT_EQ(field(desc), "description");
  EXPECT_EQ(field(Url("https://hooks.example.com/x"), "whsec_dG9vc2hvcnQ="), "secret");
  EXPECT_TRUE(s.List("tn_a").empty()) << "nothing was created";
  EXPECT_EQ(field(Url("https://hooks.example.com/x")), "ok");
  EXPECT_EQ(field(Url("http://93.184.216.34/x")), "ok");  // a public address literal
}

TEST_F(WebhookServiceTest, PrivateAddressesWhenTheOperatorAllowsThem) {
  WebhooksConfig config;
  config.allow_private_addresses = true;
  WebhookService s(config, *store, clock);
  EXPECT_TRUE(s.Create("tn_a", Url("http://127.0.0.1:8080/hook"), "").ok());
}

TEST_F(WebhookServiceTest, CapsEndpointsPerTenant) {
  WebhooksConfig config;
  config.max_endpoints_per_tenant = 2;
  WebhookService s(config, *store, clock);
  ASSERT_TRUE(s.Create("tn_a", Url("https://a.example.com/1"), "").ok());
  ASSERT_TRUE(s.Create("tn_a", Url("https://a.example.com/2"), "").ok());
  auto third = s.Create("tn_a", Url("https://a.example.com/3"), "");
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, Code::kConflict);
  EXPECT_TRUE(s.Create("tn_b", Url("https://b.example.com/1"), "").ok()) << "per tenant";
}

TEST_F(WebhookServiceTest, EndpointsAndStateSurviveARestart) {
  WebhooksConfig config;
  std::string id, secret;
  {
    WebhookService s(config, *store, clock);
    WebhookChange c = Url("https://hooks.example.com/x");
    c.event_types = std::vector<std::string>{"bounced", "delivered", "bounced"};
    c.batch_size = 10;
    auto made = s.Create("tn_a", c, "");
    ASSERT_TRUE(made.ok());
    id = made.value().endpoint.id;
    secret = made.value().endpoint.secrets.at(0).value;
    EXPECT_EQ(made.value().endpoint.event_types,
              (std::vector<std::string>{"bounced", "delivered"}));  // sorted, once each
    ASSERT_TRUE(s.Disable("tn_a", id).ok());
    ASSERT_TRUE(s.Replay("tn_a", id, EventCursorAt(1'700'000'000'000)).ok());
    EXPECT_FALSE(s.Replay("tn_a", id, "nonsense").ok());
    EXPECT_FALSE(s.Get("tn_b", id).ok()) << "another tenant's endpoint is not found";
  }
  WebhookService again(config, *store, clock);
  ASSERT_TRUE(again.Load().ok());
  auto v = again.Get("tn_a", id);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v.value().endpoint.url, "https://hooks.example.com/x");
  EXPECT_EQ(v.value().endpoint.batch_size, 10);
  EXPECT_EQ(v.value().endpoint.secrets.at(0).value, secret);
  EXPECT_FALSE(v.value().state.enabled);
  EXPECT_EQ(v.value().state.disabled_reason, "api");
  EXPECT_EQ(v.value().state.cursor, EventCursorAt(1'700'000'000'000));
  auto on = again.Enable("tn_a", id, "");
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on.value().state.enabled);
  ASSERT_TRUE(again.Delete("tn_a", id).ok());
  WebhookService third(config, *store, clock);
  ASSERT_TRUE(third.Load().ok());
  EXPECT_TRUE(third.List("tn_a").empty());
}

TEST_F(WebhookServiceTest, RotationKeepsOldSecretsForTheOverlapOnly) {
  WebhooksConfig config;
  WebhookService s(config, *store, clock);
  auto made = s.Create("tn_a", Url("https://hooks.example.com/x"), "");
  ASSERT_TRUE(made.ok());
  const std::string id = made.value().endpoint.id;
  auto rotated = s.RotateSecret("tn_a", id, 60'000);
  ASSERT_TRUE(rotated.ok());
  ASSERT_EQ(rotated.value().endpoint.secrets.size(), 2u);
  EXPECT_EQ(rotated.value().endpoint.secrets[0].expires_ms, 0);
  EXPECT_EQ(rotated.value().endpoint.secrets[1].expires_ms, clock.NowMs() + 60'000);
  clock.Advance(61'000);
  auto again = s.RotateSecret("tn_a", id, 0);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again.value().endpoint.secrets.size(), 1u);
}

}  // namespace
}  // namespace mp::events
