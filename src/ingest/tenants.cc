#include "ingest/tenants.h"

#include <algorithm>
#include <boost/json.hpp>
#include <mutex>

#include "core/clock.h"
#include "core/id.h"
#include "store/event_log.h"

namespace mp {
namespace {

std::string NewApiKey() {
  unsigned char raw[32];
  RandomBytes(raw, sizeof raw);
  return "mp_" + HexEncode(std::string_view(reinterpret_cast<char*>(raw), sizeof raw));
}

ApiKeyRecord KeyRecord(const std::string& key, int64_t now) {
  ApiKeyRecord r;
  r.hash = Sha256(key);
  r.key_id = HexEncode(r.hash).substr(0, 12);
  r.created_ms = now;
  return r;
}

}  // namespace

TenantService::TenantService(KvStore& kv, const Clock& clock) : kv_(kv), clock_(clock) {}

Status TenantService::Load() {
  auto all = ReadAllTenants(kv_);
  if (!all.ok()) return all.error();
  std::unique_lock lock(mu_);
  tenants_.clear();
  keys_.clear();
  for (TenantRecord& t : all.value()) {
    Index(t);
    std::string id = t.id;
    retention_->Set(id, t.retention_days);
    tenants_.emplace(std::move(id), std::move(t));
  }
  return Status::Ok();
}

void TenantService::Index(const TenantRecord& t) {
  // Drop this tenant's old keys, then add its current ones.
  for (auto it = keys_.begin(); it != keys_.end();) {
    it = it->second.tenant_id == t.id ? keys_.erase(it) : std::next(it);
  }
  for (const ApiKeyRecord& k : t.keys) keys_[k.hash] = {t.id, k.expires_ms};
}

Status TenantService::CheckName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return MakeError(Code::kInvalidValue, "tenant name must be 1 to 64 characters", "name");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return MakeError(Code::kInvalidValue,
                       "tenant name may contain only letters, digits, '.', '_' and '-'", "name");
    }
  }
  return Status::Ok();
}

Result<IssuedKey> TenantService::Create(std::string_view name) {
  Status s = CheckName(name);
  if (!s.ok()) return s.error();
  std::lock_guard write(write_mu_);
  auto existing = kv_.Get(Column::kState, TenantNameKey(name));
  if (!existing.ok()) return existing.error();
  if (existing.value()) {
    return MakeError(Code::kConflict, "a tenant named '" + std::string(name) + "' exists", "name");
  }
  int64_t now = clock_.NowMs();
  std::string ulid = NewId(clock_).ToString();
  std::transform(ulid.begin(), ulid.end(), ulid.begin(), ::tolower);
  IssuedKey out;
  out.tenant.id = "tn_" + ulid;
  out.tenant.name = std::string(name);
  out.tenant.created_ms = now;
  out.api_key = NewApiKey();
  out.tenant.keys.push_back(KeyRecord(out.api_key, now));
  out.key_id = out.tenant.keys.back().key_id;
  WriteBatch batch;
  AddTenantPut(batch, out.tenant);
  s = kv_.CommitAndWait(std::move(batch));
  if (!s.ok()) return s.error();
  std::unique_lock lock(mu_);
  Index(out.tenant);
  tenants_[out.tenant.id] = out.tenant;
  return out;
}

Result<IssuedKey> TenantService::RotateKey(std::string_view tenant_id, int64_t grace_seconds) {
  std::lock_guard write(write_mu_);
  auto current = Get(tenant_id);
  if (!current) return MakeError(Code::kNotFound, "no such tenant");
  int64_t now = clock_.NowMs();
  IssuedKey out;
  out.tenant = *current;
  std::vector<ApiKeyRecord> kept;
  for (ApiKeyRecord k : out.tenant.keys) {
    if (k.expires_ms != 0 && k.expires_ms <= now) continue;  // already expired: forget it
    if (grace_seconds <= 0) continue;                        // revoke at once
    int64_t until = now + grace_seconds * 1000;
    if (k.expires_ms == 0 || k.expires_ms > until) k.expires_ms = until;
    kept.push_back(std::move(k));
  }
  out.api_key = NewApiKey();
  kept.push_back(KeyRecord(out.api_key, now));
  out.key_id = kept.back().key_id;
  out.tenant.keys = std::move(kept);
  WriteBatch batch;
  AddTenantPut(batch, out.tenant);
  Status s = kv_.CommitAndWait(std::move(batch));
  if (!s.ok()) return s.error();
  std::unique_lock lock(mu_);
  Index(out.tenant);
  tenants_[out.tenant.id] = out.tenant;
  return out;
}

