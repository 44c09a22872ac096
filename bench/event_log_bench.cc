// mp_event_log_bench: the event log's write rate, and a large realistic store for measuring the
// message list (`GET /v1/messages`) against it. Driven by bench/event_log.sh; figures in
// docs/BENCHMARKS.md ("Event log").
//
//   write --dir D --events N --threads T --batch B [--inflight W] [--sync 0]
//     Commits N events through KvStore::Commit (group commit, default SpoolConfig: every group is
//     fsynced), B events a batch (one message's outcomes, as the delivery engine commits them),
//     from T threads with at most W batches waiting for their commit in all (the engine has
//     thousands of deliveries in flight). Prints events/s; then flushes and compacts the log
//     column and prints the bytes on disk per million events.
//   generate --dir D --events N --tenants K --days DAYS --big-tenant ID [--big-share F]
//            [--threads T] [--recipients-out FILE] [--compact] [--seed S]
//     Fills D/spool (the server's layout, so `mailplane serve --data-dir D` reads it) with about N
//     events: messages created over the last DAYS days, each written as the server writes it
//     (AddNewMessage at its creation time, then AddQueueMove to its next state and the outcome
//     events of each delivery round, committed when that round ends), for K tenants of skewed
//     sizes, tenant 0 (ID, created beforehand with `mailplane tenant create`) having the share F.
//     Written with spool.sync off (the data written is the same; only the fsync is skipped).
//     Writes a random sample of tenant 0's recipients to FILE for recipient lookups.
//   sizes --dir D
//     Opens D read-only (RocksDB directly) and prints each column's files on disk.
//
// Input: the command line only (a benchmark run by hand or by the script). Output: text on stdout.
// Thread-safety: a single-run program; the worker threads share only atomics and the store.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "core/id.h"
#include "core/metrics.h"
#include "store/event_log.h"
#include "store/kv.h"
#include "store/message_index.h"
#include "store/message_retention.h"
#include "store/spool.h"

namespace mp {
namespace {

using Steady = std::chrono::steady_clock;

double Seconds(Steady::time_point since) {
  return std::chrono::duration<double>(Steady::now() - since).count();
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// --name value pairs; a flag without a value ("--compact") reads as "1".
class Args {
 public:
  Args(int argc, char** argv) {
    for (int i = 2; i < argc; ++i) {
      std::string k = argv[i];
      if (k.rfind("--", 0) != 0) continue;
      k = k.substr(2);
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        values_[k] = argv[++i];
      } else {
        values_[k] = "1";
      }
    }
  }
  std::string Str(const std::string& k, const std::string& def = "") const {
    auto it = values_.find(k);
    return it == values_.end() ? def : it->second;
  }
  int64_t Int(const std::string& k, int64_t def) const {
    auto it = values_.find(k);
    return it == values_.end() ? def : std::strtoll(it->second.c_str(), nullptr, 10);
  }
  double Real(const std::string& k, double def) const {
    auto it = values_.find(k);
    return it == values_.end() ? def : std::strtod(it->second.c_str(), nullptr);
  }

 private:
  std::map<std::string, std::string> values_;
};

// splitmix64: fast, and seeded per message so the data does not depend on the thread count.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : Next() % n; }
  double Unit() { return static_cast<double>(Next() >> 11) / 9007199254740992.0; }
  bool Chance(double p) { return Unit() < p; }

