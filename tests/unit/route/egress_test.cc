// Egress table: validation, rule precedence, the weighted split, changes with history, pool health
// transitions and the AIMD shaping reaction.
#include "route/egress.h"

#include <gtest/gtest.h>

#include <map>

#include "core/clock.h"
#include "route/egress_service.h"
#include "route/health.h"
#include "route/shaping.h"
#include "store/kv.h"
#include "test_util.h"

namespace mp::route {
namespace {

EgressConfig TwoPools() {
  EgressConfig c;
  c.sources = {{"a1", "127.0.0.2", "a1.example", "", TlsPolicy::kOpportunistic, "", ""},
               {"a2", "127.0.0.3", "a2.example", "", TlsPolicy::kOpportunistic, "", ""},
               {"b1", "127.0.0.4", "", "", TlsPolicy::kOpportunistic, "", ""}};
  c.pools = {{"pa", {{"a1", 1}, {"a2", 1}}}, {"pb", {{"b1", 1}}}};
  c.rules = {{"default", "*", "*", {{"pa", 1}}},
             {"gmail", "*", "gmail.com", {{"pa", 70}, {"pb", 30}}},
             {"corp", "*", "*.corp.example", {{"pb", 1}}},
             {"deep", "*", "*.eu.corp.example", {{"pa", 1}}},
             {"google", "*", "site:*.google.com", {{"pb", 1}}},
             {"t1-all", "t1", "*", {{"pb", 1}}}};
  return c;
}

TEST(EgressTable, ResolvePrecedence) {
  auto t = TableFromConfig(TwoPools());
  ASSERT_TRUE(t.ok()) << t.error().detail;
  const EgressTable& table = t.value();
  EXPECT_EQ(table.Resolve("t2", "gmail.com", {}).rule->id, "gmail");
  EXPECT_EQ(table.Resolve("t2", "other.org", {}).rule->id, "default");
  EXPECT_EQ(table.Resolve("t2", "corp.example", {}).rule->id, "corp");
  EXPECT_EQ(table.Resolve("t2", "x.corp.example", {}).rule->id, "corp");
  EXPECT_EQ(table.Resolve("t2", "x.eu.corp.example", {}).rule->id, "deep");  // longest suffix
  EXPECT_EQ(table.Resolve("t2", "notcorp.example", {}).rule->id, "default");
  // Site rules: by MX host; an exact domain rule still wins.
  EXPECT_EQ(table.Resolve("t2", "acme.com", {"aspmx.l.google.com"}).rule->id, "google");
  EXPECT_EQ(table.Resolve("t2", "acme.com", {"mx.acme.com"}).rule->id, "default");
  EXPECT_EQ(table.Resolve("t2", "gmail.com", {"gmail-smtp-in.l.google.com"}).rule->id, "gmail");
  // A tenant's own rules come first.
  auto m = table.Resolve("t1", "gmail.com", {});
  EXPECT_EQ(m.rule->id, "t1-all");
  EXPECT_EQ(m.why, "tenant t1, default");
}

TEST(EgressTable, ValidateNamesWhatIsWrong) {
  EgressConfig c = TwoPools();
  c.pools[0].sources.push_back({"nope", 1});
  auto t = TableFromConfig(c);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().detail.find("source nope, which does not exist"), std::string::npos);

  c = TwoPools();
  c.rules.erase(c.rules.begin());  // no default rule
  t = TableFromConfig(c);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().detail.find("default rule"), std::string::npos);

  c = TwoPools();
  c.rules.push_back({"dup", "*", "gmail.com", {{"pb", 1}}});
  t = TableFromConfig(c);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().detail.find("already covers"), std::string::npos);

  c = TwoPools();
  c.sources[0].bind = "not-an-ip";
  EXPECT_FALSE(TableFromConfig(c).ok());
  c = TwoPools();
  c.rules[1].destination = "site:";
  EXPECT_FALSE(TableFromConfig(c).ok());
  c = TwoPools();
  c.rules[1].pools = {{"pa", 0}};
  EXPECT_FALSE(TableFromConfig(c).ok());
}

TEST(EgressTable, DefaultWithoutConfig) {
  auto t = TableFromConfig(EgressConfig{});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t.value().Resolve("x", "example.com", {}).rule->id, "default");
  EXPECT_FALSE(t.value().sources.at("default").relay);
}

