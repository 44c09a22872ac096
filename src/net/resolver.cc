#include "net/resolver.h"

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "net/dns_message.h"
#include "net/dns_transport.h"
#include "net/ttl_cache.h"

namespace mp::net {
namespace {

// Unbound's cache-max-ttl default: a record with a week's TTL is still looked at once a day.
constexpr uint32_t kMaxPositiveTtlSeconds = 86400;
// RFC 2308 section 5 leaves the TTL of a negative answer without an SOA to the resolver.
constexpr uint32_t kDefaultNegativeTtlSeconds = 60;
constexpr size_t kMaxHostNameOctets = 253;  // presentation form without the trailing dot
constexpr size_t kMaxLabelOctets = 63;

// What one (name, type) query came to; shared by the cache and every waiter.
struct LookupResult {
  DnsStatus status = DnsStatus::kTempFail;
  std::vector<DnsRecord> records;  // of the asked type, kOk only
  std::string error;
  bool shut_down = false;
};
using LookupPtr = std::shared_ptr<const LookupResult>;
using LookupCallback = std::function<void(const LookupPtr&)>;

const char* TypeName(uint16_t type) {
  switch (type) {
    case kTypeA:
      return "A";
    case kTypeAaaa:
      return "AAAA";
    case kTypeMx:
      return "MX";
    case kTypeTxt:
      return "TXT";
    default:
      return "?";
  }
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string LowerName(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = Lower(c);
  return out;
}

// A lower-case host name without the trailing dot, or false if `in` is not one: labels of
// letters, digits, '-' and '_' (for _dmarc and the like), 1 to 63 octets, 253 in all.
bool NormalizeName(std::string_view in, std::string* out) {
  if (!in.empty() && in.back() == '.') in.remove_suffix(1);
  if (in.empty() || in.size() > kMaxHostNameOctets) return false;
  out->clear();
  size_t label = 0;
  for (char c : in) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
      if (!ok || ++label > kMaxLabelOctets) return false;
    }
    out->push_back(Lower(c));
  }
  return label != 0;
}

// `text` fit for an error message: at most 255 characters, no control characters.
std::string Printable(std::string_view text) {
  std::string out(text.substr(0, 255));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  return out;
}

bool IsIpLiteral(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1 ||
         inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

std::mt19937& Rng() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return rng;
}

LookupPtr ShutDownLookup() {
  auto l = std::make_shared<LookupResult>();
  l->error = DnsTransport::kShutDownError;
  l->shut_down = true;
  return l;
}

// The MX result for a kOk/kNxDomain/kTempFail MX lookup (kNoData leads to the implicit MX).
MxResult MxFromLookup(const std::string& domain, const LookupResult& mx) {
  MxResult result;
  result.status = mx.status;
  result.error = mx.error;
  if (mx.status != DnsStatus::kOk) return result;
  if (mx.records.size() == 1 && mx.records[0].target == "." && mx.records[0].preference == 0) {
    result.null_mx = true;
    return result;
  }
  for (const DnsRecord& rr : mx.records) {
    // RFC 7505 forbids "." beside other MX records; such a record names no host to use.
    if (rr.target == ".") continue;
    std::string host = LowerName(rr.target);
    auto same = std::find_if(result.hosts.begin(), result.hosts.end(),
                             [&](const MxHost& h) { return h.host == host; });
    if (same == result.hosts.end()) {
      result.hosts.push_back(MxHost{std::move(host), rr.preference});
    } else {
      same->preference = std::min(same->preference, rr.preference);
    }
  }
  if (result.hosts.empty()) {
    result.status = DnsStatus::kNoData;
    result.error = "the MX records of " + domain + " name no host";
    return result;
  }
  std::stable_sort(result.hosts.begin(), result.hosts.end(),
                   [](const MxHost& a, const MxHost& b) { return a.preference < b.preference; });
  // RFC 5321 section 5.1: hosts of equal preference are tried in random order, spreading load.
  for (auto first = result.hosts.begin(); first != result.hosts.end();) {
    auto last = std::find_if(first, result.hosts.end(),
                             [&](const MxHost& h) { return h.preference != first->preference; });
    std::shuffle(first, last, Rng());
    first = last;
  }
  return result;
}

AddrResult CombineAddrs(const std::string& host, const LookupResult& a, const LookupResult& aaaa) {
  AddrResult result;
  if (a.shut_down || aaaa.shut_down) {
    result.error = DnsTransport::kShutDownError;
    return result;
  }
  for (const LookupResult* l : {&a, &aaaa}) {
    for (const DnsRecord& rr : l->records) result.addresses.push_back(rr.address);
  }
  if (!result.addresses.empty()) {
    // One family failing temporarily does not hold up delivery to the other.
    result.status = DnsStatus::kOk;
  } else if (a.status == DnsStatus::kNxDomain || aaaa.status == DnsStatus::kNxDomain) {
    result.status = DnsStatus::kNxDomain;
    result.error = "NXDOMAIN for " + host;
  } else if (a.status == DnsStatus::kTempFail || aaaa.status == DnsStatus::kTempFail) {
    result.status = DnsStatus::kTempFail;
    result.error = a.status == DnsStatus::kTempFail ? a.error : aaaa.error;
  } else {
    result.status = DnsStatus::kNoData;
    result.error = "no A or AAAA records for " + host;
  }
  return result;
}

}  // namespace

