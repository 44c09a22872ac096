// The resolver against a real DNS server (dnsmasq) on loopback.
#include "net/resolver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "net/dnsmasq_server.h"

namespace mp::net {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr int64_t kStart = 1'800'000'000'000;  // ManualClock epoch for cache tests

// The zone most tests use.
std::vector<std::string> DefaultZone() {
  return {
      "--local-ttl=300",  // dnsmasq's default is 0: nothing would be cacheable
      "--mx-host=mx.test,a.mx.test,10",
      "--mx-host=mx.test,b.mx.test,10",
      "--mx-host=mx.test,c.mx.test,20",
      "--mx-host=null.test,.,0",  // RFC 7505 null MX
      "--host-record=host.test,192.0.2.1,2001:db8::1",
      "--host-record=v6only.test,2001:db8::2",
      "--host-record=implicit.test,192.0.2.2",  // no MX: the implicit MX
      "--cname=alias.test,host.test",
      "--cname=mxalias.test,mx.test",
      "--txt-record=txt.test,v=spf1 -all",
      "--txt-record=txt.test,part1,part2",
      // 4 x 200 octets: more than a 512-octet UDP answer, so it comes over TCP after TC.
      "--txt-record=big.test," + std::string(200, 'a') + "," + std::string(200, 'b') + "," +
          std::string(200, 'c') + "," + std::string(200, 'd'),
  };
}

// Starts an asynchronous call and waits (at most 5 s) for its callback's value.
template <typename R, typename Start>
R Await(Start start) {
  auto promise = std::make_shared<std::promise<R>>();
  std::future<R> future = promise->get_future();
  start([promise](R r) { promise->set_value(std::move(r)); });
  if (future.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    ADD_FAILURE() << "no callback within 5 s";
    return R{};
  }
  return future.get();
}

std::vector<std::string> Hosts(const MxResult& r) {
  std::vector<std::string> out;
  for (const MxHost& h : r.hosts) out.push_back(h.host + "/" + std::to_string(h.preference));
  return out;
}

class ResolverTest : public ::testing::Test {
 protected:
  void TearDown() override {
    resolver_.reset();  // before the server, so nothing is in flight towards it
    if (dns_) dns_->Stop();
  }

  // Starts dnsmasq with `records` and a resolver that asks it.
  void StartDns(const std::vector<std::string>& records = DefaultZone()) {
    std::string error;
    dns_ = test::DnsmasqServer::Start(records, &error);
    ASSERT_TRUE(dns_) << error;
    config_.servers = {dns_->address()};
  }
  void StartResolver(const Clock& clock = Clock::System()) {
    Result<std::unique_ptr<Resolver>> r = Resolver::Create(config_, clock);
    ASSERT_TRUE(r.ok()) << r.error().detail;
    resolver_ = std::move(r).value();
  }

  MxResult Mx(const std::string& domain) {
    return Await<MxResult>([&](auto done) { resolver_->ResolveMx(domain, done); });
  }
  AddrResult Addrs(const std::string& host) {
    return Await<AddrResult>([&](auto done) { resolver_->ResolveAddrs(host, done); });
  }
  TxtResult Txt(const std::string& name) {
    return Await<TxtResult>([&](auto done) { resolver_->ResolveTxt(name, done); });
  }

