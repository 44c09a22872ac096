#include "app/sink.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>

#include "app/commands.h"
#include "app/sink_reports.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/id.h"
#include "core/log.h"
#include "smtp/listener.h"

namespace mp {
namespace asio = boost::asio;
namespace json = boost::json;
using tcp = asio::ip::tcp;
namespace {

constexpr size_t kMaxAddresses = 10000;     // per-address counters; the rest count as "other"
constexpr size_t kMaxModeSettings = 10000;  // mode settings held at once
constexpr size_t kMaxControlLine = 1024;
constexpr int kMaxControlConnections = 16;
constexpr std::chrono::milliseconds kControlIdle = std::chrono::minutes(30);

enum Behaviour {
  kAccepted,
  kSuccess,
  kBounce,
  kDeferred,
  kDeferAccepted,
  kTempfail,
  kReject,
  kSlow,
  kRandomTempfail,
  kRandomBounce,
  kOoto,       // ooto@ messages (an auto-reply goes back to the return path)
  kComplaint,  // complaint@ messages (an ARF report goes back)
  kMessages,
  kBytes,
  kConnections,
  kCount
};
constexpr std::array<const char*, kCount> kNames = {
    "accepted_rcpts", "success",   "bounce",   "defer_451",       "defer_accepted",
    "tempfail",       "reject",    "slow",     "random_tempfail", "random_bounce",
    "ooto",           "complaint", "messages", "bytes",           "connections"};

// What a client is doing, counted per client (peer) address and per local address. Entries are
// never removed, so a session keeps a pointer to its entries and counts without a lock.
struct AddressCounts {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> messages{0};  // accepted at the end of data
  std::atomic<uint64_t> rcpts{0};     // accepted at RCPT
  std::atomic<uint64_t> refused{0};   // 4xx/5xx the sink chose: greeting, MAIL, RCPT, DATA
};

class AddressTable {
 public:
  AddressCounts* Get(const std::string& ip) {
    std::lock_guard lock(mu_);
    auto it = counts_.find(ip);
    if (it != counts_.end()) return &it->second;
    if (counts_.size() >= kMaxAddresses) return &counts_["other"];
    return &counts_[ip];
  }
  json::object ToJson() const {
    std::lock_guard lock(mu_);
    json::object out;
    for (const auto& [ip, c] : counts_) {
      out[ip] = {{"connections", c.connections.load()},
                 {"messages", c.messages.load()},
                 {"rcpts", c.rcpts.load()},
                 {"refused", c.refused.load()}};
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, AddressCounts> counts_;  // ordered: stable JSON
};

// The hostile behaviours, set globally, per peer address, per local address or per both.
enum class Mode { kNormal, kThrottle, kThrottle470, kBusy, kBlock, kGreeting421 };
constexpr std::array<std::pair<std::string_view, Mode>, 6> kModes = {{
    {"normal", Mode::kNormal},
    {"throttle", Mode::kThrottle},
    {"throttle-470", Mode::kThrottle470},
    {"busy", Mode::kBusy},
    {"block", Mode::kBlock},
    {"greeting-421", Mode::kGreeting421},
}};

std::optional<Mode> ParseMode(std::string_view name) {
  for (const auto& [n, m] : kModes) {
    if (n == name) return m;
  }
  return std::nullopt;
}

// The most specific setting wins: peer and local, peer, local, global. "" in a key means any.
class ModeTable {
 public:
  bool Set(Mode m, const std::string& peer, const std::string& local) {
    std::lock_guard lock(mu_);
    auto key = std::make_pair(peer, local);
    if (!modes_.contains(key) && modes_.size() >= kMaxModeSettings) return false;
    modes_[key] = m;
    any_ = true;
    return true;
  }
  void Reset() {
    std::lock_guard lock(mu_);
    modes_.clear();
    any_ = false;
  }
  Mode For(const std::string& peer, const std::string& local) const {
    if (!any_.load(std::memory_order_acquire)) return Mode::kNormal;  // no lock in normal runs
    std::lock_guard lock(mu_);
    for (const auto& key :
         {std::make_pair(peer, local), std::make_pair(peer, std::string()),
          std::make_pair(std::string(), local), std::make_pair(std::string(), std::string())}) {
      auto it = modes_.find(key);
      if (it != modes_.end()) return it->second;
    }
    return Mode::kNormal;
  }

 private:
  mutable std::mutex mu_;
  std::atomic<bool> any_{false};
  std::map<std::pair<std::string, std::string>, Mode> modes_;
};

struct SinkState {
  const SinkOptions& opt;
  std::array<std::atomic<uint64_t>, kCount> counts{};
  std::mutex defer_mu;
  std::unordered_map<std::string, int> defer_seen;  // address -> 451s given
  std::atomic<uint64_t> maildir_seq{0};
  AddressTable by_peer, by_local;
  ModeTable modes;
  uint16_t port = 0;  // the first listener's; set before the I/O threads start
  std::atomic<int> control_connections{0};
  std::unique_ptr<ReportSender> reports;  // with --report-to
  explicit SinkState(const SinkOptions& o) : opt(o) {
    if (!o.report_to.empty()) reports = std::make_unique<ReportSender>(o.report_to, o.hostname);
  }
};

std::string LocalPart(const std::string& rcpt) {
  std::string lp = rcpt.substr(0, rcpt.rfind('@'));
  lp = lp.substr(0, lp.find('+'));
  for (char& c : lp) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lp;
}

double Uniform() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::uniform_real_distribution<double>(0, 1)(rng);
}

class SinkHandler final : public smtp::ServerHandler {
 public:
  explicit SinkHandler(SinkState& s) : s_(s) {}

