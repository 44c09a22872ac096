// The mailplane subcommands. Each returns the process exit code.
#pragma once

#include <csignal>
#include <optional>
#include <string>

#include "core/config.h"

namespace mp {

struct CommonFlags {
  std::string config_path;
  std::optional<std::string> data_dir;
  std::optional<std::string> http_listen;
  std::optional<std::string> log_level;
  std::optional<std::string> submission_listen;
};

// Blocks SIGTERM and SIGINT in this thread and every thread it starts later (they are taken with
// sigwait/sigtimedwait on the returned set) and ignores SIGPIPE.
sigset_t BlockStopSignals();

// Loads the configuration file (if any) and applies the flags over it. Throws ConfigError.
Config ResolveConfig(const CommonFlags& flags);

int RunServe(const Config& config);
int RunTenantCreate(const Config& config, const std::string& name);
int RunTenantList(const Config& config);
int RunTenantRotateKey(const Config& config, const std::string& tenant_id, int64_t grace_seconds);
int RunTenantSetDisabled(const Config& config, const std::string& tenant_id, bool disabled);

}  // namespace mp