TEST(EgressTable, SiteNameIgnoresOrderAndCase) {
  EXPECT_EQ(SiteName({"B.example", "a.example"}), "mx:a.example,b.example");
  EXPECT_TRUE(HostMatches("*.google.com", "ASPMX.L.GOOGLE.COM."));
  EXPECT_FALSE(HostMatches("*.google.com", "google.com"));
  EXPECT_FALSE(HostMatches("*.google.com", "evilgoogle.com"));
}

class EgressServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kv = OpenRocksDbStore(dir.path(), SpoolConfig{});
    ASSERT_TRUE(kv.ok());
    store = std::move(kv.value());
    config = TwoPools();
    config.failover.min_samples = 10;
    config.failover.threshold = 0.5;
    config.failover.cooldown_seconds = 60;
    config.failover.probes = 2;
    service = std::make_unique<EgressService>(config, *store, clock);
    ASSERT_TRUE(service->Load().ok());
  }
  test::TempDir dir;
  std::unique_ptr<KvStore> store;
  ManualClock clock{1'000'000'000'000};
  EgressConfig config;
  std::unique_ptr<EgressService> service;
};

TEST_F(EgressServiceTest, SplitFollowsWeightsExactly) {
  std::map<std::string, int> pools, sources;
  for (int i = 0; i < 10000; ++i) {
    auto c = service->Choose("t2", "gmail.com", {"mx.gmail.com"}, "mx:mx.gmail.com");
    ASSERT_TRUE(c.ok());
    ++pools[c.value().pool];
    ++sources[c.value().source.name];
  }
  EXPECT_EQ(pools["pa"], 7000);
  EXPECT_EQ(pools["pb"], 3000);
  EXPECT_EQ(sources["a1"], 3500);
  EXPECT_EQ(sources["a2"], 3500);
}

TEST_F(EgressServiceTest, PutDeleteVersionedAndPersisted) {
  auto v1 =
      service->Put(ItemKind::kSource, "c1", R"({"bind":"127.0.0.9","ehlo":"c1.example"})", "alice");
  ASSERT_TRUE(v1.ok()) << v1.error().detail;
  auto v2 = service->Put(ItemKind::kPool, "pc", R"({"sources":{"c1":1}})", "alice");
  ASSERT_TRUE(v2.ok()) << v2.error().detail;
  auto v3 = service->Put(ItemKind::kRule, "yahoo",
                         R"({"destination":"yahoo.com","pools":{"pc":1}})", "bob");
  ASSERT_TRUE(v3.ok()) << v3.error().detail;
  EXPECT_EQ(v3.value(), 3u);
  EXPECT_EQ(service->Current()->Resolve("t2", "yahoo.com", {}).rule->id, "yahoo");

  // References are checked against the whole table; nothing changes on error.
  auto bad = service->Delete(ItemKind::kPool, "pc", "bob");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(service->Current()->version, 3u);
  // Items of the configuration file are read-only.
  auto ro = service->Put(ItemKind::kRule, "gmail",
                         R"({"destination":"gmail.com","pools":{"pb":1}})", "bob");
  ASSERT_FALSE(ro.ok());
  EXPECT_EQ(ro.error().code, Code::kConflict);
  // Shape errors are specific.
  auto shape = service->Put(ItemKind::kSource, "c2", R"({"bind":"127.0.0.9","colour":"red"})", "x");
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.error().code, Code::kUnknownField);

  ASSERT_TRUE(service->Delete(ItemKind::kRule, "yahoo", "carol").ok());
  auto h = service->History(0, 10);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h.value().size(), 4u);
  EXPECT_EQ(h.value()[0].op, "delete");
  EXPECT_EQ(h.value()[0].actor, "carol");
  EXPECT_NE(h.value()[0].before.find("yahoo.com"), std::string::npos);
  EXPECT_EQ(h.value()[1].actor, "bob");
  EXPECT_EQ(h.value()[1].before, "");

  // A new service over the same store sees the same table.
  EgressService again(config, *store, clock);
  ASSERT_TRUE(again.Load().ok());
  EXPECT_EQ(again.Current()->version, 4u);
  EXPECT_TRUE(again.Current()->sources.count("c1"));
  EXPECT_FALSE(again.Current()->rules.count("yahoo"));
}