 private:
  uint64_t s_;
};

std::string Hex(uint64_t v, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = kDigits[v & 15];
  return s;
}

// Tenant ids shaped like the server's ("tn_" + 26-character ULID).
std::string SyntheticTenantId(uint64_t seed, int index) {
  Rng r(seed * 7919 + static_cast<uint64_t>(index));
  MessageId id;
  uint64_t a = r.Next(), b = r.Next();
  for (int i = 0; i < 8; ++i) {
    id.bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(a >> (56 - 8 * i));
    id.bytes[static_cast<size_t>(8 + i)] = static_cast<uint8_t>(b >> (56 - 8 * i));
  }
  id.bytes[0] = 0x01;  // a 2026-ish time prefix
  return "tn_" + id.ToString();
}

constexpr std::string_view kFirst[] = {"james",    "mary",    "robert", "patricia", "john",
                                       "jennifer", "michael", "linda",  "david",    "elizabeth",
                                       "sofia",    "lucas",   "emma",   "noah",     "olivia",
                                       "liam",     "ava",     "mateo",  "yuki",     "wei"};
constexpr std::string_view kLast[] = {"smith",  "johnson", "williams", "brown",  "jones",
                                      "garcia", "miller",  "davis",    "martin", "lopez",
                                      "muller", "schmidt", "rossi",    "tanaka", "chen",
                                      "kim",    "silva",   "dubois",   "novak",  "khan"};
// Popular mailbox providers take most recipients; the rest are spread over many domains.
constexpr std::string_view kProviders[] = {
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com",
    "gmx.de",    "web.de",    "orange.fr",   "comcast.net", "proton.me",  "yandex.ru"};
constexpr std::string_view kTags[] = {"receipt",  "welcome", "password-reset", "invoice",
                                      "shipping", "digest",  "alert",          "reminder"};

// Recipient k of a tenant: always the same address for the same (tenant, k).
std::string RecipientAddress(int tenant, uint64_t k) {
  Rng r((static_cast<uint64_t>(tenant) << 40) ^ (k * 0x2545f4914f6cdd1dull));
  std::string a(kFirst[r.Below(std::size(kFirst))]);
  a += '.';
  a += kLast[r.Below(std::size(kLast))];
  a += std::to_string(k);
  a += '@';
  if (r.Chance(0.75)) {
    a += kProviders[r.Below(std::size(kProviders))];
  } else {
    a += "corp" + std::to_string(r.Below(20000)) + ".example.com";
  }
  return a;
}

std::string MxOf(std::string_view address) {
  std::string_view domain = address.substr(address.find('@') + 1);
  return "mx1." + std::string(domain);
}

std::string ReplyIp(Rng& r) {
  return "198.51." + std::to_string(r.Below(256)) + "." + std::to_string(1 + r.Below(254));
}

// Reply texts of about 60 bytes, as mailbox providers send them.
std::string DeliveredText(Rng& r) {
  return "OK " + std::to_string(1700000000 + r.Below(100000000)) + " " + Hex(r.Next(), 12) + "." +
         std::to_string(r.Below(1000)) + " - gsmtp; message accepted";
}
std::string BouncedText(Rng& r) {
  return "The email account that you tried to reach does not exist. " + Hex(r.Next(), 6);
}
std::string DeferredText(Rng& r) {
  return "Try again later, too many connections from your IP (RCPT) " + Hex(r.Next(), 6);
}

std::string Metadata(Rng& r) {
  return R"({"order_id":"A)" + std::to_string(1000000 + r.Below(9000000)) + R"(","customer":"c-)" +
         std::to_string(100000 + r.Below(900000)) + R"("})";
}

std::vector<std::string> Tags(Rng& r) {
  std::vector<std::string> tags;
  size_t n = r.Below(3);  // 0, 1 or 2
  for (size_t i = 0; i < n; ++i) tags.emplace_back(kTags[r.Below(std::size(kTags))]);
  if (n == 2 && tags[0] == tags[1]) tags.pop_back();
  return tags;
}

// The sync time histogram the store's writer keeps (same name and bounds as rocksdb_kv.cc).
Histogram& SyncHistogram() {
  return Metrics::Global().GetHistogram(
      "mailplane_spool_sync_seconds", "Time of one group-commit write with sync",
      {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1});
}

// Bounds the batches committed but not yet durable (the server's callers are bounded the same
// way, by their connections and the delivery window). Release runs on the store's writer thread,
// so it is an atomic decrement and a notify, without a lock.
class InFlight {
 public:
  explicit InFlight(int64_t max) : max_(max) {}
  void Acquire() {
    int64_t cur = n_.load();
    for (;;) {
      if (cur >= max_) {
        n_.wait(cur);
        cur = n_.load();
      } else if (n_.compare_exchange_weak(cur, cur + 1)) {
        return;
      }
    }
  }
  void Release(const Status& s) {
    if (!s.ok()) {
      std::lock_guard lock(mu_);
      if (first_error_.empty()) first_error_ = s.error().detail;
    }
    n_.fetch_sub(1);
    n_.notify_all();
  }
  void Drain() {
    for (int64_t cur = n_.load(); cur != 0; cur = n_.load()) n_.wait(cur);
  }
  std::string Error() {
    std::lock_guard lock(mu_);
    return first_error_;
  }

 private:
  std::atomic<int64_t> n_{0};
  const int64_t max_;
  std::mutex mu_;
  std::string first_error_;
};

