#include "store/idempotency_store.h"

#include <cstring>

namespace mp {
namespace {
constexpr char kIdempotencyFormatV1 = 1;
}

std::string IdempotencyKey(std::string_view tenant_id, std::string_view key) {
  std::string k;
  k.reserve(tenant_id.size() + key.size() + 1);
  k.append(tenant_id).push_back('\0');
  k.append(key);
  return k;
}

// version(1) | created_ms(8, BE) | http_status(2, BE) | request_hash(32) | response body
std::string EncodeIdempotency(const IdempotencyRecord& r) {
  std::string out(1, kIdempotencyFormatV1);
  AppendU64BE(out, static_cast<uint64_t>(r.created_ms));
  out.push_back(static_cast<char>((r.http_status >> 8) & 0xff));
  out.push_back(static_cast<char>(r.http_status & 0xff));
  out.append(r.request_hash);
  out.append(r.response_body);
  return out;
}

std::optional<IdempotencyRecord> DecodeIdempotency(std::string_view d) {
  if (d.size() < 1 + 8 + 2 + 32 || d[0] != kIdempotencyFormatV1) return std::nullopt;
  IdempotencyRecord r;
  r.created_ms = static_cast<int64_t>(ReadU64BE(d.substr(1, 8)));
  r.http_status = (static_cast<unsigned char>(d[9]) << 8) | static_cast<unsigned char>(d[10]);
  r.request_hash = std::string(d.substr(11, 32));
  r.response_body = std::string(d.substr(43));
  return r;
}

void AddIdempotencyPut(WriteBatch& batch, std::string_view tenant_id, std::string_view key,
                       const IdempotencyRecord& r) {
  batch.Put(Column::kIdempotency, IdempotencyKey(tenant_id, key), EncodeIdempotency(r));
}

Result<std::optional<IdempotencyRecord>> ReadIdempotency(KvStore& kv, std::string_view tenant_id,
                                                         std::string_view key) {
  auto r = kv.Get(Column::kIdempotency, IdempotencyKey(tenant_id, key));
  if (!r.ok()) return r.error();
  if (!r.value()) return std::optional<IdempotencyRecord>();
  auto rec = DecodeIdempotency(*r.value());
  if (!rec) return MakeError(Code::kStorage, "corrupt idempotency record");
  return rec;
}

}  // namespace mp