TEST_F(EgressServiceTest, QuarantineFailoverProbeRelease) {
  const std::string site = "mx:mx.gmail.com";
  PoolHealth& h = service->Health();
  // 5 bad of 10 (threshold 0.5, min 10): quarantined.
  for (int i = 0; i < 5; ++i) h.Record(site, "pa", OutcomeClass::kGood, "250 ok");
  for (int i = 0; i < 4; ++i) h.Record(site, "pa", OutcomeClass::kBad, "550 5.7.1 blocked");
  EXPECT_EQ(h.View(site, "pa").state, HealthState::kHealthy);
  h.Record(site, "pa", OutcomeClass::kBad, "550 5.7.1 blocked");
  EXPECT_EQ(h.View(site, "pa").state, HealthState::kQuarantined);
  // Its share goes to the other pool of the rule; other sites are not affected.
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(service->Choose("t2", "gmail.com", {"mx.gmail.com"}, site).value().pool, "pb");
  }
  EXPECT_EQ(service->Choose("t2", "other.org", {"mx.other.org"}, "mx:mx.other.org").value().pool,
            "pa");
  // A rule whose only pool is quarantined: nothing to choose (the mail waits).
  auto none = service->Choose("t2", "other.org", {"mx.gmail.com"}, site);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Code::kConflict);

  // After the cool-down: probing, at most 2 probes handed out, then released by 2 good ones.
  clock.Advance(61'000);
  int probes = 0;
  for (int i = 0; i < 30; ++i) {
    auto c = service->Choose("t2", "gmail.com", {"mx.gmail.com"}, site);
    if (c.value().pool == "pa") {
      EXPECT_TRUE(c.value().probe);
      ++probes;
    }
  }
  EXPECT_EQ(probes, 2);
  h.Record(site, "pa", OutcomeClass::kGood, "250 ok");
  EXPECT_EQ(h.View(site, "pa").state, HealthState::kProbing);
  h.Record(site, "pa", OutcomeClass::kGood, "250 ok");
  EXPECT_EQ(h.View(site, "pa").state, HealthState::kHealthy);

  auto events = h.Events(10);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].to, "quarantined");
  EXPECT_EQ(events[1].to, "probing");
  EXPECT_EQ(events[0].to, "healthy");
}