// Commits batch once a slot is free. With at most `max` batches waiting, the store never refuses
// with kOverloaded (spool.max_pending_writes is 65,536); if it did, the run reports the error.
void CommitBounded(KvStore& kv, InFlight& inflight, WriteBatch batch) {
  inflight.Acquire();
  kv.Commit(std::move(batch), [&inflight](Status s) { inflight.Release(s); });
}

struct DirSizes {
  uint64_t sst = 0, blob = 0, wal = 0, other = 0;
  uint64_t Total() const { return sst + blob + wal + other; }
};

DirSizes MeasureDir(const std::string& dir) {
  DirSizes d;
  std::error_code ec;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (!f.is_regular_file()) continue;
    uint64_t n = f.file_size();
    std::string ext = f.path().extension().string();
    if (ext == ".sst") {
      d.sst += n;
    } else if (ext == ".blob") {
      d.blob += n;
    } else if (ext == ".log" && f.path().filename().string().find("LOG") == std::string::npos) {
      d.wal += n;
    } else {
      d.other += n;
    }
  }
  return d;
}

std::string Mb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

std::vector<std::string> TenantIds(int tenants, uint64_t seed, const std::string& first) {
  std::vector<std::string> ids;
  for (int i = 0; i < tenants; ++i) {
    ids.push_back(i == 0 && !first.empty() ? first : SyntheticTenantId(seed, i));
  }
  return ids;
}

// ---- write ----------------------------------------------------------------------------------

int RunWrite(const Args& a) {
  const std::string dir = a.Str("dir");
  const int64_t events = a.Int("events", 1000000);
  const int threads = static_cast<int>(a.Int("threads", 2));
  const int64_t per_batch = std::max<int64_t>(1, a.Int("batch", 10));
  const int64_t inflight_max = a.Int("inflight", 4096);
  const int tenants = static_cast<int>(a.Int("tenants", 1000));
  if (dir.empty() || events <= 0 || threads <= 0) {
    std::cerr << "write: --dir D --events N --threads T --batch B [--inflight W]\n";
    return 2;
  }
  std::filesystem::create_directories(dir);
  SpoolConfig config;                   // the defaults: sync on
  config.sync = a.Int("sync", 1) != 0;  // --sync 0 only to see what the fsync costs
  auto opened = OpenRocksDbStore(dir, config);
  if (!opened.ok()) {
    std::cerr << opened.error().detail << "\n";
    return 1;
  }
  KvStore& kv = *opened.value();
  const std::vector<std::string> ids = TenantIds(tenants, 1, "");
  const int64_t batches = (events + per_batch - 1) / per_batch;
  std::atomic<int64_t> next_batch{0};
  InFlight inflight(inflight_max);
  Histogram& syncs = SyncHistogram();
  const uint64_t syncs_before = syncs.Counts().back();
  const double sync_secs_before = syncs.Sum();

  auto start = Steady::now();
  double cpu0 = CpuSeconds();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      Rng r(0x1234 + static_cast<uint64_t>(t));
      for (int64_t b; (b = next_batch.fetch_add(1)) < batches;) {
        const int64_t n = std::min(per_batch, events - b * per_batch);
        int tenant = static_cast<int>(r.Below(static_cast<uint64_t>(tenants)));
        MessageId message = NewId(Clock::System());
        std::vector<std::string> tags = Tags(r);
        std::string metadata = Metadata(r);
        WriteBatch batch;
        for (int64_t i = 0; i < n; ++i) {
          Event e;
          e.id = NewId(Clock::System());
          e.at_ms = Clock::System().NowMs();
          e.tenant = ids[static_cast<size_t>(tenant)];
          e.message = message;
          e.recipient = RecipientAddress(tenant, r.Below(100000));
          double u = r.Unit();
          e.type = u < 0.90 ? "delivered" : u < 0.95 ? "bounced" : "deferred";
          e.pool = "default";
          e.source = "src-" + std::to_string(1 + r.Below(4));
          e.mx = MxOf(e.recipient);
          e.site = "mx:" + e.mx;
          e.ip = ReplyIp(r);
          if (e.type == "delivered") {
            e.code = 250, e.enhanced = "2.0.0", e.text = DeliveredText(r);
          } else if (e.type == "bounced") {
            e.code = 550, e.enhanced = "5.1.1", e.text = BouncedText(r);
            e.category = "invalid_recipient";
          } else {
            e.code = 421, e.enhanced = "4.7.0", e.text = DeferredText(r);
            e.category = "throttled";
          }
          e.tags = tags;
          e.metadata_json = metadata;
          AddEvent(batch, e);
        }
        CommitBounded(kv, inflight, std::move(batch));
      }
    });
  }
  for (auto& th : pool) th.join();
  inflight.Drain();
  const double secs = Seconds(start);
  const double cpu = CpuSeconds() - cpu0;
  if (!inflight.Error().empty()) {
    std::cerr << "commit failed: " << inflight.Error() << "\n";
    return 1;
  }
  const uint64_t groups = syncs.Counts().back() - syncs_before;
  const double sync_secs = syncs.Sum() - sync_secs_before;
  std::printf(
      "WRITE events=%lld batch=%lld threads=%d inflight=%lld sync=%d seconds=%.2f "
      "events_per_sec=%.0f "
      "batches_per_sec=%.0f synced_groups=%llu events_per_sync=%.1f mean_sync_ms=%.2f "
      "cpu_seconds=%.2f cpu_us_per_event=%.2f\n",
      static_cast<long long>(events), static_cast<long long>(per_batch), threads,
      static_cast<long long>(inflight_max), config.sync ? 1 : 0, secs,
      static_cast<double>(events) / secs, static_cast<double>(batches) / secs,
      static_cast<unsigned long long>(groups),
      groups ? static_cast<double>(events) / static_cast<double>(groups) : 0.0,
      groups ? sync_secs * 1000 / static_cast<double>(groups) : 0.0, cpu,
      cpu * 1e6 / static_cast<double>(events));
  std::fflush(stdout);

  auto c0 = Steady::now();
  Status s = kv.Compact(Column::kLog);  // flushes the memtable, then rewrites the column
  if (!s.ok()) {
    std::cerr << "compact: " << s.error().detail << "\n";
    return 1;
  }
  const double compact_secs = Seconds(c0);
  kv.Close();
  opened.value().reset();
  DirSizes d = MeasureDir(dir);
  const double millions = static_cast<double>(events) / 1e6;
  std::printf(
      "DISK events=%lld compact_seconds=%.1f dir_bytes=%llu sst_bytes=%llu wal_bytes=%llu "
      "other_bytes=%llu sst_bytes_per_million_events=%.0f (%s) dir_bytes_per_million=%.0f\n",
      static_cast<long long>(events), compact_secs, static_cast<unsigned long long>(d.Total()),
      static_cast<unsigned long long>(d.sst), static_cast<unsigned long long>(d.wal),
      static_cast<unsigned long long>(d.other), static_cast<double>(d.sst) / millions,
      Mb(static_cast<uint64_t>(static_cast<double>(d.sst) / millions)).c_str(),
      static_cast<double>(d.Total()) / millions);
  return 0;
}

