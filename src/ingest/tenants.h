// TenantService: tenants and their API keys; authenticates bearer keys.
//
// Keys are "mp_" + 64 hex characters (256 random bits), shown once at creation or rotation and
// stored only as a SHA-256 hash. All tenants are cached in memory at start-up, so authentication is
// one hash and one lookup, with no I/O. Changes write through to the store (blocking: call them
// from the CLI or a blocking pool, never an I/O thread).
// SECURITY: Authenticate sees untrusted bearer tokens; every failure is the same kUnauthorized, so
// an attacker learns nothing about which part was wrong.
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "store/kv.h"
#include "store/tenant_store.h"

namespace mp {

class Clock;
class WriteBatch;

struct IssuedKey {
  TenantRecord tenant;
  std::string api_key;  // plaintext, shown once
  std::string key_id;
};

class TenantService {
 public:
  TenantService(KvStore& kv, const Clock& clock);

  // Loads every tenant into memory. Call once before use.
  Status Load();

  Result<IssuedKey> Create(std::string_view name);
  // Issues a new key. Existing keys stay valid for grace_seconds (0: revoked now).
  Result<IssuedKey> RotateKey(std::string_view tenant_id, int64_t grace_seconds);
  Result<TenantRecord> SetDisabled(std::string_view tenant_id, bool disabled);
  // Pauses or resumes sending. A change writes a tenant_paused / tenant_resumed event (in the
  // same batch) saying by whom ("api", "reputation") and why.
  Result<TenantRecord> SetPaused(std::string_view tenant_id, bool paused,
                                 std::string_view by = "api", std::string_view reason = "");
  Result<TenantRecord> SetLimits(std::string_view tenant_id, const TenantLimits& limits);
  // 0 = the server's default (events.retention_days).
  Result<TenantRecord> SetRetentionDays(std::string_view tenant_id, int days);
  // Each tenant's own log retention in days (absent or 0: the server default), kept up to date
  // by this service. Shared so the store's compaction filter can hold it beyond this service's
  // life (the filter may run until the store is closed).
  struct RetentionTable {
    int Get(std::string_view tenant_id) const;
    void Set(const std::string& tenant_id, int days);
    mutable std::shared_mutex mu;
    std::map<std::string, int, std::less<>> days;
  };
  std::shared_ptr<const RetentionTable> Retention() const { return retention_; }
  Result<TenantRecord> SetUnsubscribe(std::string_view tenant_id, std::string url,
                                      std::string mailto);
  // The tenant's default unsubscribe target (empty when none).
  std::pair<std::string, std::string> UnsubscribeDefault(std::string_view tenant_id) const;
  // What scheduling needs, without copying the record (hot path): weight and paused.
  struct Sched {
    int weight = 1;
    bool paused = false;
  };
  Sched Scheduling(std::string_view tenant_id) const;
  // The tenant's limits (defaults for an unknown tenant).
  TenantLimits Limits(std::string_view tenant_id) const;
  std::vector<TenantRecord> List() const;
  std::optional<TenantRecord> Get(std::string_view tenant_id) const;

  // The tenant id for a valid, unexpired key of an enabled tenant; kUnauthorized otherwise.
  Result<std::string> Authenticate(std::string_view api_key) const;

  // Validates a tenant name: 1 to 64 characters of letters, digits, '.', '_' and '-'.
  static Status CheckName(std::string_view name);

 private:
  void Index(const TenantRecord& t);  // requires mu_ held exclusively
  // Read-modify-write of one tenant, stored before it is visible.
  // extra adds to the batch, given the record before and after the change.
  template <typename Fn, typename Extra>
  Result<TenantRecord> Update(std::string_view tenant_id, Fn change, Extra extra);
  template <typename Fn>
  Result<TenantRecord> Update(std::string_view tenant_id, Fn change) {
    return Update(tenant_id, change, [](WriteBatch&, const TenantRecord&, const TenantRecord&) {});
  }

  KvStore& kv_;
  const Clock& clock_;
  std::mutex write_mu_;  // serializes changes (read-modify-write of one tenant)
  mutable std::shared_mutex mu_;
  std::map<std::string, TenantRecord> tenants_;
  std::shared_ptr<RetentionTable> retention_ = std::make_shared<RetentionTable>();
  struct KeyEntry {
    std::string tenant_id;
    int64_t expires_ms;
  };
  std::unordered_map<std::string, KeyEntry> keys_;  // SHA-256 of key -> tenant
};

}  // namespace mp
