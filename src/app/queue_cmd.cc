// mailplane queue ...: an HTTP client of the admin API's /v1/admin/queue routes (admin_queue.cc).
// The answer is printed as a table (or as the API's JSON with --json). Boost.Beast stays in this
// file.
// SECURITY: the server's answers are trusted only as far as their size (a body limit) and time
// (--timeout-seconds) go; the admin token is sent to --url, so give it an address you trust.
#include "app/queue_cmd.h"

#include <CLI/CLI.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "core/config.h"

namespace mp {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;

namespace {

constexpr int kUsage = 2;
constexpr int kFailed = 1;
constexpr uint64_t kMaxAnswerBytes = 256ull << 20;

struct Target {
  std::string host, port, base;  // base: a path prefix ("" or "/mailplane")
};

// "http://host[:port][/prefix]"; IPv6 hosts in brackets.
bool ParseUrl(std::string url, Target* t) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return false;
  url.erase(0, kScheme.size());
  size_t slash = url.find('/');
  t->base = slash == std::string::npos ? "" : url.substr(slash);
  while (!t->base.empty() && t->base.back() == '/') t->base.pop_back();
  std::string authority = url.substr(0, slash);
  t->port = "80";
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return false;
    t->host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return false;
      t->port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    t->host = authority.substr(0, colon);
    if (colon != std::string::npos) t->port = authority.substr(colon + 1);
  }
  if (t->host.empty() || t->port.empty() || t->port.size() > 5) return false;
  for (char c : t->port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

struct Answer {
  std::string error;  // a transport failure; then nothing else is set
  int status = 0;
  std::string content_type;
  std::string body;
};

Answer Failed(std::string why) {
  Answer a;
  a.error = std::move(why);
  return a;
}

asio::awaitable<Answer> Exchange(Target t, http::verb method, std::string path, std::string token,
                                 std::string body, std::chrono::seconds timeout) {
  constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  auto [rec, endpoints] = co_await resolver.async_resolve(t.host, t.port, kNoThrow);
  if (rec) co_return Failed("cannot resolve " + t.host + ": " + rec.message());
  beast::tcp_stream stream(ex);
  stream.expires_after(timeout);
  auto [cec, ep] = co_await stream.async_connect(endpoints, kNoThrow);
  if (cec) {
    co_return Failed("cannot connect to " + t.host + ":" + t.port + ": " + cec.message() +
                     " (is mailplane serve running there?)");
  }
  http::request<http::string_body> req{method, t.base + path, 11};
  req.set(http::field::host, t.host + ":" + t.port);
  req.set(http::field::user_agent, "mailplane-queue");
  req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::connection, "close");
  if (method == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
  }
  req.prepare_payload();
  auto [wec, written] = co_await http::async_write(stream, req, kNoThrow);
  if (wec) co_return Failed("sending the request failed: " + wec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  auto [rdec, got] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  if (rdec) {
    co_return Failed(rdec == beast::error::timeout
                         ? "no answer within the timeout"
                         : "reading the answer failed: " + rdec.message());
  }
  Answer a;
  a.status = static_cast<int>(parser.get().result_int());
  a.content_type = std::string(parser.get()[http::field::content_type]);
  a.body = std::move(parser.get().body());
  co_return a;
}

Answer Fetch(const Target& t, http::verb method, const std::string& path, const std::string& token,
             const std::string& body, int timeout_seconds) {
  asio::io_context io;
  Answer answer;
  asio::co_spawn(io, Exchange(t, method, path, token, body, std::chrono::seconds(timeout_seconds)),
                 [&answer](const std::exception_ptr& e, Answer a) {
                   answer = e ? Failed("the HTTP client failed unexpectedly") : std::move(a);
                 });
  io.run();
  return answer;
}

std::string Encode(std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string Query(std::initializer_list<std::pair<const char*, std::string>> params) {
  std::string q;
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    q += (q.empty() ? "?" : "&") + std::string(k) + "=" + Encode(v);
  }
  return q;
}

// ---- printing ----------------------------------------------------------------------------------

std::string Str(const json::value* v) {
  if (!v) return "";
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_null()) return "";
  return json::serialize(*v);
}

uint64_t Num(const json::object& o, std::string_view k) {
  const json::value* v = o.if_contains(k);
  return v && v->is_number() ? v->to_number<uint64_t>() : 0;
}

// Rows of {<name>, messages, recipients?} as a table under a heading.
void PrintRows(const json::value* rows, std::string_view heading, std::string_view name,
               bool recipients, std::string_view suffix_key = {}) {
  if (!rows || !rows->is_array()) return;
  size_t width = heading.size();
  std::vector<std::tuple<std::string, uint64_t, uint64_t>> lines;
  for (const json::value& r : rows->get_array()) {
    if (!r.is_object()) continue;
    const json::object& o = r.get_object();
    std::string label = Str(o.if_contains(name));
    if (!suffix_key.empty()) {
      std::string extra = Str(o.if_contains(suffix_key));
      if (!extra.empty() && extra != label) label = extra.append(" (").append(label).append(")");
    }
    if (label.size() > 72) label = label.substr(0, 69) + "...";
    width = std::max(width, label.size());
    lines.emplace_back(label, Num(o, "messages"), Num(o, "recipients"));
  }
  std::printf("\n%-*s  %10s", static_cast<int>(width), std::string(heading).c_str(), "messages");
  if (recipients) std::printf("  %10s", "recipients");
  std::printf("\n");
  if (lines.empty()) std::printf("%-*s  %10s\n", static_cast<int>(width), "(none)", "");
  for (const auto& [label, m, r] : lines) {
    std::printf("%-*s  %10llu", static_cast<int>(width), label.c_str(),
                static_cast<unsigned long long>(m));
    if (recipients) std::printf("  %10llu", static_cast<unsigned long long>(r));
    std::printf("\n");
  }
}

void PrintSummary(const json::object& o) {
  std::printf("%llu messages, %llu recipients pending",
              static_cast<unsigned long long>(Num(o, "messages")),
              static_cast<unsigned long long>(Num(o, "recipients")));
  if (std::string t = Str(o.if_contains("tenant")); !t.empty())
    std::printf(", tenant %s", t.c_str());
  if (std::string d = Str(o.if_contains("domain")); !d.empty()) {
    std::printf(", recipients at %s", d.c_str());
  }
  std::printf(" (at %s", Str(o.if_contains("generated_at")).c_str());
  if (std::string old = Str(o.if_contains("oldest_created_at")); !old.empty()) {
    std::printf("; oldest created %s", old.c_str());
  }
  std::printf(")\n");
  if (const json::value* t = o.if_contains("truncated"); t && t->is_bool() && t->get_bool()) {
    std::printf(
        "PARTIAL: stopped after %llu index entries (--limit); the counts cover those only\n",
        static_cast<unsigned long long>(Num(o, "scanned")));
  }
  json::array status;
  if (const json::value* s = o.if_contains("by_status"); s && s->is_object()) {
    for (const auto& kv : s->get_object()) {
      status.push_back(json::object{{"status", kv.key()}, {"messages", kv.value()}});
    }
  }
  json::value sv(std::move(status));
  PrintRows(&sv, "status", "status", false);
  PrintRows(o.if_contains("by_age"), "age", "age", false);
  PrintRows(o.if_contains("by_tenant"), "tenant", "tenant", true, "name");
  PrintRows(o.if_contains("by_domain"), "destination domain", "domain", true);
  if (Num(o, "domains") > 100)
    std::printf("(top 100 of %llu domains)\n", static_cast<unsigned long long>(Num(o, "domains")));
  PrintRows(o.if_contains("by_site"), "site (last attempt)", "site", true);
  if (Num(o, "sites") > 100)
    std::printf("(top 100 of %llu sites)\n", static_cast<unsigned long long>(Num(o, "sites")));
  PrintRows(o.if_contains("by_pool"), "pool (last attempt)", "pool", true);
}

void PrintList(const json::object& o) {
  const json::value* msgs = o.if_contains("messages");
  size_t n = 0;
  if (msgs && msgs->is_array()) {
    for (const json::value& mv : msgs->get_array()) {
      if (!mv.is_object()) continue;
      const json::object& m = mv.get_object();
      ++n;
      std::string due = Str(m.if_contains("due_at"));
      std::printf("%s  %s  %-9s  %s  created %s  %s\n", Str(m.if_contains("id")).c_str(),
                  Str(m.if_contains("tenant")).c_str(), Str(m.if_contains("status")).c_str(),
                  due.empty() ? "due -" : ("due " + due).c_str(),
                  Str(m.if_contains("created_at")).c_str(), Str(m.if_contains("from")).c_str());
      const json::value* rcpts = m.if_contains("recipients");
      if (!rcpts || !rcpts->is_array()) continue;
      for (const json::value& rv : rcpts->get_array()) {
        if (!rv.is_object()) continue;
        const json::object& r = rv.get_object();
        std::string line = "    " + Str(r.if_contains("address")) + "  " +
                           Str(r.if_contains("status")) + "  attempts " +
                           Str(r.if_contains("attempts_total"));
        const json::value* last = r.if_contains("last_reply");
        if (last && last->is_object()) {
          const json::object& l = last->get_object();
          line += "  last: " + Str(l.if_contains("code")) + " " +
                  Str(l.if_contains("enhanced_code")) + " " + Str(l.if_contains("text")) + " [" +
                  Str(l.if_contains("site")) + ", pool " + Str(l.if_contains("pool")) + "]";
        }
        std::printf("%s\n", line.c_str());
      }
    }
  }
  std::printf("%zu message%s\n", n, n == 1 ? "" : "s");
  if (std::string c = Str(o.if_contains("next_cursor")); !c.empty()) {
    std::printf("more: add --cursor %s\n", c.c_str());
  }
}

void PrintAction(const std::string& command, const json::object& o) {
  uint64_t busy = Num(o, "busy");
  std::printf("%s: matched %llu, changed %llu, busy %llu%s\n", command.c_str(),
              static_cast<unsigned long long>(Num(o, "matched")),
              static_cast<unsigned long long>(Num(o, "changed")),
              static_cast<unsigned long long>(busy),
              busy ? " (being delivered right now, left alone; try again in a moment)" : "");
  if (const json::value* ids = o.if_contains("ids"); ids && ids->is_array()) {
    for (const json::value& id : ids->get_array()) std::printf("  %s\n", Str(&id).c_str());
  }
}

int Usage(const std::string& what) {
  std::cerr << "mailplane queue: " << what << "\n";
  return kUsage;
}

}  // namespace