  DnsConfig config_ = [] {
    DnsConfig c;
    c.timeout_ms = 500;
    c.tries = 1;
    return c;
  }();
  std::unique_ptr<test::DnsmasqServer> dns_;
  std::unique_ptr<Resolver> resolver_;
};

TEST_F(ResolverTest, MxHostsInPreferenceOrderWithEqualPreferencesShuffled) {
  StartDns();
  StartResolver();
  std::set<std::string> firsts;
  for (int i = 0; i < 64; ++i) {
    MxResult r = Mx("mx.test");
    ASSERT_EQ(r.status, DnsStatus::kOk) << r.error;
    EXPECT_FALSE(r.null_mx);
    EXPECT_FALSE(r.implicit);
    std::vector<std::string> hosts = Hosts(r);
    ASSERT_EQ(hosts.size(), 3u);
    std::vector<std::string> equal(hosts.begin(), hosts.begin() + 2);
    std::sort(equal.begin(), equal.end());
    EXPECT_EQ(equal, (std::vector<std::string>{"a.mx.test/10", "b.mx.test/10"}));
    EXPECT_EQ(hosts[2], "c.mx.test/20");
    firsts.insert(hosts[0]);
  }
  // Shuffled for every caller, also from the cache: both come first (failure odds 2^-63).
  EXPECT_EQ(firsts.size(), 2u);
  Resolver::Stats stats = resolver_->GetStats();
  EXPECT_EQ(stats.queries, 1u);
  EXPECT_EQ(stats.cache_hits, 63u);
}

TEST_F(ResolverTest, NullMxMeansTheDomainAcceptsNoMail) {
  StartDns();
  StartResolver();
  MxResult r = Mx("null.test");
  EXPECT_EQ(r.status, DnsStatus::kOk) << r.error;
  EXPECT_TRUE(r.null_mx);
  EXPECT_FALSE(r.implicit);
  EXPECT_TRUE(r.hosts.empty());
}

TEST_F(ResolverTest, ImplicitMxOnlyWhenThereAreNoMxRecords) {
  StartDns();
  StartResolver();
  MxResult implicit = Mx("implicit.test");
  EXPECT_EQ(implicit.status, DnsStatus::kOk) << implicit.error;
  EXPECT_TRUE(implicit.implicit);
  EXPECT_EQ(Hosts(implicit), std::vector<std::string>{"implicit.test/0"});

  // No MX and no address: nowhere to deliver.
  MxResult none = Mx("txt.test");
  EXPECT_EQ(none.status, DnsStatus::kNoData);
  EXPECT_FALSE(none.implicit);
  EXPECT_TRUE(none.hosts.empty());
  EXPECT_NE(none.error.find("txt.test"), std::string::npos) << none.error;
}

TEST_F(ResolverTest, NxDomainIsPermanent) {
  StartDns();
  StartResolver();
  MxResult mx = Mx("nx.test");
  EXPECT_EQ(mx.status, DnsStatus::kNxDomain);
  EXPECT_EQ(mx.error, "NXDOMAIN for nx.test");
  EXPECT_EQ(Addrs("nx.test").status, DnsStatus::kNxDomain);
  EXPECT_EQ(Txt("nx.test").status, DnsStatus::kNxDomain);
}

TEST_F(ResolverTest, AddressesComeAThenAaaaAndNamesIgnoreCaseAndTrailingDot) {
  StartDns();
  StartResolver();
  AddrResult r = Addrs("host.test");
  EXPECT_EQ(r.status, DnsStatus::kOk) << r.error;
  EXPECT_EQ(r.addresses, (std::vector<std::string>{"192.0.2.1", "2001:db8::1"}));
  Resolver::Stats before = resolver_->GetStats();

  AddrResult same = Addrs("HOST.Test.");
  EXPECT_EQ(same.addresses, r.addresses);
  Resolver::Stats after = resolver_->GetStats();
  EXPECT_EQ(after.queries, before.queries);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 2);  // A and AAAA

  EXPECT_EQ(Addrs("v6only.test").addresses, std::vector<std::string>{"2001:db8::2"});
  AddrResult literal = Addrs("192.0.2.99");
  EXPECT_EQ(literal.status, DnsStatus::kOk);
  EXPECT_EQ(literal.addresses, std::vector<std::string>{"192.0.2.99"});
  AddrResult nodata = Addrs("txt.test");
  EXPECT_EQ(nodata.status, DnsStatus::kNoData);
  EXPECT_TRUE(nodata.addresses.empty());
}

TEST_F(ResolverTest, FollowsCnames) {
  StartDns();
  StartResolver();
  EXPECT_EQ(Addrs("alias.test").addresses, (std::vector<std::string>{"192.0.2.1", "2001:db8::1"}));
  MxResult mx = Mx("mxalias.test");
  EXPECT_EQ(mx.status, DnsStatus::kOk) << mx.error;
  EXPECT_EQ(mx.hosts.size(), 3u);
}

