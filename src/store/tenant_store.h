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

struct TenantRecord {
  std::string id;
  std::string name;
  int64_t created_ms = 0;
  bool disabled = false;
  std::vector<ApiKeyRecord> keys;
};

std::string EncodeTenant(const TenantRecord& t);
std::optional<TenantRecord> DecodeTenant(std::string_view data);

std::string TenantKey(std::string_view tenant_id);
std::string TenantNameKey(std::string_view name);

void AddTenantPut(WriteBatch& batch, const TenantRecord& t);
Result<std::vector<TenantRecord>> ReadAllTenants(KvStore& kv);

}  // namespace mp
