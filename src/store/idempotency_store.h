// Idempotency-Key records: the request's hash and the response that was sent, per tenant.
// Layout: docs/formats/spool.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/error.h"
#include "store/kv.h"

namespace mp {

struct IdempotencyRecord {
  std::string request_hash;  // SHA-256 over method, path and body, 32 raw bytes
  int64_t created_ms = 0;
  int http_status = 0;
  std::string response_body;
};

std::string IdempotencyKey(std::string_view tenant_id, std::string_view key);
std::string EncodeIdempotency(const IdempotencyRecord& r);
std::optional<IdempotencyRecord> DecodeIdempotency(std::string_view data);

void AddIdempotencyPut(WriteBatch& batch, std::string_view tenant_id, std::string_view key,
                       const IdempotencyRecord& r);
Result<std::optional<IdempotencyRecord>> ReadIdempotency(KvStore& kv, std::string_view tenant_id,
                                                         std::string_view key);

}  // namespace mp