  std::optional<smtp::ServerReply> OnConnect(const std::string& peer_ip,
                                             const std::string& local_ip) override {
    peer_ip_ = peer_ip;
    local_ip_ = local_ip;
    peer_ = s_.by_peer.Get(peer_ip);
    local_ = s_.by_local.Get(local_ip);
    peer_->connections++;
    local_->connections++;
    if (CurrentMode() == Mode::kGreeting421) {
      Refused();
      return smtp::ServerReply{
          421, s_.opt.hostname + " Service not available, closing transmission channel (sink)"};
    }
    return std::nullopt;
  }

  smtp::ServerReply OnMail(const std::string& /*from*/) override {
    switch (CurrentMode()) {
      case Mode::kThrottle:
        Refused();
        return {421,
                "4.7.28 Our system has detected an unusual rate of unsolicited mail originating "
                "from your IP address. (sink)"};
      case Mode::kThrottle470:
        Refused();
        return {421, "4.7.0 Try again later, closing connection (sink)"};
      default:
        return {250, "2.1.0 Ok"};
    }
  }

  smtp::ServerReply OnRcpt(const std::string& rcpt) override {
    smtp::ServerReply r = DecideRcpt(rcpt);
    if (r.code < 300) {
      s_.counts[kAccepted]++;
      Add(&AddressCounts::rcpts);
    } else {
      Refused();
    }
    return r;
  }

  std::chrono::milliseconds ReplyDelay(const std::vector<std::string>& rcpts) override {
    for (const auto& r : rcpts) {
      if (LocalPart(r) == "slow") {
        s_.counts[kSlow]++;
        return std::chrono::milliseconds(s_.opt.slow_ms);
      }
    }
    return std::chrono::milliseconds(0);
  }

  asio::awaitable<smtp::ServerReply> OnData(std::string from, std::vector<std::string> rcpts,
                                            std::string message) override {
    for (const auto& r : rcpts) {
      if (LocalPart(r) == "reject") {
        Refused();
        co_return Count(kReject, {554, "5.7.1 message rejected (sink)"});
      }
    }
    s_.counts[kMessages]++;
    s_.counts[kBytes] += message.size();
    Add(&AddressCounts::messages);
    for (const auto& r : rcpts) {
      std::string lp = LocalPart(r);
      if (lp == "ooto") {
        s_.counts[kOoto]++;
        if (s_.reports && !from.empty()) s_.reports->Enqueue(from, MakeAutoReply(r, from, message));
      } else if (lp == "complaint") {
        s_.counts[kComplaint]++;
        if (s_.reports && !from.empty()) {
          s_.reports->Enqueue(
              from, MakeComplaintReport(r, from, from, peer_ip_, message, s_.opt.hostname));
        }
      }
    }
    if (!s_.opt.maildir.empty()) WriteMaildir(from, rcpts, message);
    co_return smtp::ServerReply{250, "2.0.0 Ok: queued as " + NewId(Clock::System()).ToString()};
  }