// ---- generate -------------------------------------------------------------------------------

// The shape of the generated data; every probability here is stated in docs/BENCHMARKS.md.
constexpr size_t kBodyBytes = 300;
constexpr double kTwoRecipients = 0.10, kThreeRecipients = 0.05;  // else one
constexpr double kDeferredFirst = 0.08;      // a recipient's first attempt is deferred
constexpr double kBounced = 0.05;            // a recipient's final outcome is a bounce
constexpr double kMessagesPerRecipient = 5;  // a tenant's recipients get 5 messages on average
constexpr int kMessagesPerBatch = 64;

double ExpectedEventsPerMessage() {
  double recipients = 1 + kTwoRecipients + 2 * kThreeRecipients;
  return 1 + recipients * (1 + kDeferredFirst);
}

struct Plan {
  int64_t start_ms = 0, span_ms = 0;
  uint64_t messages = 0;
  uint64_t seed = 0;
  std::vector<std::string> tenants;
  std::vector<std::string> domains;  // each tenant's sending domain
  std::vector<double> cdf;           // for choosing a message's tenant
  std::vector<uint64_t> population;  // each tenant's distinct recipients
};

Plan MakePlan(const Args& a, int64_t now_ms) {
  Plan p;
  const int64_t events = a.Int("events", 1000000);
  const int tenants = static_cast<int>(std::max<int64_t>(2, a.Int("tenants", 1000)));
  const double big = a.Real("big-share", 0.05);
  p.seed = static_cast<uint64_t>(a.Int("seed", 42));
  p.span_ms = a.Int("days", 30) * 86400000;
  p.start_ms = now_ms - p.span_ms;
  p.span_ms -= 60000;  // the newest message a minute ago
  p.messages = static_cast<uint64_t>(static_cast<double>(events) / ExpectedEventsPerMessage());
  p.tenants = TenantIds(tenants, p.seed, a.Str("big-tenant"));
  // Tenant 0 has share `big`; the others a Zipf-like share ~ 1/sqrt(rank), so the largest of them
  // has about 1.5 % of the messages and the smallest 0.05 % (for 1000 tenants).
  std::vector<double> w(static_cast<size_t>(tenants));
  double rest = 0;
  for (int i = 1; i < tenants; ++i) rest += 1 / std::sqrt(static_cast<double>(i));
  w[0] = big;
  for (int i = 1; i < tenants; ++i) w[static_cast<size_t>(i)] = (1 - big) / std::sqrt(i) / rest;
  double acc = 0;
  const double recipients_per_message = 1 + kTwoRecipients + 2 * kThreeRecipients;
  for (int i = 0; i < tenants; ++i) {
    acc += w[static_cast<size_t>(i)];
    p.cdf.push_back(acc);
    double slots =
        w[static_cast<size_t>(i)] * static_cast<double>(p.messages) * recipients_per_message;
    p.population.push_back(
        std::max<uint64_t>(10, static_cast<uint64_t>(slots / kMessagesPerRecipient)));
    p.domains.push_back(i == 0 ? "big-sender.example.com"
                               : "sender" + std::to_string(i) + ".example.com");
  }
  p.cdf.back() = 1.0;
  return p;
}