CLI::App* AddQueueCommand(CLI::App& app, QueueOptions* opt) {
  CLI::App* queue = app.add_subcommand(
      "queue",
      "the delivery queue of a running server, through its admin API: depth, hold, "
      "release, retry, purge");
  queue->require_subcommand(1);
  auto connection = [opt](CLI::App* cmd) {
    cmd->add_option("--url", opt->url,
                    "the server's HTTP API (default: http.listen of --config, else "
                    "http://127.0.0.1:8025)");
    cmd->add_option("--token", opt->token,
                    "the admin token (default: $MAILPLANE_ADMIN_TOKEN, else admin.token of "
                    "--config)");
    cmd->add_option("-c,--config", opt->config_path,
                    "the server's TOML configuration, to read http.listen and admin.token from");
    cmd->add_option("--timeout-seconds", opt->timeout_seconds, "give up after this long")
        ->capture_default_str()
        ->check(CLI::Range(1, 86400));
    cmd->add_flag("--json", opt->json, "print the API's JSON answer");
  };
  auto sub = [queue, opt, &connection](const char* name, const char* help) {
    CLI::App* cmd = queue->add_subcommand(name, help);
    connection(cmd);
    cmd->callback([opt, name] { opt->command = name; });
    return cmd;
  };
  CLI::App* summary =
      sub("summary", "depth by status, age, tenant, destination domain, site and pool");
  summary->add_option("--tenant", opt->tenant, "one tenant's mail only (tenant id)");
  summary->add_option("--domain", opt->domain, "only recipients at this domain");
  summary->add_option("--limit", opt->limit, "read at most this many index entries")
      ->check(CLI::Range(1LL, 100000000LL));
  CLI::App* list = sub("list", "a page of queued and held messages");
  list->add_option("--tenant", opt->tenant, "one tenant's mail only (tenant id)");
  list->add_option("--domain", opt->domain, "messages with a pending recipient at this domain");
  list->add_option("--status", opt->status, "queued, scheduled, deferred or held")
      ->check(CLI::IsMember({"queued", "scheduled", "deferred", "held"}));
  list->add_option("--limit", opt->limit, "messages per page (default 100)")
      ->check(CLI::Range(1LL, 1000LL));
  list->add_option("--cursor", opt->cursor, "the next page (printed after a full page)");
  for (auto [name, help] :
       {std::pair<const char*, const char*>{"hold", "hold messages: not delivered until released"},
        {"release", "release held messages: due now (or at their send_at)"},
        {"retry", "retry deferred messages now (attempt counts unchanged)"},
        {"purge", "cancel pending recipients (with --domain: only those at the domain)"}}) {
    CLI::App* cmd = sub(name, help);
    cmd->add_option("--id", opt->id, "one message");
    cmd->add_option("--tenant", opt->tenant, "every message of a tenant (tenant id)");
    cmd->add_option("--domain", opt->domain,
                    "messages with a pending recipient at this domain (with --tenant: that "
                    "tenant's only)");
  }
  return queue;
}

