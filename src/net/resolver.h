// Resolver: asynchronous MX, A/AAAA and TXT lookups for the delivery engine, with a cache.
//
// Inputs: domain and host names (ASCII; IDNs as A-labels), from recipients and configuration.
// Outputs: results by callback, classified so that the caller can tell permanent failures
// (NXDOMAIN, a null MX) from temporary ones (SERVFAIL, REFUSED, timeouts, no server reachable).
//
// MX (RFC 5321 section 5.1, RFC 7505): hosts sorted by preference, equal preferences shuffled
// afresh for every caller; a single MX "0 ." is a null MX (the domain accepts no mail); no MX
// records at all means the implicit MX, the domain itself, if it has an A or AAAA record. CNAME
// chains in an answer are followed. Names compare case-insensitively; one trailing dot is dropped;
// a name that is not a valid host name (labels of letters, digits, '-' and '_', at most 253
// octets) fails at once as kNxDomain. A and AAAA are looked up together; an IP address literal
// given to ResolveAddrs is returned as it is.
//
// Cache: answers are kept for the smallest TTL of the records used (at most one day); negative
// answers (NXDOMAIN, no data) for min(SOA TTL, SOA MINIMUM) from the authority section (RFC 2308),
// 60 s if there is no SOA, capped by negative_ttl_max_seconds. Temporary failures are not
// cached. At most cache_entries (name, type) answers are kept; the oldest go first. Concurrent
// lookups of the same (name, type) share one DNS query.
//
// SECURITY: DNS answers are untrusted (DnsMessage parses them with bounds checks); a spoofed UDP
// answer can still misdirect mail, which only DNSSEC or DANE would prevent (not done here).
// Thread-safety: all methods may be called from any thread. Callbacks run on the resolver's own
// thread, or inline in the calling thread when the answer is in the cache (or the name is invalid
// or the resolver is shutting down); callers post to their own executor and never block in a
// callback. Do not destroy the resolver from a callback, nor while another thread calls it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "core/error.h"

namespace mp::net {

// kNoData: the name exists but has no records of that type.
enum class DnsStatus { kOk, kNoData, kNxDomain, kTempFail };

struct MxHost {
  std::string host;
  uint16_t preference = 0;
};

struct MxResult {
  DnsStatus status = DnsStatus::kTempFail;
  // Preference order, equal preferences shuffled; implicit MX -> one entry {domain, 0}.
  std::vector<MxHost> hosts;
  bool null_mx = false;   // RFC 7505: the domain accepts no mail (status kOk, hosts empty)
  bool implicit = false;  // no MX records; the domain's own A/AAAA is used (RFC 5321 5.1)
  // Human-readable reason when not kOk ("NXDOMAIN for x", "timeout ...", "SERVFAIL ...", ...).
  std::string error;
};

struct AddrResult {
  DnsStatus status = DnsStatus::kTempFail;
  std::vector<std::string> addresses;  // textual IPv4 and IPv6 addresses (A then AAAA)
  std::string error;
};

struct TxtResult {
  DnsStatus status = DnsStatus::kTempFail;
  std::vector<std::string> records;  // one per TXT record, its character-strings concatenated
  std::string error;
};

class Resolver final {
 public:
  // A bad server list (or an unusable timeout_ms/tries) is a kInvalidValue error.
  static Result<std::unique_ptr<Resolver>> Create(const DnsConfig& config);
  // As above with an injected clock for the cache's TTLs (tests); `clock` must outlive the
  // resolver.
  static Result<std::unique_ptr<Resolver>> Create(const DnsConfig& config, const Clock& clock);
  // Stops the thread; pending callbacks are called with kTempFail "resolver shut down".
  ~Resolver();

  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Callbacks run on the resolver's own thread (or inline on a cache hit); callers post to their
  // executor. Never block in them.
  void ResolveMx(const std::string& domain, std::function<void(MxResult)> done);
  // A and AAAA together.
  void ResolveAddrs(const std::string& host, std::function<void(AddrResult)> done);
  void ResolveTxt(const std::string& name, std::function<void(TxtResult)> done);

  // queries: DNS queries sent; cache_hits: (name, type) lookups answered from the cache;
  // cache_entries: answers in the cache now.
  struct Stats {
    uint64_t queries = 0, cache_hits = 0, cache_entries = 0;
  };
  Stats GetStats() const;

 private:
  class Impl;
  explicit Resolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mp::net
