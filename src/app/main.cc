// mailplane: a self-hosted, multi-tenant mail platform. Entry point and command line.
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/commands.h"
#include "app/queue_cmd.h"
#include "app/sink.h"

int main(int argc, char** argv) {
  CLI::App app{"mailplane: a self-hosted, multi-tenant mail platform"};
  app.require_subcommand(1);
  mp::CommonFlags flags;
  auto add_common = [&flags](CLI::App* cmd) {
    cmd->add_option("-c,--config", flags.config_path, "TOML configuration file");
    cmd->add_option_function<std::string>(
        "--data-dir", [&flags](const std::string& v) { flags.data_dir = v; },
        "data directory (overrides data_dir)");
  };

  CLI::App* serve = app.add_subcommand("serve", "run the server");
  add_common(serve);
  serve->add_option_function<std::string>(
      "--http-listen", [&flags](const std::string& v) { flags.http_listen = v; },
      "HTTP API address host:port (overrides http.listen; port 0 picks a free port)");
  serve->add_option_function<std::string>(
      "--submission-listen", [&flags](const std::string& v) { flags.submission_listen = v; },
      "SMTP submission address host:port (overrides submission.listen; \"\" turns it off)");
  serve->add_option_function<std::string>(
      "--log-level", [&flags](const std::string& v) { flags.log_level = v; },
      "trace, debug, info, warn or error (overrides log.level)");

  CLI::App* tenant = app.add_subcommand("tenant", "manage tenants and API keys (server stopped)");
  tenant->require_subcommand(1);
  std::string name, tenant_id;
  int64_t grace = 0;
  CLI::App* create = tenant->add_subcommand("create", "create a tenant; prints its first API key");
  add_common(create);
  create->add_option("name", name, "tenant name")->required();
  CLI::App* list = tenant->add_subcommand("list", "list tenants");
  add_common(list);
  CLI::App* rotate = tenant->add_subcommand("rotate-key", "issue a new API key");
  add_common(rotate);
  rotate->add_option("tenant_id", tenant_id, "tenant id")->required();
  rotate
      ->add_option("--grace-seconds", grace,
                   "keep the old keys valid this long (default 0: revoke now)")
      ->check(CLI::Range(int64_t{0}, int64_t{30} * 86400));
  CLI::App* disable = tenant->add_subcommand("disable", "disable a tenant (its keys stop working)");
  add_common(disable);
  disable->add_option("tenant_id", tenant_id, "tenant id")->required();
  CLI::App* enable = tenant->add_subcommand("enable", "enable a disabled tenant");
  add_common(enable);
  enable->add_option("tenant_id", tenant_id, "tenant id")->required();

  mp::SinkOptions sink_opt;
  CLI::App* sink = app.add_subcommand(
      "sink",
      "run a fast SMTP sink and mailbox simulator (success@ bounce@ defer@ tempfail@ "
      "reject@ slow@ ooto@ complaint@) for tests and load tests");
  sink->add_option("--listen", sink_opt.listen,
                   "address host:port (port 0 picks a free port); repeat it to listen on several")
      ->capture_default_str()
      ->allow_extra_args(false);
  sink->add_option("--control", sink_opt.control,
                   "control port host:port (port 0 picks a free port): one command a line, "
                   "`mode <behaviour> [peer <ip>] [local <ip>]`, `stats`, `reset`");
  sink->add_option("--mode", sink_opt.mode,
                   "behaviour for every client at start: normal, throttle, throttle-470, busy, "
                   "block or greeting-421")
      ->capture_default_str();
  sink->add_option("--threads", sink_opt.threads, "I/O threads (0 = one per core)");
  sink->add_option("--hostname", sink_opt.hostname, "name in the greeting")->capture_default_str();
  sink->add_option("--tls-cert", sink_opt.tls_cert, "PEM certificate chain: offer STARTTLS");
  sink->add_option("--tls-key", sink_opt.tls_key, "PEM private key for --tls-cert");
  sink->add_option("--maildir", sink_opt.maildir, "also write accepted messages to this Maildir");
  sink->add_option("--defer-count", sink_opt.defer_count,
                   "defer@ answers 451 this many times per address, then accepts")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  sink->add_option("--slow-ms", sink_opt.slow_ms, "delay of the DATA reply for slow@")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600000));
  sink->add_option("--tempfail-rate", sink_opt.tempfail_rate,
                   "fraction of recipients answered 451 at random")
      ->check(CLI::Range(0.0, 1.0));
  sink->add_option("--bounce-rate", sink_opt.bounce_rate,
                   "fraction of recipients answered 550 at random")
      ->check(CLI::Range(0.0, 1.0));
  sink->add_option("--report-to", sink_opt.report_to,
                   "host:port (IP) where ooto@ auto-replies and complaint@ ARF reports are sent, "
                   "to the message's return path");
  sink->add_option("--max-message-bytes", sink_opt.max_message_bytes, "SIZE limit")
      ->capture_default_str();
  sink->add_option("--stats-interval-ms", sink_opt.stats_interval_ms,
                   "how often a changed stats line is printed")
      ->capture_default_str()
      ->check(CLI::Range(10, 3600000));

  mp::QueueOptions queue_opt;
  CLI::App* queue = mp::AddQueueCommand(app, &queue_opt);

  app.add_subcommand("version", "print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit with 2, like configuration errors; --help exits with 0.
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (app.got_subcommand("version")) {
    std::cout << "mailplane " << mp::Version() << "\n";
    return 0;
  }
  if (sink->parsed()) {
    if (sink_opt.tls_cert.empty() != sink_opt.tls_key.empty()) {
      std::cerr << "mailplane sink: --tls-cert and --tls-key go together\n";
      return 2;
    }
    return mp::RunSink(sink_opt);
  }
  if (queue->parsed()) return mp::RunQueue(queue_opt);  // a client: reads only its own flags
  mp::Config config;
  try {
    config = mp::ResolveConfig(flags);
  } catch (const mp::ConfigError& e) {
    std::cerr << "mailplane: " << e.what() << "\n";
    return 2;
  }
  if (serve->parsed()) return mp::RunServe(config);
  if (create->parsed()) return mp::RunTenantCreate(config, name);
  if (list->parsed()) return mp::RunTenantList(config);
  if (rotate->parsed()) return mp::RunTenantRotateKey(config, tenant_id, grace);
  if (disable->parsed()) return mp::RunTenantSetDisabled(config, tenant_id, true);
  if (enable->parsed()) return mp::RunTenantSetDisabled(config, tenant_id, false);
  return 2;
}
