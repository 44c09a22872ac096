#include "ingest/idempotency.h"

#include <vector>

#include "core/clock.h"
#include "core/id.h"

namespace mp {

Status Idempotency::CheckKey(std::string_view key) {
  if (key.empty() || key.size() > 255) {
    return MakeError(Code::kInvalidValue, "Idempotency-Key must be 1 to 255 characters",
                     "Idempotency-Key");
  }
  for (unsigned char c : key) {
    if (c < 0x21 || c > 0x7e) {
      return MakeError(Code::kInvalidValue, "Idempotency-Key must be printable ASCII",
                       "Idempotency-Key");
    }
  }
  return Status::Ok();
}

std::string Idempotency::RequestHash(std::string_view method, std::string_view path,
                                     std::string_view body) {
  std::string material;
  material.reserve(method.size() + path.size() + body.size() + 2);
  material.append(method).push_back('\n');
  material.append(path).push_back('\n');
  material.append(body);
  return Sha256(material);
}

Result<std::optional<IdempotencyRecord>> Idempotency::Begin(std::string_view tenant_id,
                                                            std::string_view key,
                                                            const std::string& request_hash) {
  std::string slot = IdempotencyKey(tenant_id, key);
  {
    std::lock_guard lock(mu_);
    if (!in_flight_.insert(slot).second) {
      return MakeError(Code::kIdempotencyInFlight,
                       "a request with this Idempotency-Key is still in progress",
                       "Idempotency-Key");
    }
  }
  auto rec = ReadIdempotency(kv_, tenant_id, key);
  if (!rec.ok()) {
    Release(tenant_id, key);
    return rec.error();
  }
  if (rec.value() && rec.value()->created_ms + ttl_ms_ > clock_.NowMs()) {
    Release(tenant_id, key);
    if (rec.value()->request_hash != request_hash) {
      return MakeError(Code::kIdempotencyMismatch,
                       "this Idempotency-Key was used with a different request", "Idempotency-Key");
    }
    return rec;
  }
  return std::optional<IdempotencyRecord>();
}

void Idempotency::Release(std::string_view tenant_id, std::string_view key) {
  std::lock_guard lock(mu_);
  in_flight_.erase(IdempotencyKey(tenant_id, key));
}

void Idempotency::Record(WriteBatch& batch, std::string_view tenant_id, std::string_view key,
                         const std::string& request_hash, int http_status,
                         std::string response_body) {
  IdempotencyRecord r;
  r.request_hash = request_hash;
  r.created_ms = clock_.NowMs();
  r.http_status = http_status;
  r.response_body = std::move(response_body);
  AddIdempotencyPut(batch, tenant_id, key, r);
}

Result<uint64_t> Idempotency::Purge() {
  constexpr size_t kChunk = 10000;  // keys deleted per write: bounded memory and write size
  const int64_t cutoff = clock_.NowMs() - ttl_ms_;
  uint64_t deleted = 0;
  for (;;) {
    std::vector<std::string> expired;
    Status s = kv_.Scan(Column::kIdempotency, "", [&](std::string_view k, std::string_view v) {
      auto rec = DecodeIdempotency(v);
      if (!rec || rec->created_ms < cutoff) expired.emplace_back(k);
      return expired.size() < kChunk;
    });
    if (!s.ok()) return s.error();
    // Claim each key as if a request were using it, then re-read it: a request that reused the key
    // since the scan has written a fresh record, which must survive.
    std::vector<std::string> claimed;
    WriteBatch batch;
    for (std::string& slot : expired) {
      {
        std::lock_guard lock(mu_);
        if (!in_flight_.insert(slot).second) continue;
      }
      claimed.push_back(slot);
      auto current = kv_.Get(Column::kIdempotency, slot);
      if (!current.ok() || !current.value()) continue;
      auto rec = DecodeIdempotency(*current.value());
      if (!rec || rec->created_ms < cutoff) batch.Delete(Column::kIdempotency, slot);
    }
    size_t n = batch.ops().size();
    Status c = batch.empty() ? Status::Ok() : kv_.CommitAndWait(std::move(batch));
    {
      std::lock_guard lock(mu_);
      for (const std::string& slot : claimed) in_flight_.erase(slot);
    }
    if (!c.ok()) return c.error();
    deleted += n;
    if (expired.size() < kChunk || n == 0) break;
  }
  return deleted;
}

}  // namespace mp