template <typename Fn, typename Extra>
Result<TenantRecord> TenantService::Update(std::string_view tenant_id, Fn change, Extra extra) {
  std::lock_guard write(write_mu_);
  auto current = Get(tenant_id);
  if (!current) return MakeError(Code::kNotFound, "no such tenant");
  TenantRecord t = *current;
  change(t);
  WriteBatch batch;
  AddTenantPut(batch, t);
  extra(batch, *current, t);
  Status s = kv_.CommitAndWait(std::move(batch));
  if (!s.ok()) return s.error();
  std::unique_lock lock(mu_);
  tenants_[t.id] = t;
  retention_->Set(t.id, t.retention_days);
  return t;
}

Result<TenantRecord> TenantService::SetDisabled(std::string_view tenant_id, bool disabled) {
  return Update(tenant_id, [disabled](TenantRecord& t) { t.disabled = disabled; });
}

Result<TenantRecord> TenantService::SetPaused(std::string_view tenant_id, bool paused,
                                              std::string_view by, std::string_view reason) {
  return Update(
      tenant_id, [paused](TenantRecord& t) { t.paused = paused; },
      [&](WriteBatch& batch, const TenantRecord& before, const TenantRecord& after) {
        if (before.paused == after.paused) return;
        Event ev;
        ev.id = NewId(clock_);
        ev.at_ms = clock_.NowMs();
        ev.tenant = after.id;
        ev.type = paused ? "tenant_paused" : "tenant_resumed";
        ev.text = std::string(reason);
        boost::json::object meta{{"by", by}};
        if (!reason.empty()) meta["reason"] = reason;
        ev.metadata_json = boost::json::serialize(meta);
        AddEvent(batch, ev);
      });
}

Result<TenantRecord> TenantService::SetRetentionDays(std::string_view tenant_id, int days) {
  return Update(tenant_id, [days](TenantRecord& t) { t.retention_days = days; });
}

int TenantService::RetentionTable::Get(std::string_view tenant_id) const {
  std::shared_lock lock(mu);
  auto it = days.find(tenant_id);
  return it == days.end() ? 0 : it->second;
}

void TenantService::RetentionTable::Set(const std::string& tenant_id, int d) {
  std::unique_lock lock(mu);
  if (d > 0) {
    days[tenant_id] = d;
  } else {
    days.erase(tenant_id);
  }
}

Result<TenantRecord> TenantService::SetLimits(std::string_view tenant_id,
                                              const TenantLimits& limits) {
  return Update(tenant_id, [&limits](TenantRecord& t) { t.limits = limits; });
}

Result<TenantRecord> TenantService::SetUnsubscribe(std::string_view tenant_id, std::string url,
                                                   std::string mailto) {
  return Update(tenant_id, [&url, &mailto](TenantRecord& t) {
    t.unsubscribe_url = std::move(url);
    t.unsubscribe_mailto = std::move(mailto);
  });
}

std::pair<std::string, std::string> TenantService::UnsubscribeDefault(
    std::string_view tenant_id) const {
  std::shared_lock lock(mu_);
  auto it = tenants_.find(std::string(tenant_id));
  if (it == tenants_.end()) return {};
  return {it->second.unsubscribe_url, it->second.unsubscribe_mailto};
}

TenantService::Sched TenantService::Scheduling(std::string_view tenant_id) const {
  std::shared_lock lock(mu_);
  auto it = tenants_.find(std::string(tenant_id));
  if (it == tenants_.end()) return {};
  return Sched{it->second.limits.weight, it->second.paused};
}

TenantLimits TenantService::Limits(std::string_view tenant_id) const {
  std::shared_lock lock(mu_);
  auto it = tenants_.find(std::string(tenant_id));
  return it == tenants_.end() ? TenantLimits{} : it->second.limits;
}

std::vector<TenantRecord> TenantService::List() const {
  std::shared_lock lock(mu_);
  std::vector<TenantRecord> out;
  out.reserve(tenants_.size());
  for (const auto& [id, t] : tenants_) out.push_back(t);
  return out;
}

std::optional<TenantRecord> TenantService::Get(std::string_view tenant_id) const {
  std::shared_lock lock(mu_);
  auto it = tenants_.find(std::string(tenant_id));
  if (it == tenants_.end()) return std::nullopt;
  return it->second;
}

Result<std::string> TenantService::Authenticate(std::string_view api_key) const {
  Error denied = MakeError(Code::kUnauthorized, "missing or invalid API key");
  if (api_key.empty() || api_key.size() > 256) return denied;
  std::string hash = Sha256(api_key);
  std::shared_lock lock(mu_);
  auto it = keys_.find(hash);
  if (it == keys_.end()) return denied;
  if (it->second.expires_ms != 0 && it->second.expires_ms <= clock_.NowMs()) return denied;
  auto t = tenants_.find(it->second.tenant_id);
  if (t == tenants_.end() || t->second.disabled) return denied;
  return t->first;
}

}  // namespace mp