// A delivery round still to be committed: at at_ms, the message's recipients get their outcome.
struct Round {
  int64_t at_ms;
  uint64_t message;  // index, for a stable order
  bool operator>(const Round& o) const {
    return at_ms != o.at_ms ? at_ms > o.at_ms : message > o.message;
  }
};

// A message between its rounds: every recipient is first tried in round 1 (at first_ms); those
// deferred there are tried again, all at retry_ms, in round 2.
struct Pending {
  Envelope env;
  int tenant = 0;
  int64_t due_ms = 0;     // the time of its queue entry
  int64_t first_ms = 0;   // round 1
  int64_t retry_ms = -1;  // round 2, -1 when no recipient is deferred
  std::vector<bool> deferred_first, bounced;
  bool first_round_done = false;
};

using RoundQueue = std::priority_queue<Round, std::vector<Round>, std::greater<>>;

class Generator {
 public:
  Generator(KvStore& kv, const Plan& plan, InFlight& inflight)
      : kv_(kv), plan_(plan), inflight_(inflight) {}

  // Takes chunks of kMessagesPerBatch consecutive messages (in creation order) until none is left;
  // each chunk is one commit with its new messages and the rounds of this thread's earlier
  // messages that ended before them.
  void Worker(std::atomic<uint64_t>& next_chunk, std::vector<std::string>& sample) {
    const uint64_t chunks = (plan_.messages + kMessagesPerBatch - 1) / kMessagesPerBatch;
    RoundQueue rounds;
    std::map<uint64_t, Pending> pending;
    for (uint64_t c; (c = next_chunk.fetch_add(1)) < chunks;) {
      WriteBatch batch;
      const uint64_t end = std::min(plan_.messages, (c + 1) * kMessagesPerBatch);
      int64_t events = 0;
      for (uint64_t m = c * kMessagesPerBatch; m < end; ++m) {
        Pending p = NewMessage(m, sample);
        events += FlushRounds(batch, rounds, pending, p.env.created_ms);
        AddNewMessage(batch, p.env, Body(p.env));  // records that it is indexed under its status
        ++events;                                  // its accepted event
        rounds.push({p.first_ms, m});
        pending.emplace(m, std::move(p));
      }
      CommitBounded(kv_, inflight_, std::move(batch));
      events_.fetch_add(events);
      messages_.fetch_add(end - c * kMessagesPerBatch);
    }
    // The rounds still open, in commits of about the same size.
    while (!rounds.empty()) {
      WriteBatch batch;
      int64_t events = 0;
      for (int i = 0; i < kMessagesPerBatch && !rounds.empty(); ++i) {
        events += FlushRounds(batch, rounds, pending, rounds.top().at_ms);
      }
      CommitBounded(kv_, inflight_, std::move(batch));
      events_.fetch_add(events);
    }
  }

  int64_t events() const { return events_.load(); }
  uint64_t messages() const { return messages_.load(); }

