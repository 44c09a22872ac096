// DomainService: a tenant's sending domains and their DKIM keys.
//
// Registering a domain generates two DKIM keys (RSA 2048 and Ed25519, RFC 8463) under fresh
// selectors and returns the DNS records to publish: both DKIM TXT records, an SPF record naming the
// direct egress addresses, a DMARC suggestion and the return-path domain. Verify() looks the DKIM
// records up (on demand, and periodically from serve) and marks the domain verified when every
// active key is published as generated. Outgoing mail from a verified domain (or a subdomain of
// one: relaxed alignment) is signed with both keys at submission; mail from a domain that is not
// registered and verified is refused when domains.require_verified is set.
//
// Rotation without downtime: Rotate() adds a pending key pair under new selectors; signing goes on
// with the active keys until a check finds the pending records published, then the pending keys
// become active and the old ones retired (kept, so their records can be removed at leisure).
//
// State: one record per (tenant, domain) in the state column, key "domain/<tenant>/<domain>"
// (docs/formats/spool.md); private keys are stored there in PEM.
// Thread-safety: all methods are safe from any thread; Add/Rotate/Delete/Verify's completion
// write to the store and block (call them from a blocking pool).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "ingest/submission.h"
#include "mime/dkim.h"

namespace mp {

class KvStore;
class Clock;

struct DomainKey {
  std::string selector;
  dkim::Algorithm algorithm = dkim::Algorithm::kRsaSha256;
  std::string private_pem;
  std::string public_b64;
  std::string state;  // "active", "pending", "retired"
  int64_t created_ms = 0;
  bool published = false;  // found in DNS at the last check
};

struct DomainRecord {
  std::string tenant;
  std::string domain;
  int64_t created_ms = 0;
  bool verified = false;
  int64_t checked_ms = 0;
  std::string last_error;  // of the last check
  bool spf_ok = false, dmarc_ok = false;
  std::vector<DomainKey> keys;
};

// A DNS TXT lookup: done(ok, records, error); ok false with error for temporary failures,
// ok true with no records for a name that does not exist.
using TxtLookup = std::function<void(
    const std::string& name,
    std::function<void(bool ok, std::vector<std::string> records, std::string error)> done)>;

class DomainService {
 public:
  DomainService(const DomainsConfig& config, KvStore& kv, const Clock& clock);

  Status Load();

  Result<DomainRecord> Add(const std::string& tenant, const std::string& domain);
  Result<DomainRecord> Rotate(const std::string& tenant, const std::string& domain);
  Status Delete(const std::string& tenant, const std::string& domain);
  std::optional<DomainRecord> Get(const std::string& tenant, const std::string& domain) const;
  std::vector<DomainRecord> List(const std::string& tenant) const;
  std::vector<std::pair<std::string, std::string>> All() const;  // (tenant, domain)

  // Checks the domain's records in DNS and stores the result; done gets the new record.
  void Verify(const std::string& tenant, const std::string& domain, const TxtLookup& lookup,
              std::function<void(Result<DomainRecord>)> done);

  // The DNS records to publish, as {type, name, value, purpose, status}.
  struct DnsRecord {
    std::string type, name, value, purpose, status;
  };
  std::vector<DnsRecord> Records(const DomainRecord& d,
                                 const std::vector<std::string>& egress_addresses) const;

  // Signs message for the tenant's mail from from_domain: the DKIM-Signature fields to prepend.
  // Empty when the domain is not verified and verification is not required; kDomainNotVerified
  // when it is required.
  Result<std::string> Sign(const std::string& tenant, const std::string& from_domain,
                           std::string_view message) const;

  // Signs a prepared message (sender's domain = its envelope sender's): prepends the signatures
  // to the body and updates the size.
  Status SignPrepared(PreparedMessage& m) const;

  static Status CheckDomain(std::string_view domain);

 private:
  struct Loaded {
    DomainRecord record;
    std::vector<std::shared_ptr<const dkim::SigningKey>> signing;  // active keys
  };
  Status Store(const DomainRecord& d);  // writes and indexes
  void Index(const DomainRecord& d);    // mu_ held exclusively
  const Loaded* Find(const std::string& tenant, const std::string& domain) const;  // mu_ held
  void Checked(const std::string& tenant, const std::string& domain,
               std::vector<std::pair<std::string, bool>> found, std::string error, bool spf,
               bool dmarc, std::function<void(Result<DomainRecord>)> done);

  const DomainsConfig& config_;
  KvStore& kv_;
  const Clock& clock_;
  std::mutex write_mu_;
  mutable std::shared_mutex mu_;
  std::map<std::pair<std::string, std::string>, Loaded> domains_;
};

}  // namespace mp