TEST_F(ResolverTest, TxtRecordsJoinTheirStrings) {
  StartDns();
  StartResolver();
  TxtResult r = Txt("txt.test");
  EXPECT_EQ(r.status, DnsStatus::kOk) << r.error;
  std::sort(r.records.begin(), r.records.end());
  EXPECT_EQ(r.records, (std::vector<std::string>{"part1part2", "v=spf1 -all"}));
  EXPECT_EQ(Txt("host.test").status, DnsStatus::kNoData);
}

TEST_F(ResolverTest, TruncatedAnswersAreFetchedOverTcp) {
  StartDns();
  StartResolver();
  TxtResult r = Txt("big.test");
  ASSERT_EQ(r.status, DnsStatus::kOk) << r.error;
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].size(), 800u);
}

TEST_F(ResolverTest, CachedAnswerServesUntilItsTtlRunsOut) {
  StartDns();
  ManualClock clock(kStart);
  StartResolver(clock);
  EXPECT_EQ(Mx("mx.test").status, DnsStatus::kOk);
  EXPECT_EQ(resolver_->GetStats().queries, 1u);
  clock.Advance(299'000);  // the TTL is 300 s
  EXPECT_EQ(Mx("mx.test").status, DnsStatus::kOk);
  EXPECT_EQ(resolver_->GetStats().queries, 1u);
  EXPECT_EQ(resolver_->GetStats().cache_hits, 1u);
  clock.Advance(2'000);
  EXPECT_EQ(Mx("mx.test").status, DnsStatus::kOk);
  EXPECT_EQ(resolver_->GetStats().queries, 2u);
}

TEST_F(ResolverTest, NegativeAnswersAreCachedUpToTheConfiguredCap) {
  StartDns();  // dnsmasq sends no SOA with these: the 60 s default applies, capped at 5 s
  config_.negative_ttl_max_seconds = 5;
  ManualClock clock(kStart);
  StartResolver(clock);
  EXPECT_EQ(Mx("nx.test").status, DnsStatus::kNxDomain);
  clock.Advance(4'000);
  EXPECT_EQ(Mx("nx.test").status, DnsStatus::kNxDomain);
  EXPECT_EQ(resolver_->GetStats().queries, 1u);
  clock.Advance(2'000);
  EXPECT_EQ(Mx("nx.test").status, DnsStatus::kNxDomain);
  EXPECT_EQ(resolver_->GetStats().queries, 2u);
}

TEST_F(ResolverTest, NegativeTtlComesFromTheSoa) {
  // Authoritative mode: negative answers carry the zone's SOA, TTL and MINIMUM both 30 s.
  StartDns({"--auth-server=ns.auth.test,127.0.0.1", "--auth-zone=auth.test", "--auth-ttl=30",
            "--host-record=h.auth.test,192.0.2.5"});
  ManualClock clock(kStart);
  StartResolver(clock);
  EXPECT_EQ(Mx("nx.auth.test").status, DnsStatus::kNxDomain);
  clock.Advance(29'000);
  EXPECT_EQ(Mx("nx.auth.test").status, DnsStatus::kNxDomain);
  EXPECT_EQ(resolver_->GetStats().queries, 1u);
  clock.Advance(2'000);  // past the SOA's 30 s, well before the 60 s default
  EXPECT_EQ(Mx("nx.auth.test").status, DnsStatus::kNxDomain);
  EXPECT_EQ(resolver_->GetStats().queries, 2u);

  // No data for MX (with an SOA), then the implicit MX from the A record.
  MxResult implicit = Mx("h.auth.test");
  EXPECT_EQ(implicit.status, DnsStatus::kOk) << implicit.error;
  EXPECT_TRUE(implicit.implicit);
}

TEST_F(ResolverTest, TimeoutIsATemporaryFailureWithinTheConfiguredTime) {
  test::SilentUdpPort silent;
  ASSERT_NE(silent.port(), 0);
  config_.servers = {silent.address()};
  config_.timeout_ms = 200;
  StartResolver();
  const auto start = steady_clock::now();
  MxResult r = Mx("mx.test");
  const auto elapsed = steady_clock::now() - start;
  EXPECT_EQ(r.status, DnsStatus::kTempFail);
  EXPECT_NE(r.error.find("timeout"), std::string::npos) << r.error;
  EXPECT_GE(elapsed, milliseconds(150));
  EXPECT_LT(elapsed, milliseconds(1500));
  // Temporary failures are not cached.
  EXPECT_EQ(Mx("mx.test").status, DnsStatus::kTempFail);
  EXPECT_EQ(resolver_->GetStats().queries, 2u);
}

TEST_F(ResolverTest, StoppedServerIsATemporaryFailure) {
  StartDns();
  StartResolver();
  dns_->Stop();
  const auto start = steady_clock::now();
  MxResult r = Mx("mx.test");
  EXPECT_EQ(r.status, DnsStatus::kTempFail) << r.error;
  EXPECT_LT(steady_clock::now() - start, milliseconds(2000));
  EXPECT_EQ(Addrs("host.test").status, DnsStatus::kTempFail);
}

TEST_F(ResolverTest, RefusedIsATemporaryFailure) {
  StartDns();  // dnsmasq refuses names outside .test: it has no upstream servers
  StartResolver();
  MxResult r = Mx("example.com");
  EXPECT_EQ(r.status, DnsStatus::kTempFail);
  EXPECT_NE(r.error.find("REFUSED"), std::string::npos) << r.error;
}

// Answers every query with SERVFAIL (what a recursive resolver says when the domain's servers
// are broken); dnsmasq cannot be made to.
class ServFailServer {
 public:
  ServFailServer() : thread_([this] { Serve(); }) {}
  ~ServFailServer() {
    stop_ = true;
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_.load()); }
  bool WaitReady() {
    for (int i = 0; i < 100 && port_ == 0; ++i) std::this_thread::sleep_for(milliseconds(10));
    return port_ != 0;
  }

 private:
  void Serve() {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      close(fd);
      return;
    }
    port_ = ntohs(addr.sin_port);
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 20) != 1) continue;
      uint8_t buf[512];
      sockaddr_in from{};
      socklen_t from_len = sizeof from;
      ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 12) continue;
      buf[2] = static_cast<uint8_t>(0x80 | (buf[2] & 0x01));  // QR, RD as asked
      buf[3] = 0x82;                                          // RA, RCODE 2
      sendto(fd, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), from_len);
    }
    close(fd);
  }

  std::atomic<bool> stop_{false};
  std::atomic<uint16_t> port_{0};
  std::thread thread_;
};