class Resolver::Impl {
 public:
  Impl(const DnsConfig& config, const Clock& clock, std::unique_ptr<DnsTransport> transport)
      : clock_(clock),
        negative_ttl_max_seconds_(std::max(0, config.negative_ttl_max_seconds)),
        cache_(static_cast<size_t>(std::max(0, config.cache_entries))),
        transport_(std::move(transport)) {}

  // Called by ~Resolver while everything is still alive, so callbacks may call in.
  void Shutdown() {
    std::unique_ptr<DnsTransport> transport;
    {
      std::lock_guard lock(mu_);
      shutting_down_ = true;
      transport = std::move(transport_);
    }
    // Joins the transport's thread; it calls back every query still out (OnReply, shut_down).
    transport.reset();
  }

  void ResolveMx(const std::string& name, std::function<void(MxResult)> done) {
    std::string domain;
    if (!NormalizeName(name, &domain)) {
      MxResult r;
      r.status = DnsStatus::kNxDomain;
      r.error = "invalid domain name '" + Printable(name) + "'";
      done(std::move(r));
      return;
    }
    Lookup(domain, kTypeMx, [this, domain, done = std::move(done)](const LookupPtr& mx) {
      if (mx->status != DnsStatus::kNoData) {
        done(MxFromLookup(domain, *mx));
        return;
      }
      // RFC 5321 section 5.1: no MX records, so the domain itself is the implicit MX.
      ResolveAddrs(domain, [domain, done](AddrResult addrs) {
        MxResult r;
        r.status = addrs.status;
        if (addrs.status == DnsStatus::kOk) {
          r.implicit = true;
          r.hosts.push_back(MxHost{domain, 0});
        } else if (addrs.status == DnsStatus::kNoData) {
          r.error = "no MX, A or AAAA records for " + domain;
        } else {
          r.error = std::move(addrs.error);
        }
        done(std::move(r));
      });
    });
  }

  void ResolveAddrs(const std::string& name, std::function<void(AddrResult)> done) {
    if (IsIpLiteral(name)) {
      AddrResult r;
      r.status = DnsStatus::kOk;
      r.addresses.push_back(name);
      done(std::move(r));
      return;
    }
    std::string host;
    if (!NormalizeName(name, &host)) {
      AddrResult r;
      r.status = DnsStatus::kNxDomain;
      r.error = "invalid host name '" + Printable(name) + "'";
      done(std::move(r));
      return;
    }
    // The two lookups may finish on different threads (a cache hit here, a reply there); the
    // second to finish answers.
    struct Both {
      std::atomic<int> remaining{2};
      LookupPtr a, aaaa;
      std::function<void(AddrResult)> done;
    };
    auto both = std::make_shared<Both>();
    both->done = std::move(done);
    auto finish = [both, host] { both->done(CombineAddrs(host, *both->a, *both->aaaa)); };
    Lookup(host, kTypeA, [both, finish](const LookupPtr& r) {
      both->a = r;
      if (both->remaining.fetch_sub(1) == 1) finish();
    });
    Lookup(host, kTypeAaaa, [both, finish](const LookupPtr& r) {
      both->aaaa = r;
      if (both->remaining.fetch_sub(1) == 1) finish();
    });
  }

  void ResolveTxt(const std::string& name, std::function<void(TxtResult)> done) {
    std::string owner;
    if (!NormalizeName(name, &owner)) {
      TxtResult r;
      r.status = DnsStatus::kNxDomain;
      r.error = "invalid domain name '" + Printable(name) + "'";
      done(std::move(r));
      return;
    }
    Lookup(owner, kTypeTxt, [done = std::move(done)](const LookupPtr& txt) {
      TxtResult r;
      r.status = txt->status;
      r.error = txt->error;
      for (const DnsRecord& rr : txt->records) {
        std::string joined;
        for (const std::string& s : rr.strings) joined += s;
        r.records.push_back(std::move(joined));
      }
      done(std::move(r));
    });
  }

  Stats GetStats() const {
    std::lock_guard lock(mu_);
    return Stats{queries_, cache_hits_, cache_.size()};
  }

 private:
  static std::string CacheKey(const std::string& name, uint16_t type) {
    return std::to_string(type) + "/" + name;
  }