 private:
  Mode CurrentMode() const { return s_.modes.For(peer_ip_, local_ip_); }

  smtp::ServerReply DecideRcpt(const std::string& rcpt) {
    switch (CurrentMode()) {
      case Mode::kBusy:
        return {450,
                "4.2.1 The user you are trying to contact is receiving mail too quickly (sink)"};
      case Mode::kBlock:
        return {550, "5.7.1 Service unavailable, client host [" + peer_ip_ + "] blocked (sink)"};
      default:
        break;
    }
    std::string lp = LocalPart(rcpt);
    if (lp == "bounce") return Count(kBounce, {550, "5.1.1 <" + rcpt + ">: user unknown (sink)"});
    if (lp == "tempfail") return Count(kTempfail, {451, "4.3.0 temporary failure (sink)"});
    if (lp == "defer") {
      std::lock_guard lock(s_.defer_mu);
      if (s_.defer_seen.size() > 1000000) s_.defer_seen.clear();  // a test tool: bounded memory
      int& n = s_.defer_seen[rcpt];
      if (n < s_.opt.defer_count) {
        ++n;
        return Count(kDeferred,
                     {451, "4.7.1 try again later (sink, deferral " + std::to_string(n) + ")"});
      }
      s_.counts[kDeferAccepted]++;
    }
    if (s_.opt.tempfail_rate > 0 && Uniform() < s_.opt.tempfail_rate) {
      return Count(kRandomTempfail, {451, "4.3.0 random temporary failure (sink)"});
    }
    if (s_.opt.bounce_rate > 0 && Uniform() < s_.opt.bounce_rate) {
      return Count(kRandomBounce, {550, "5.1.1 random permanent failure (sink)"});
    }
    if (lp == "success") s_.counts[kSuccess]++;
    return {250, "2.1.5 Ok"};
  }

  smtp::ServerReply Count(Behaviour b, smtp::ServerReply r) {
    s_.counts[b]++;
    return r;
  }

  // OnConnect runs first in every session the listener starts; the checks keep a handler that is
  // used without it (a unit test) from crashing.
  void Add(std::atomic<uint64_t> AddressCounts::*field) {
    if (peer_) (peer_->*field)++;
    if (local_) (local_->*field)++;
  }
  void Refused() { Add(&AddressCounts::refused); }

  void WriteMaildir(const std::string& from, const std::vector<std::string>& rcpts,
                    const std::string& message) {
    // Maildir: write under tmp/, then rename into new/ (atomic for readers).
    std::string name = std::to_string(Clock::System().NowMs()) + "." + std::to_string(getpid()) +
                       "_" + std::to_string(s_.maildir_seq++) + ".sink";
    std::string tmp = s_.opt.maildir + "/tmp/" + name;
    {
      std::ofstream out(tmp, std::ios::binary);
      out << "Return-Path: <" << from << ">\r\n";
      for (const auto& r : rcpts) out << "Delivered-To: " << r << "\r\n";
      out << message;
    }
    std::error_code ec;
    std::filesystem::rename(tmp, s_.opt.maildir + "/new/" + name, ec);
  }

