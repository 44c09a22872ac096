// Tenant and API key records in the state column. Layouts: docs/formats/spool.md.
// API keys are never stored: only their SHA-256 (keys carry 256 random bits, so a fast hash is
// enough; there is nothing to brute-force).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "store/kv.h"

namespace mp {

struct ApiKeyRecord {
  std::string key_id;  // public identifier (first characters of the key's hash, hex)
  std::string hash;    // SHA-256 of the key, 32 raw bytes
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // 0 = does not expire
};

// Sending limits of a tenant. Rates and quotas count recipients (a message to three people counts
// three), as Amazon SES does.
struct TenantLimits {
  int weight = 1;           // share of delivery capacity against other tenants (1..1000)
  double rate = 0;          // recipients a second accepted; 0 = no limit
  int burst = 0;            // token bucket size; 0 = max(1, rate)
  int64_t daily_quota = 0;  // recipients a UTC day; 0 = no limit
  bool hold = false;  // over a limit: false = refuse (429 Retry-After), true = accept and hold
};

struct TenantRecord {
  std::string id;
  std::string name;
  int64_t created_ms = 0;
  bool disabled = false;
  std::vector<ApiKeyRecord> keys;
  bool paused = false;  // sending paused by an operator: mail is accepted and waits
  TenantLimits limits;
  // Default one-click unsubscribe target for messages without one (RFC 8058); may hold
  // {message_id} and {recipient}.
  std::string unsubscribe_url, unsubscribe_mailto;
  // How long the tenant's event log and message list keep records; 0 = events.retention_days.
  int retention_days = 0;
};

std::string EncodeTenant(const TenantRecord& t);
std::optional<TenantRecord> DecodeTenant(std::string_view data);

std::string TenantKey(std::string_view tenant_id);
std::string TenantNameKey(std::string_view name);

void AddTenantPut(WriteBatch& batch, const TenantRecord& t);
Result<std::vector<TenantRecord>> ReadAllTenants(KvStore& kv);

}  // namespace mp