  // Answers from the cache, joins a query in flight, or sends one. `name` is normalized.
  void Lookup(const std::string& name, uint16_t type, LookupCallback done) {
    std::string key = CacheKey(name, type);
    std::unique_lock lock(mu_);
    LookupPtr ready;
    if (shutting_down_) {
      ready = ShutDownLookup();
    } else if (std::optional<LookupPtr> hit = cache_.Get(key, clock_.NowMs())) {
      ready = std::move(*hit);
      ++cache_hits_;
    }
    if (ready) {
      lock.unlock();
      done(ready);
      return;
    }
    std::vector<LookupCallback>& waiters = in_flight_[key];
    waiters.push_back(std::move(done));
    if (waiters.size() > 1) return;  // joins the query in flight
    ++queries_;
    // The transport outlives this call: once shutdown begins only the transport's own thread
    // can get here, and the transport's destructor waits for that thread.
    DnsTransport* transport = transport_.get();
    lock.unlock();
    transport->Query(name, type, [this, key, name, type](const DnsTransport::Reply& reply) {
      OnReply(key, name, type, reply);
    });
  }

  void OnReply(const std::string& key, const std::string& name, uint16_t type,
               const DnsTransport::Reply& reply) {
    uint32_t ttl_seconds = 0;
    LookupPtr result = Interpret(name, type, reply, &ttl_seconds);
    std::vector<LookupCallback> waiters;
    {
      std::lock_guard lock(mu_);
      if (result->status != DnsStatus::kTempFail && ttl_seconds > 0) {
        const int64_t now = clock_.NowMs();
        cache_.Put(key, result, now + int64_t{ttl_seconds} * 1000, now);
      }
      auto it = in_flight_.find(key);
      if (it != in_flight_.end()) {
        waiters = std::move(it->second);
        in_flight_.erase(it);
      }
    }
    for (LookupCallback& w : waiters) w(result);
  }

  // Classifies a reply; *ttl_seconds is how long it may be cached (0: not at all).
  LookupPtr Interpret(const std::string& name, uint16_t type, const DnsTransport::Reply& reply,
                      uint32_t* ttl_seconds) const {
    auto l = std::make_shared<LookupResult>();
    const std::string what = std::string(" looking up ") + TypeName(type) + " of " + name;
    if (reply.answer.empty()) {
      l->shut_down = reply.shut_down;
      l->error = reply.shut_down ? reply.error : reply.error + what;
      return l;
    }
    Result<DnsMessage> message = ParseDnsMessage(reply.answer);
    if (!message) {
      l->error = message.error().detail + what;
      return l;
    }
    const uint32_t negative_ttl =
        std::min(NegativeTtl(message.value()).value_or(kDefaultNegativeTtlSeconds),
                 static_cast<uint32_t>(negative_ttl_max_seconds_));
    switch (message->rcode) {
      case kRcodeNoError: {
        SelectedAnswer answer = SelectAnswer(message.value(), name, type);
        if (answer.records.empty()) {
          l->status = DnsStatus::kNoData;
          l->error = std::string("no ") + TypeName(type) + " records for " + name;
          *ttl_seconds = negative_ttl;
        } else {
          l->status = DnsStatus::kOk;
          l->records = std::move(answer.records);
          *ttl_seconds = std::min(answer.ttl, kMaxPositiveTtlSeconds);
        }
        break;
      }
      case kRcodeNxDomain:
        l->status = DnsStatus::kNxDomain;
        l->error = "NXDOMAIN for " + name;
        *ttl_seconds = negative_ttl;
        break;
      case kRcodeServFail:
        l->error = "SERVFAIL" + what;
        break;
      default:
        l->error = "RCODE " + std::to_string(message->rcode) + what;
        break;
    }
    return l;
  }

  const Clock& clock_;
  const int negative_ttl_max_seconds_;
  mutable std::mutex mu_;
  TtlCache<std::string, LookupPtr> cache_;                                  // guarded by mu_
  std::unordered_map<std::string, std::vector<LookupCallback>> in_flight_;  // guarded by mu_
  uint64_t queries_ = 0;                                                    // guarded by mu_
  uint64_t cache_hits_ = 0;                                                 // guarded by mu_
  bool shutting_down_ = false;                                              // guarded by mu_
  std::unique_ptr<DnsTransport> transport_;  // guarded by mu_; null once shutdown begins
};

Result<std::unique_ptr<Resolver>> Resolver::Create(const DnsConfig& config) {
  return Create(config, Clock::System());
}

Result<std::unique_ptr<Resolver>> Resolver::Create(const DnsConfig& config, const Clock& clock) {
  Result<std::unique_ptr<DnsTransport>> transport = DnsTransport::Create(config);
  if (!transport) return transport.error();
  auto impl = std::make_unique<Impl>(config, clock, std::move(transport).value());
  return std::unique_ptr<Resolver>(new Resolver(std::move(impl)));
}

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Resolver::~Resolver() { impl_->Shutdown(); }

void Resolver::ResolveMx(const std::string& domain, std::function<void(MxResult)> done) {
  impl_->ResolveMx(domain, std::move(done));
}

void Resolver::ResolveAddrs(const std::string& host, std::function<void(AddrResult)> done) {
  impl_->ResolveAddrs(host, std::move(done));
}

void Resolver::ResolveTxt(const std::string& name, std::function<void(TxtResult)> done) {
  impl_->ResolveTxt(name, std::move(done));
}

Resolver::Stats Resolver::GetStats() const { return impl_->GetStats(); }

}  // namespace mp::net