TEST_F(EgressServiceTest, FailedProbeDoublesTheCooldown) {
  const std::string site = "mx:x";
  PoolHealth& h = service->Health();
  for (int i = 0; i < 10; ++i) h.Record(site, "pa", OutcomeClass::kBad, "421 4.7.28");
  ASSERT_EQ(h.View(site, "pa").state, HealthState::kQuarantined);
  clock.Advance(60'000);
  EXPECT_TRUE(h.Eligible(site, "pa"));  // probing
  h.Record(site, "pa", OutcomeClass::kBad, "421 4.7.28");
  EXPECT_EQ(h.View(site, "pa").state, HealthState::kQuarantined);
  clock.Advance(60'000);
  EXPECT_FALSE(h.Eligible(site, "pa"));  // 120 s now
  clock.Advance(60'000);
  EXPECT_TRUE(h.Eligible(site, "pa"));
}

TEST_F(EgressServiceTest, PinsOverrideHealth) {
  const std::string site = "mx:x";
  PoolHealth& h = service->Health();
  h.SetPin("*", "pb", Pin::kOut);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(service->Choose("t2", "gmail.com", {"x"}, site).value().pool, "pa");
  }
  h.SetPin(site, "pa", Pin::kIn);
  for (int i = 0; i < 20; ++i) h.Record(site, "pa", OutcomeClass::kBad, "550 5.7.1");
  EXPECT_EQ(h.View(site, "pa").state, HealthState::kHealthy);  // pinned in: never quarantined
  h.SetPin("*", "pb", Pin::kAuto);
  EXPECT_TRUE(h.Eligible(site, "pb"));
}

TEST(ReplyClass, PolicyThrottleAndConnectionFailuresAreBad) {
  EXPECT_EQ(ClassifyReply(250, "2.0.0", "ok"), OutcomeClass::kGood);
  EXPECT_EQ(ClassifyReply(550, "5.1.1", "user unknown"), OutcomeClass::kGood);
  EXPECT_EQ(ClassifyReply(550, "5.7.1", "blocked"), OutcomeClass::kBad);
  EXPECT_EQ(ClassifyReply(421, "4.7.28", "unusual rate"), OutcomeClass::kBad);
  EXPECT_EQ(ClassifyReply(450, "4.2.1", "too quickly"), OutcomeClass::kBad);
  EXPECT_EQ(ClassifyReply(451, "4.4.1", "connect failed"), OutcomeClass::kBad);
  EXPECT_EQ(ClassifyReply(451, "4.4.3", "dns"), OutcomeClass::kNeutral);
  EXPECT_EQ(ClassifyReply(452, "4.2.2", "mailbox full"), OutcomeClass::kGood);
  EXPECT_TRUE(IsThrottleReply(421, "4.7.0", "Try again later, closing connection"));
  EXPECT_TRUE(IsThrottleReply(451, "", "Too many messages, slow down"));
  EXPECT_FALSE(IsThrottleReply(451, "4.7.1", "Greylisted, try again later"));
  EXPECT_EQ(ClassifyReply(451, "4.7.1", "Greylisted, please try again later"),
            OutcomeClass::kNeutral);
  EXPECT_FALSE(IsThrottleReply(451, "4.4.2", "connection lost"));
  EXPECT_FALSE(IsThrottleReply(550, "5.7.1", "blocked"));
}

TEST(Shaping, RulesFileFirstMatchWins) {
  DeliveryConfig d;
  auto rules = ShapingRules::Load(ShapingConfig{}, d);
  ASSERT_TRUE(rules.ok()) << rules.error().detail;
  ShapingLimits g = rules.value().Lookup("any", {"gmail-smtp-in.l.google.com"});
  EXPECT_EQ(g.max_connections, 20);
  EXPECT_EQ(g.max_messages_per_second, 50);
  ShapingLimits other = rules.value().Lookup("any", {"mx.example.org"});
  EXPECT_EQ(other.max_connections, d.max_connections_per_site);
  EXPECT_EQ(other.rule, "default");

  ShapingRules mine;
  ASSERT_TRUE(mine.Add("[[site]]\nmx = \"*.google.com\"\nsource = \"ip1\"\nmax_connections = 2\n",
                       "ops.toml")
                  .ok());
  EXPECT_EQ(mine.Lookup("ip1", {"aspmx.l.google.com"}).max_connections, 2);
  EXPECT_EQ(mine.Lookup("ip2", {"aspmx.l.google.com"}).rule, "");
  auto bad = mine.Add("[[site]]\nmx = \"*.x.com\"\nmax_connections = 0\n", "ops.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().detail.find("ops.toml: site[0].max_connections"), std::string::npos);
  EXPECT_FALSE(mine.Add("[[site]]\nmx = \"x\"\nspeed = 1\n", "ops.toml").ok());
}

TEST(Shaping, AimdHalvesOnThrottleAndRecoversAdditively) {
  ShapingLimits l;
  l.max_connections = 8;
  l.max_messages_per_second = 40;
  ShapingConfig c;  // decrease 0.5, recover every 5 s by ceiling/20 = 2/s
  AdaptiveRate r(l, c);
  int64_t t = 1'000'000;
  EXPECT_EQ(r.Rate(t), 40);
  r.OnThrottle(t);
  EXPECT_EQ(r.Rate(t), 20);
  EXPECT_EQ(r.Connections(t), 4);
  r.OnThrottle(t + 500);  // the same burst: counted once
  EXPECT_EQ(r.Rate(t + 500), 20);
  r.OnThrottle(t + 1500);
  EXPECT_EQ(r.Rate(t + 1500), 10);
  EXPECT_EQ(r.Connections(t + 1500), 2);
  EXPECT_EQ(r.Rate(t + 1500 + 5000), 12);
  EXPECT_EQ(r.Connections(t + 1500 + 5000), 3);
  // 15 more steps of 2/s bring it back to the ceiling: no longer throttled.
  EXPECT_EQ(r.Rate(t + 1500 + 80'000), 40);
  EXPECT_FALSE(r.Throttled());
  EXPECT_EQ(r.Connections(t + 1500 + 80'000), 8);

  // Without a configured rate, the observed one is cut.
  ShapingLimits open;
  open.max_messages_per_second = 0;
  AdaptiveRate u(open, c);
  for (int i = 0; i < 30; ++i) u.OnSend(t);
  EXPECT_EQ(u.Rate(t), 0);
  u.OnThrottle(t + 10);
  EXPECT_EQ(u.Rate(t + 10), 15);
  AdaptiveRate light(open, c);  // light traffic: the cut starts from 20 a second
  light.OnSend(t);
  light.OnThrottle(t + 10);
  EXPECT_EQ(light.Rate(t + 10), 10);
}

}  // namespace
}  // namespace mp::route