int RunQueue(QueueOptions opt) {
  bool action = opt.command != "summary" && opt.command != "list";
  if (action) {
    if (!opt.id.empty() && (!opt.tenant.empty() || !opt.domain.empty())) {
      return Usage("--id selects one message: give it alone, without --tenant or --domain");
    }
    if (opt.id.empty() && opt.tenant.empty() && opt.domain.empty()) {
      return Usage("select messages with --id ID, --tenant T [--domain D] or --domain D");
    }
  }
  std::string config_listen, config_token;
  if (!opt.config_path.empty()) {
    try {
      Config c = LoadConfig(opt.config_path);
      config_listen = c.http.listen;
      config_token = c.admin.token;
    } catch (const ConfigError& e) {
      return Usage(e.what());
    }
  }
  if (opt.url.empty() && !config_listen.empty()) {
    std::string host;
    uint16_t port = 0;
    if (!SplitHostPort(config_listen, &host, &port)) {
      return Usage("http.listen in " + opt.config_path + " is not host:port");
    }
    // A wildcard listener is reached on loopback.
    if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
    if (host == "::") host = "::1";
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    opt.url = "http://" + host + ":" + std::to_string(port);
  }
  if (opt.url.empty()) opt.url = "http://127.0.0.1:8025";
  Target target;
  if (!ParseUrl(opt.url, &target)) {
    return Usage("--url must look like http://127.0.0.1:8025 (plain HTTP; got " + opt.url + ")");
  }
  if (opt.token.empty()) {
    const char* env = std::getenv("MAILPLANE_ADMIN_TOKEN");
    opt.token = env && *env ? env : config_token;
  }
  if (opt.token.empty()) {
    return Usage(
        "no admin token: give --token, set MAILPLANE_ADMIN_TOKEN, or --config with "
        "admin.token");
  }

  std::string limit = opt.limit > 0 ? std::to_string(opt.limit) : "";
  http::verb method = http::verb::get;
  std::string path, body;
  if (opt.command == "summary") {
    path = "/v1/admin/queue" +
           Query({{"tenant", opt.tenant}, {"domain", opt.domain}, {"limit", limit}});
  } else if (opt.command == "list") {
    path = "/v1/admin/queue/messages" + Query({{"tenant", opt.tenant},
                                               {"domain", opt.domain},
                                               {"status", opt.status},
                                               {"limit", limit},
                                               {"cursor", opt.cursor}});
  } else {
    method = http::verb::post;
    path = "/v1/admin/queue/" + opt.command;
    json::object sel;
    if (!opt.id.empty()) sel["id"] = opt.id;
    if (!opt.tenant.empty()) sel["tenant"] = opt.tenant;
    if (!opt.domain.empty()) sel["domain"] = opt.domain;
    body = json::serialize(sel);
  }
  Answer a = Fetch(target, method, path, opt.token, body, opt.timeout_seconds);
  if (!a.error.empty()) {
    std::cerr << "mailplane queue: " << a.error << "\n";
    return kFailed;
  }
  boost::system::error_code ec;
  json::value v = json::parse(a.body, ec);
  if (a.status != 200) {
    // A problem+json answer: say what the server said.
    std::string detail = a.body.substr(0, 2000);
    if (!ec && v.is_object()) {
      const json::object& p = v.get_object();
      detail = Str(p.if_contains("code")) + ": " + Str(p.if_contains("detail"));
      if (std::string f = Str(p.if_contains("field")); !f.empty()) detail += " (field " + f + ")";
    }
    std::cerr << "mailplane queue: the server answered " << a.status << ": " << detail << "\n";
    return kFailed;
  }
  if (ec || !v.is_object()) {
    std::cerr << "mailplane queue: the server's answer is not a JSON object\n";
    return kFailed;
  }
  if (opt.json) {
    std::cout << a.body << "\n";
    return 0;
  }
  if (opt.command == "summary") {
    PrintSummary(v.get_object());
  } else if (opt.command == "list") {
    PrintList(v.get_object());
  } else {
    PrintAction(opt.command, v.get_object());
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace mp
