// Idempotency-Key handling (per tenant, kept for idempotency.ttl_hours).
//
// A request with a key is hashed (method, path, body). If a record exists for (tenant, key): same
// hash -> the stored response is replayed and nothing is stored again; different hash -> 409. If a
// request with the same key is still in progress, the second one gets 409 at once rather than
// racing it. A successful (202) response is stored in the same write batch as its messages, so the
// record exists if and only if the messages do. Error responses (4xx, 5xx) are not stored: fixing a
// bad request and retrying with the same key works. A batch answer is a 202 even when some or all
// of its messages were rejected, so it is stored like any other 202.
// SECURITY: the key is untrusted: 1 to 255 printable ASCII characters, else kInvalidValue.
// Thread-safety: safe from any thread.
#pragma once

#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "core/error.h"
#include "store/idempotency_store.h"
#include "store/kv.h"

namespace mp {

class Clock;

class Idempotency {
 public:
  Idempotency(KvStore& kv, const Clock& clock, int ttl_hours)
      : kv_(kv), clock_(clock), ttl_ms_(int64_t{ttl_hours} * 3600 * 1000) {}

  static Status CheckKey(std::string_view key);
  static std::string RequestHash(std::string_view method, std::string_view path,
                                 std::string_view body);

  // Looks the key up and, when there is nothing to replay, marks it in flight; the caller must
  // call Release() when done. Returns the record to replay, nullopt to proceed, or an Error (409).
  Result<std::optional<IdempotencyRecord>> Begin(std::string_view tenant_id, std::string_view key,
                                                 const std::string& request_hash);
  void Release(std::string_view tenant_id, std::string_view key);

  // Adds the record for a completed request to batch.
  void Record(WriteBatch& batch, std::string_view tenant_id, std::string_view key,
              const std::string& request_hash, int http_status, std::string response_body);

  // Deletes expired records; run periodically off the I/O threads.
  Result<uint64_t> Purge();

 private:
  KvStore& kv_;
  const Clock& clock_;
  int64_t ttl_ms_;
  std::mutex mu_;
  std::set<std::string> in_flight_;
};

}  // namespace mp