 private:
  Pending NewMessage(uint64_t m, std::vector<std::string>& sample) {
    Rng r(plan_.seed * 0x9e3779b97f4a7c15ull + m);
    Pending p;
    p.tenant = static_cast<int>(std::lower_bound(plan_.cdf.begin(), plan_.cdf.end(), r.Unit()) -
                                plan_.cdf.begin());
    const std::string& domain = plan_.domains[static_cast<size_t>(p.tenant)];
    const int64_t created =
        plan_.start_ms + static_cast<int64_t>((static_cast<double>(m) + r.Unit()) *
                                              static_cast<double>(plan_.span_ms) /
                                              static_cast<double>(plan_.messages));
    ManualClock clock(created);
    Envelope& e = p.env;
    e.id = NewId(clock);
    e.tenant_id = plan_.tenants[static_cast<size_t>(p.tenant)];
    static constexpr std::string_view kSenders[] = {"notifications", "no-reply", "billing"};
    e.mail_from = std::string(kSenders[r.Below(3)]) + "@" + domain;
    e.subject = "Your order A" + std::to_string(1000000 + r.Below(9000000)) + " has shipped";
    e.message_id = e.id.ToString() + "@" + domain;
    e.status = MessageStatus::kQueued;
    e.created_ms = e.send_at_ms = e.updated_ms = created;
    e.size = kBodyBytes;
    e.tags = Tags(r);
    e.metadata_json = Metadata(r);
    e.source = "http";
    const double k = r.Unit();
    const int n = k < kThreeRecipients ? 3 : k < kThreeRecipients + kTwoRecipients ? 2 : 1;
    const uint64_t population = plan_.population[static_cast<size_t>(p.tenant)];
    bool any_deferred = false;
    for (int i = 0; i < n; ++i) {
      RecipientRecord rr;
      rr.address = RecipientAddress(p.tenant, r.Below(population));
      rr.kind = i == 0 ? RecipientKind::kTo : RecipientKind::kCc;
      if (p.tenant == 0 && r.Chance(0.01)) sample.push_back(rr.address);
      p.deferred_first.push_back(r.Chance(kDeferredFirst));
      p.bounced.push_back(r.Chance(kBounced));
      any_deferred = any_deferred || p.deferred_first.back();
      e.recipients.push_back(std::move(rr));
    }
    // Round 1 ends 0.2 to 5 s after creation; a deferred recipient is retried 5 to 30 minutes
    // later.
    p.due_ms = created;
    p.first_ms = created + 200 + static_cast<int64_t>(r.Below(4800));
    if (any_deferred) p.retry_ms = p.first_ms + 300000 + static_cast<int64_t>(r.Below(1500000));
    return p;
  }

  // A 300-byte message: headers and a short text.
  static std::string Body(const Envelope& e) {
    std::string b = "From: <" + e.mail_from + ">\r\nTo: <" + e.recipients[0].address +
                    ">\r\nSubject: " + e.subject + "\r\nMessage-ID: <" + e.message_id +
                    ">\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
    while (b.size() < kBodyBytes) b += "Your parcel is on its way and will arrive soon. ";
    b.resize(kBodyBytes);
    return b;
  }

  // Adds to batch every round that ended at or before until_ms; returns the events added.
  int64_t FlushRounds(WriteBatch& batch, RoundQueue& rounds, std::map<uint64_t, Pending>& pending,
                      int64_t until_ms) {
    int64_t events = 0;
    while (!rounds.empty() && rounds.top().at_ms <= until_ms) {
      const Round round = rounds.top();
      rounds.pop();
      auto it = pending.find(round.message);
      events += DeliveryRound(batch, it->second, round.at_ms);
      if (it->second.retry_ms >= 0 && AnyPending(it->second.env)) {
        rounds.push({it->second.retry_ms, round.message});
      } else {
        pending.erase(it);
      }
    }
    return events;
  }

