#include "app/sink.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "app/commands.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "smtp/listener.h"

namespace mp {
namespace asio = boost::asio;
namespace {

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
  kMessages,
  kBytes,
  kConnections,
  kCount
};
constexpr std::array<const char*, kCount> kNames = {
    "accepted_rcpts", "success", "bounce",     "defer_451",       "defer_accepted",
    "tempfail",       "reject",  "slow",       "random_tempfail", "random_bounce",
    "messages",       "bytes",   "connections"};

struct SinkState {
  const SinkOptions& opt;
  std::array<std::atomic<uint64_t>, kCount> counts{};
  std::mutex defer_mu;
  std::unordered_map<std::string, int> defer_seen;  // address -> 451s given
  std::atomic<uint64_t> maildir_seq{0};
  explicit SinkState(const SinkOptions& o) : opt(o) {}
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

  smtp::ServerReply OnRcpt(const std::string& rcpt) override {
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
    return Count(kAccepted, {250, "2.1.5 Ok"});
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
        co_return Count(kReject, {554, "5.7.1 message rejected (sink)"});
      }
    }
    s_.counts[kMessages]++;
    s_.counts[kBytes] += message.size();
    if (!s_.opt.maildir.empty()) WriteMaildir(from, rcpts, message);
    co_return smtp::ServerReply{250, "2.0.0 Ok: queued as " + NewId(Clock::System()).ToString()};
  }

 private:
  smtp::ServerReply Count(Behaviour b, smtp::ServerReply r) {
    s_.counts[b]++;
    return r;
  }

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
};

std::string StatsLine(SinkState& s, uint16_t port) {
  std::string out = "{\"event\":\"sink.stats\",\"port\":" + std::to_string(port);
  for (int i = 0; i < kCount; ++i) {
    out += ",\"" + std::string(kNames[i]) + "\":" + std::to_string(s.counts[i].load());
  }
  return out + "}";
}

}  // namespace

int RunSink(const SinkOptions& opt) {
  sigset_t signals = BlockStopSignals();

  SinkState state(opt);
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
  smtp::SmtpListener listener(
      io, so,
      [&state] {
        state.counts[kConnections]++;
        return std::make_unique<SinkHandler>(state);
      },
      100000);
  if (Status s = listener.Listen(opt.listen); !s.ok()) {
    std::cerr << "mailplane sink: " << s.error().detail << "\n";
    return 1;
  }
  listener.Start();
  int threads = opt.threads > 0
                    ? opt.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto work = asio::make_work_guard(io);
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  std::string host = opt.listen.substr(0, opt.listen.rfind(':'));
  std::cout << "{\"event\":\"sink.listening\",\"host\":\"" << host
            << "\",\"port\":" << listener.Port() << ",\"tls\":" << (tls ? "true" : "false") << "}"
            << std::endl;

  // Stats until a signal: sigtimedwait doubles as the interval timer.
  std::string last;
  for (;;) {
    timespec ts{opt.stats_interval_ms / 1000, (opt.stats_interval_ms % 1000) * 1000000L};
    int sig = sigtimedwait(&signals, nullptr, &ts);
    std::string line = StatsLine(state, listener.Port());
    if (line != last || sig > 0) {
      std::cout << line << std::endl;
      last = line;
    }
    if (sig > 0) break;
  }
  listener.Stop();
  io.stop();
  for (auto& t : pool) t.join();
  return 0;
}

}  // namespace mp