  SinkState& s_;
  std::string peer_ip_, local_ip_;
  AddressCounts* peer_ = nullptr;
  AddressCounts* local_ = nullptr;
};

std::string StatsLine(SinkState& s) {
  json::object out;
  out["event"] = "sink.stats";
  out["port"] = s.port;
  for (int i = 0; i < kCount; ++i) out[kNames[i]] = s.counts[i].load();
  if (s.reports) {
    out["reports_sent"] = s.reports->sent();
    out["reports_failed"] = s.reports->failed();
  }
  out["by_peer"] = s.by_peer.ToJson();
  out["by_local"] = s.by_local.ToJson();
  return json::serialize(out);
}

// An IP address as the sessions see it (IPv4-mapped IPv6 as IPv4), or nullopt.
std::optional<std::string> NormalIp(const std::string& text) {
  boost::system::error_code ec;
  asio::ip::address a = asio::ip::make_address(text, ec);
  if (ec) return std::nullopt;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

// One control command (a line without its end), one reply line (without its end).
std::string ControlCommand(SinkState& s, std::string_view line) {
  std::vector<std::string> words;
  for (size_t i = 0; i < line.size();) {
    size_t end = line.find_first_of(" \t\r", i);
    if (end == std::string_view::npos) end = line.size();
    if (end > i) words.emplace_back(line.substr(i, end - i));
    i = end + 1;
  }
  if (words.empty()) return "error empty command";
  if (words[0] == "stats" && words.size() == 1) return StatsLine(s);
  if (words[0] == "reset" && words.size() == 1) {
    s.modes.Reset();
    return "ok";
  }
  if (words[0] != "mode") return "error unknown command (mode, stats, reset)";
  constexpr std::string_view kUsage = "error usage: mode <behaviour> [peer <ip>] [local <ip>]";
  if (words.size() < 2 || words.size() % 2 != 0) return std::string(kUsage);
  std::optional<Mode> mode = ParseMode(words[1]);
  if (!mode) {
    return "error unknown behaviour (normal, throttle, throttle-470, busy, block, greeting-421)";
  }
  std::optional<std::string> peer, local;
  for (size_t i = 2; i + 1 < words.size(); i += 2) {
    std::optional<std::string>* target = words[i] == "peer"    ? &peer
                                         : words[i] == "local" ? &local
                                                               : nullptr;
    if (!target || *target) return std::string(kUsage);
    *target = NormalIp(words[i + 1]);
    if (!*target) return "error not an IP address";
  }
  if (!s.modes.Set(*mode, peer.value_or(""), local.value_or(""))) {
    return "error too many mode settings (reset clears them)";
  }
  return "ok";
}

// One control connection: lines in, one reply line per line out. An overlong line is dropped as
// it arrives and answered at its end.
asio::awaitable<void> ServeControl(tcp::socket socket, SinkState* s) {
  struct Count {
    std::atomic<int>* n;
    ~Count() { n->fetch_sub(1); }
  } count{&s->control_connections};
  smtp::Stream stream(std::move(socket));
  std::string in;
  bool overlong = false;
  for (;;) {
    std::string out;
    size_t start = 0;
    for (size_t nl; (nl = in.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (overlong || nl - start > kMaxControlLine) {
        out += "error line too long";
        overlong = false;
      } else {
        out += ControlCommand(*s, std::string_view(in).substr(start, nl - start));
      }
      out += '\n';
    }
    in.erase(0, start);
    if (in.size() > kMaxControlLine) {
      overlong = true;
      in.clear();
    }
    if (!out.empty()) {
      smtp::error_code ec = co_await stream.Write(out, kControlIdle);
      if (ec) break;
    }
    char buf[4096];
    size_t got = 0;
    smtp::error_code ec = co_await stream.ReadSome(buf, sizeof buf, &got, kControlIdle);
    if (ec) break;
    in.append(buf, got);
  }
  co_await stream.Shutdown();
}

asio::awaitable<void> AcceptControl(tcp::acceptor* acceptor, asio::io_context* io, SinkState* s) {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(asio::make_strand(*io),
                                                        asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
    if (ec) continue;
    if (s->control_connections.load() >= kMaxControlConnections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    s->control_connections.fetch_add(1);
    auto ex = socket.get_executor();
    asio::co_spawn(ex, ServeControl(std::move(socket), s), asio::detached);
  }
}

// Binds host:port for the control port; "" on success, else why not.
std::string BindControl(tcp::acceptor& acceptor, const std::string& host_port) {
  std::string host;
  uint16_t port = 0;
  if (!SplitHostPort(host_port, &host, &port)) return "control address must be host:port";
  boost::system::error_code ec;
  tcp::endpoint ep(asio::ip::make_address(host, ec), port);
  if (ec) return "not an IP address: " + host;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "cannot listen on " + host_port + ": " + ec.message();
  return "";
}

std::string ListeningLine(const char* event, const std::string& host_port, uint16_t port,
                          std::optional<bool> tls) {
  std::string host;
  uint16_t ignored = 0;
  SplitHostPort(host_port, &host, &ignored);
  json::object out;
  out["event"] = event;
  out["host"] = host;
  out["port"] = port;
  if (tls) out["tls"] = *tls;
  return json::serialize(out);
}

}  // namespace

int RunSink(const SinkOptions& opt) {
  sigset_t signals = BlockStopSignals();

  SinkState state(opt);
  std::optional<Mode> start_mode = ParseMode(opt.mode);
  if (!start_mode) {
    std::cerr << "mailplane sink: unknown --mode " << opt.mode
              << " (normal, throttle, throttle-470, busy, block, greeting-421)\n";
    return 2;
  }
  if (*start_mode != Mode::kNormal) state.modes.Set(*start_mode, "", "");
  if (opt.listen.empty()) {
    std::cerr << "mailplane sink: no --listen address\n";
    return 2;
  }
  smtp::ServerOptions so;
  so.hostname = opt.hostname;
  so.banner = "ESMTP mailplane sink";
  so.max_message_bytes = opt.max_message_bytes;
  so.max_recipients = 1000;
  so.smtputf8 = true;
  std::unique_ptr<asio::ssl::context> tls;
  if (!opt.tls_cert.empty()) {
    std::string err;
    tls = smtp::MakeServerTlsContext(opt.tls_cert, opt.tls_key, &err);
    if (!tls) {
      std::cerr << "mailplane sink: " << err << "\n";
      return 2;
    }
    so.tls = tls.get();
  }
  if (!opt.maildir.empty()) {
    std::error_code ec;
    for (const char* sub : {"tmp", "new", "cur"}) {
      std::filesystem::create_directories(opt.maildir + "/" + sub, ec);
    }
    if (ec) {
      std::cerr << "mailplane sink: cannot create Maildir " << opt.maildir << ": " << ec.message()
                << "\n";
      return 2;
    }
  }
  asio::io_context io;
  std::vector<std::unique_ptr<smtp::SmtpListener>> listeners;
  for (const std::string& address : opt.listen) {
    auto listener = std::make_unique<smtp::SmtpListener>(
        io, so,
        [&state] {
          state.counts[kConnections]++;
          return std::make_unique<SinkHandler>(state);
        },
        100000);
    if (Status s = listener->Listen(address); !s.ok()) {
      std::cerr << "mailplane sink: " << s.error().detail << "\n";
      return 1;
    }
    listeners.push_back(std::move(listener));
  }
  state.port = listeners.front()->Port();
  tcp::acceptor control(io);
  if (!opt.control.empty()) {
    if (std::string err = BindControl(control, opt.control); !err.empty()) {
      std::cerr << "mailplane sink: " << err << "\n";
      return 1;
    }
    asio::co_spawn(control.get_executor(), AcceptControl(&control, &io, &state), asio::detached);
  }
  for (auto& l : listeners) l->Start();
  int threads = opt.threads > 0
                    ? opt.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  for (size_t i = 0; i < listeners.size(); ++i) {
    std::cout << ListeningLine("sink.listening", opt.listen[i], listeners[i]->Port(),
                               tls != nullptr)
              << std::endl;
  }
  if (control.is_open()) {
    std::cout << ListeningLine("sink.control", opt.control, control.local_endpoint().port(),
                               std::nullopt)
              << std::endl;
  }

  // Stats until a signal: sigtimedwait doubles as the interval timer.
  std::string last;
  for (;;) {
    timespec ts{opt.stats_interval_ms / 1000, (opt.stats_interval_ms % 1000) * 1000000L};
    int sig = sigtimedwait(&signals, nullptr, &ts);
    std::string line = StatsLine(state);
    if (line != last || sig > 0) {
      std::cout << line << std::endl;
      last = line;
    }
    if (sig > 0) break;
  }
  for (auto& l : listeners) l->Stop();
  io.stop();  // control connections end with it
  for (auto& t : pool) t.join();
  return 0;
}

}  // namespace mp