  // One delivery round as the engine commits it: each pending recipient gets its attempt and new
  // state, the envelope is written with its queue entry moved to the retry time (or deleted once
  // nothing is pending) and its status index entry moved, and one event per recipient outcome.
  int64_t DeliveryRound(WriteBatch& batch, Pending& p, int64_t at_ms) {
    Envelope& e = p.env;
    Rng r(plan_.seed ^ (static_cast<uint64_t>(at_ms) * 0x94d049bb133111ebull) ^ e.id.bytes[15]);
    ManualClock clock(at_ms);
    std::vector<Event> events;
    for (size_t i = 0; i < e.recipients.size(); ++i) {
      RecipientRecord& rr = e.recipients[i];
      if (!rr.Pending()) continue;
      const bool defer = !p.first_round_done && p.deferred_first[i];
      Attempt att;
      att.at_ms = at_ms;
      att.mx = MxOf(rr.address);
      att.ip = ReplyIp(r);
      att.tls_version = "TLSv1.3";
      att.tls_cipher = "TLS_AES_256_GCM_SHA384";
      att.pool = "default";
      att.source = "src-" + std::to_string(1 + r.Below(4));
      att.site = "mx:" + att.mx;
      std::string type, category;
      if (defer) {
        att.code = 421, att.enhanced = "4.7.0", att.text = DeferredText(r);
        rr.status = RecipientStatus::kDeferred;
        rr.next_attempt_ms = p.retry_ms;
        type = "deferred", category = "throttled";
      } else if (p.bounced[i]) {
        att.code = 550, att.enhanced = "5.1.1", att.text = BouncedText(r);
        rr.status = RecipientStatus::kBounced;
        rr.reason = "rejected";
        rr.next_attempt_ms = 0;
        type = "bounced", category = "invalid_recipient";
      } else {
        att.code = 250, att.enhanced = "2.0.0", att.text = DeliveredText(r);
        rr.status = RecipientStatus::kDelivered;
        rr.next_attempt_ms = 0;
        type = "delivered";
      }
      ++rr.attempts_total;
      Event ev = MakeEvent(e, type, rr.address, clock, at_ms);
      ev.pool = att.pool;
      ev.source = att.source;
      ev.site = att.site;
      ev.mx = att.mx;
      ev.ip = att.ip;
      ev.code = att.code;
      ev.enhanced = att.enhanced;
      ev.text = att.text;
      ev.category = category;
      rr.attempts.push_back(std::move(att));
      events.push_back(std::move(ev));
    }
    p.first_round_done = true;
    e.status = DeriveStatus(e);
    e.updated_ms = at_ms;
    const int64_t next_due = AnyPending(e) ? p.retry_ms : -1;
    AddQueueMove(batch, e, p.due_ms, next_due);
    p.due_ms = next_due;
    for (const Event& ev : events) AddEvent(batch, ev);
    return static_cast<int64_t>(events.size());
  }

  KvStore& kv_;
  const Plan& plan_;
  InFlight& inflight_;
  std::atomic<int64_t> events_{0};
  std::atomic<uint64_t> messages_{0};
};