TEST_F(ResolverTest, ServFailIsATemporaryFailureAndNotCached) {
  ServFailServer server;
  ASSERT_TRUE(server.WaitReady());
  config_.servers = {server.address()};
  StartResolver();
  const auto start = steady_clock::now();
  MxResult r = Mx("mx.test");
  EXPECT_EQ(r.status, DnsStatus::kTempFail);
  EXPECT_NE(r.error.find("SERVFAIL"), std::string::npos) << r.error;
  EXPECT_LT(steady_clock::now() - start, milliseconds(400));  // an answer, not a timeout
  EXPECT_EQ(Addrs("host.test").status, DnsStatus::kTempFail);
  EXPECT_EQ(Mx("mx.test").status, DnsStatus::kTempFail);
  EXPECT_EQ(resolver_->GetStats().cache_entries, 0u);
}

TEST_F(ResolverTest, ConcurrentIdenticalLookupsShareOneQuery) {
  test::SilentUdpPort silent;  // nothing answers, so every lookup is still in flight
  config_.servers = {silent.address()};
  config_.timeout_ms = 300;
  StartResolver();
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  int temp_failures = 0;
  constexpr int kCallers = 20;
  for (int i = 0; i < kCallers; ++i) {
    resolver_->ResolveMx("mx.test", [&](const MxResult& r) {
      std::lock_guard lock(mu);
      ++done;
      temp_failures += r.status == DnsStatus::kTempFail;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return done == kCallers; }));
  EXPECT_EQ(temp_failures, kCallers);
  EXPECT_EQ(resolver_->GetStats().queries, 1u);
}

