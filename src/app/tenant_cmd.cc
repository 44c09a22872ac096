// mailplane tenant ...: manages tenants directly in the data directory (server stopped). A running
// server holds the directory's lock; then the admin API does the same job.
#include <boost/json.hpp>
#include <filesystem>
#include <iostream>

#include "app/commands.h"
#include "core/clock.h"
#include "ingest/tenants.h"
#include "store/kv.h"

namespace mp {
namespace json = boost::json;

namespace {

template <typename Fn>
int WithTenants(const Config& config, Fn fn) {
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    std::cerr << "mailplane: cannot create data directory " << config.data_dir << ": "
              << ec.message() << "\n";
    return 1;
  }
  auto kv = OpenRocksDbStore(config.data_dir + "/spool", config.spool);
  if (!kv.ok()) {
    std::cerr << "mailplane: " << kv.error().detail << "\n";
    if (kv.error().detail.find("lock") != std::string::npos) {
      std::cerr << "mailplane: the data directory is in use by a running server; use the admin "
                   "API (/v1/admin/tenants) instead\n";
    }
    return 1;
  }
  TenantService tenants(*kv.value(), Clock::System());
  Status s = tenants.Load();
  if (!s.ok()) {
    std::cerr << "mailplane: " << s.error().detail << "\n";
    return 1;
  }
  int rc = fn(tenants);
  kv.value()->Close();
  return rc;
}

json::object Summary(const TenantRecord& t) {
  return json::object{{"tenant_id", t.id},
                      {"name", t.name},
                      {"created_at", FormatRfc3339(t.created_ms)},
                      {"disabled", t.disabled},
                      {"keys", t.keys.size()}};
}

int Fail(const Error& e) {
  std::cerr << "mailplane: " << e.detail << "\n";
  return 1;
}

}  // namespace

int RunTenantCreate(const Config& config, const std::string& name) {
  return WithTenants(config, [&](TenantService& tenants) {
    auto r = tenants.Create(name);
    if (!r.ok()) return Fail(r.error());
    std::cout << json::serialize(json::object{{"tenant_id", r.value().tenant.id},
                                              {"name", r.value().tenant.name},
                                              {"api_key", r.value().api_key},
                                              {"key_id", r.value().key_id}})
              << "\n";
    return 0;
  });
}

int RunTenantList(const Config& config) {
  return WithTenants(config, [&](TenantService& tenants) {
    json::array list;
    for (const TenantRecord& t : tenants.List()) list.push_back(Summary(t));
    std::cout << json::serialize(json::object{{"tenants", std::move(list)}}) << "\n";
    return 0;
  });
}

int RunTenantRotateKey(const Config& config, const std::string& tenant_id, int64_t grace) {
  return WithTenants(config, [&](TenantService& tenants) {
    auto r = tenants.RotateKey(tenant_id, grace);
    if (!r.ok()) return Fail(r.error());
    std::cout << json::serialize(json::object{{"tenant_id", r.value().tenant.id},
                                              {"api_key", r.value().api_key},
                                              {"key_id", r.value().key_id},
                                              {"grace_seconds", grace}})
              << "\n";
    return 0;
  });
}

int RunTenantSetDisabled(const Config& config, const std::string& tenant_id, bool disabled) {
  return WithTenants(config, [&](TenantService& tenants) {
    auto r = tenants.SetDisabled(tenant_id, disabled);
    if (!r.ok()) return Fail(r.error());
    std::cout << json::serialize(Summary(r.value())) << "\n";
    return 0;
  });
}

}  // namespace mp