int RunGenerate(const Args& a) {
  const std::string data_dir = a.Str("dir");
  const int threads = static_cast<int>(a.Int("threads", 1));
  if (data_dir.empty() || a.Str("big-tenant").empty()) {
    std::cerr << "generate: --dir D --events N --tenants K --days DAYS --big-tenant ID\n";
    return 2;
  }
  const int64_t now_ms = Clock::System().NowMs();
  Plan plan = MakePlan(a, now_ms);
  SpoolConfig config;
  config.sync = a.Int("sync", 0) != 0;
  auto opened = OpenRocksDbStore(data_dir + "/spool", config);
  if (!opened.ok()) {
    std::cerr << opened.error().detail << "\n";
    return 1;
  }
  KvStore& kv = *opened.value();
  std::printf(
      "GENERATE target_events=%lld messages=%llu tenants=%zu big_tenant=%s big_share=%.3f "
      "days=%lld from=%s to=%s body_bytes=%zu sync=%d threads=%d\n",
      static_cast<long long>(a.Int("events", 1000000)),
      static_cast<unsigned long long>(plan.messages), plan.tenants.size(), plan.tenants[0].c_str(),
      a.Real("big-share", 0.05), static_cast<long long>(a.Int("days", 30)),
      FormatRfc3339(plan.start_ms).c_str(), FormatRfc3339(plan.start_ms + plan.span_ms).c_str(),
      kBodyBytes, config.sync ? 1 : 0, threads);
  std::fflush(stdout);

  InFlight inflight(256);
  Generator gen(kv, plan, inflight);
  std::atomic<uint64_t> next_chunk{0};
  std::vector<std::vector<std::string>> samples(static_cast<size_t>(threads));
  auto start = Steady::now();
  std::atomic<bool> done{false};
  std::thread progress([&] {
    int ticks = 0;
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (++ticks % 150 != 0 || done) continue;  // every 30 s
      double s = Seconds(start);
      StoreStats st = kv.Stats();
      std::printf(
          "progress seconds=%.0f messages=%llu events=%lld events_per_sec=%.0f "
          "store_bytes=%llu\n",
          s, static_cast<unsigned long long>(gen.messages()), static_cast<long long>(gen.events()),
          static_cast<double>(gen.events()) / s, static_cast<unsigned long long>(st.disk_bytes));
      std::fflush(stdout);
    }
  });
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] { gen.Worker(next_chunk, samples[static_cast<size_t>(t)]); });
  }
  for (auto& th : pool) th.join();
  inflight.Drain();
  done = true;
  progress.join();
  const double secs = Seconds(start);
  if (!inflight.Error().empty()) {
    std::cerr << "commit failed: " << inflight.Error() << "\n";
    return 1;
  }
  std::printf("GENERATED messages=%llu events=%lld seconds=%.0f events_per_sec=%.0f\n",
              static_cast<unsigned long long>(gen.messages()), static_cast<long long>(gen.events()),
              secs, static_cast<double>(gen.events()) / secs);
  std::fflush(stdout);
  // Every message went through AddNewMessage with its retention entry: the server need not
  // backfill the index when it opens the store.
  if (Status s = MarkRetentionIndexComplete(kv); !s.ok()) {
    std::cerr << "mark retention index: " << s.error().detail << "\n";
    return 1;
  }

  if (a.Int("compact", 0) != 0) {
    for (Column c : {Column::kEnvelope, Column::kBody, Column::kQueue, Column::kLog}) {
      auto c0 = Steady::now();
      Status s = kv.Compact(c);
      if (!s.ok()) {
        std::cerr << "compact: " << s.error().detail << "\n";
        return 1;
      }
      std::printf("COMPACTED column=%s seconds=%.0f\n", std::string(ColumnName(c)).c_str(),
                  Seconds(c0));
      std::fflush(stdout);
    }
  }
  kv.Close();
  opened.value().reset();

  if (std::string out = a.Str("recipients-out"); !out.empty()) {
    std::vector<std::string> all;
    for (auto& s : samples) all.insert(all.end(), s.begin(), s.end());
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    Rng r(plan.seed);
    for (size_t i = all.size(); i > 1; --i) std::swap(all[i - 1], all[r.Below(i)]);
    if (all.size() > 20000) all.resize(20000);
    std::ofstream f(out);
    for (const auto& s : all) f << s << "\n";
    std::printf("SAMPLE recipients=%zu file=%s\n", all.size(), out.c_str());
  }
  DirSizes d = MeasureDir(data_dir);
  std::printf(
      "DISK dir_bytes=%llu sst_bytes=%llu blob_bytes=%llu wal_bytes=%llu other_bytes=%llu "
      "dir_bytes_per_million_events=%.0f\n",
      static_cast<unsigned long long>(d.Total()), static_cast<unsigned long long>(d.sst),
      static_cast<unsigned long long>(d.blob), static_cast<unsigned long long>(d.wal),
      static_cast<unsigned long long>(d.other),
      static_cast<double>(d.Total()) / (static_cast<double>(gen.events()) / 1e6));
  return 0;
}

// ---- sizes ----------------------------------------------------------------------------------

int RunSizes(const Args& a) {
  const std::string dir = a.Str("dir");
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names);
  if (!s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 1;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir, cfs, &handles, &raw);
  if (!s.ok()) {
    std::cerr << s.ToString() << "\n";
    return 1;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  for (size_t i = 0; i < handles.size(); ++i) {
    uint64_t sst = 0, blob = 0, keys = 0;
    db->GetIntProperty(handles[i], "rocksdb.total-sst-files-size", &sst);
    db->GetIntProperty(handles[i], "rocksdb.total-blob-file-size", &blob);
    db->GetIntProperty(handles[i], "rocksdb.estimate-num-keys", &keys);
    std::printf("COLUMN name=%s sst_bytes=%llu blob_bytes=%llu estimated_keys=%llu\n",
                names[i].c_str(), static_cast<unsigned long long>(sst),
                static_cast<unsigned long long>(blob), static_cast<unsigned long long>(keys));
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  return 0;
}

}  // namespace
}  // namespace mp

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  mp::Args args(argc, argv);
  if (cmd == "write") return mp::RunWrite(args);
  if (cmd == "generate") return mp::RunGenerate(args);
  if (cmd == "sizes") return mp::RunSizes(args);
  std::cerr << "usage: mp_event_log_bench write|generate|sizes --dir D ...\n";
  return 2;
}