TEST_F(ResolverTest, ManyThreadsAtOnce) {
  StartDns();
  StartResolver();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        if (Mx("mx.test").hosts.size() != 3) ++wrong;
        if (Addrs("host.test").addresses.size() != 2) ++wrong;
        if (Mx("nx.test").status != DnsStatus::kNxDomain) ++wrong;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(ResolverTest, ShutdownCallsPendingCallbacks) {
  test::SilentUdpPort silent;
  config_.servers = {silent.address()};
  config_.timeout_ms = 5000;
  StartResolver();
  std::promise<MxResult> mx;
  std::promise<AddrResult> addrs;
  std::promise<TxtResult> txt;
  resolver_->ResolveMx("mx.test", [&](MxResult r) { mx.set_value(std::move(r)); });
  resolver_->ResolveAddrs("host.test", [&](AddrResult r) { addrs.set_value(std::move(r)); });
  resolver_->ResolveTxt("txt.test", [&](TxtResult r) { txt.set_value(std::move(r)); });
  const auto start = steady_clock::now();
  resolver_.reset();
  EXPECT_LT(steady_clock::now() - start, milliseconds(1000));
  // The destructor has returned, so every callback has run.
  MxResult m = mx.get_future().get();
  EXPECT_EQ(m.status, DnsStatus::kTempFail);
  EXPECT_EQ(m.error, "resolver shut down");
  AddrResult a = addrs.get_future().get();
  EXPECT_EQ(a.status, DnsStatus::kTempFail);
  EXPECT_EQ(a.error, "resolver shut down");
  TxtResult t = txt.get_future().get();
  EXPECT_EQ(t.status, DnsStatus::kTempFail);
  EXPECT_EQ(t.error, "resolver shut down");
}

TEST_F(ResolverTest, InvalidNamesFailAtOnceWithoutAQuery) {
  StartDns();
  StartResolver();
  for (const std::string& name :
       {std::string(), std::string("."), std::string("a..test"), std::string("exa mple.test"),
        std::string("bad\r\nname.test"), std::string(64, 'x') + ".test", std::string(254, 'x')}) {
    bool called = false;
    resolver_->ResolveMx(name, [&](const MxResult& r) {
      called = true;
      EXPECT_EQ(r.status, DnsStatus::kNxDomain);
      EXPECT_EQ(r.error.find('\n'), std::string::npos);
    });
    EXPECT_TRUE(called) << "not answered inline: " << name;
  }
  EXPECT_EQ(resolver_->GetStats().queries, 0u);
}

TEST_F(ResolverTest, CacheHoldsAtMostCacheEntries) {
  StartDns();
  config_.cache_entries = 2;
  StartResolver();
  EXPECT_EQ(Addrs("host.test").status, DnsStatus::kOk);
  EXPECT_EQ(Mx("mx.test").status, DnsStatus::kOk);
  EXPECT_EQ(Txt("txt.test").status, DnsStatus::kOk);
  EXPECT_EQ(resolver_->GetStats().cache_entries, 2u);
}

TEST(ResolverConfig, RejectsServersThatAreNotIpAndPort) {
  for (const char* bad : {"127.0.0.1", "localhost:53", "127.0.0.1:0", "[::1]", "::1:53",
                          "127.0.0.1:99999", "[127.0.0.1]:53x"}) {
    DnsConfig c;
    c.servers = {bad};
    Result<std::unique_ptr<Resolver>> r = Resolver::Create(c);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Code::kInvalidValue);
    EXPECT_EQ(r.error().field, "dns.servers");
  }
  DnsConfig good;
  good.servers = {"127.0.0.1:53", "[::1]:5353"};
  EXPECT_TRUE(Resolver::Create(good).ok());
  DnsConfig no_tries;
  no_tries.tries = 0;
  EXPECT_FALSE(Resolver::Create(no_tries).ok());
}

}  // namespace
}  // namespace mp::net
