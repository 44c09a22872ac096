// mailplane queue ...: the delivery queue of a running server, through its admin API (the server
// holds the data directory's lock, so the CLI asks it over HTTP).
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace mp {

struct QueueOptions {
  std::string url;          // "" = from --config's http.listen, else http://127.0.0.1:8025
  std::string token;        // "" = $MAILPLANE_ADMIN_TOKEN, else --config's admin.token
  std::string config_path;  // TOML file to read http.listen and admin.token from
  std::string command;      // summary, list, hold, release, retry or purge
  std::string id, tenant, domain, status, cursor;
  long long limit = 0;  // 0 = the server's default
  bool json = false;    // print the API's JSON instead of a table
  int timeout_seconds = 600;
};

// Adds `queue` and its subcommands to app; what they parse lands in *options.
CLI::App* AddQueueCommand(CLI::App& app, QueueOptions* options);

// Runs the parsed command: 0 on success, 1 on an API or connection error, 2 on a usage error.
int RunQueue(QueueOptions options);

}  // namespace mp
