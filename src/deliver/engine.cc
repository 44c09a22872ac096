#include "deliver/engine.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "core/ascii.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "deliver/fair_queue.h"
#include "deliver/route.h"
#include "feedback/classify.h"
#include "net/resolver.h"
#include "queue/retry.h"
#include "route/egress_service.h"
#include "route/shaping.h"
#include "smtp/client_session.h"
#include "store/event_log.h"
#include "store/spool.h"
#include "store/suppression.h"

namespace mp {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

double Uniform() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::uniform_real_distribution<double>(0, 1)(rng);
}

// Any byte >= 0x80, eight bytes at a time.
bool HasEightBit(std::string_view s) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (w & 0x8080808080808080ull) return true;
  }
  for (; i < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) >= 0x80) return true;
  }
  return false;
}

smtp::Reply MakeReply(int code, smtp::EnhancedCode enhanced, std::string text) {
  smtp::Reply r;
  r.code = code;
  r.enhanced = enhanced;
  r.lines = {std::move(text)};
  return r;
}

std::string JoinLines(const smtp::Reply& r) {
  std::string out;
  for (const auto& l : r.lines) {
    if (!out.empty()) out.push_back(' ');
    out += l;
  }
  return out;
}

// Turns a callback API into an awaitable without a coroutine frame of its own (GCC 12 is fragile
// with temporaries across co_await in lambdas).
template <typename R, typename Start>
asio::awaitable<R> AwaitCallback(Start start) {
  auto initiate = [start = std::move(start)](auto handler) mutable {
    using H = decltype(handler);
    auto h = std::make_shared<H>(std::move(handler));
    auto ex = asio::get_associated_executor(*h);
    start([h, ex](R result) mutable {
      asio::post(ex,
                 [h, result = std::move(result)]() mutable { std::move (*h)(std::move(result)); });
    });
  };
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(R)>(initiate,
                                                                       asio::use_awaitable);
}

struct ActiveMessage {
  std::string tenant;  // immutable, like due
  int64_t due = 0;     // the queue entry it was taken from
  std::mutex mu;
  bool committing = false;  // a commit of this message is in flight
  bool dirty = false;       // its state changed since that commit was built
  Envelope env;
  int outstanding = 0;  // jobs not finished yet
  // Events of outcomes not yet written, and those in the commit in flight (put back in front if
  // it fails): every event is written exactly once, with the state change it describes.
  std::vector<Event> events, events_in_flight;
};

struct Job {
  std::shared_ptr<ActiveMessage> msg;
  std::vector<size_t> rcpts;  // indices into msg->env.recipients
  std::string domain;
  std::string tenant;
  std::string pool, source;  // egress pool and source
  std::string health_site;   // the destination site (MX set) pool health is counted for
};

// What one attempt decided for one recipient of a job.
struct Outcome {
  smtp::RecipientOutcome result = smtp::RecipientOutcome::kTransient;
  smtp::Reply reply;
};

// Where an attempt went, for the attempt records.
struct AttemptPlace {
  std::string mx, ip, tls_version, tls_cipher;
};

struct Site {
  std::mutex mu;
  Destination dest;
  smtp::ClientOptions options;
  FairQueue<Job> ready;  // per tenant, served round robin
  int connections = 0;
  // Connections waiting for a job: a posted cancel of the timer wakes one.
  std::deque<std::shared_ptr<asio::steady_timer>> idle;
  // Shaping for this (source, site): limits, slowed down on throttling replies (AIMD).
  std::optional<route::AdaptiveRate> shape;
  // Token bucket for the messages-a-second limit.
  double tokens = 0;
  int64_t refill_ms = 0;
};

}  // namespace

struct DeliveryEngine::Impl : std::enable_shared_from_this<DeliveryEngine::Impl> {
  Impl(asio::io_context& io, const Config& c, KvStore& kv, net::Resolver& resolver,
       const Clock& clock, route::EgressService& egress, const route::ShapingRules& shaping)
      : io(io),
        config(c),
        d(c.delivery),
        kv(kv),
        resolver(resolver),
        clock(clock),
        egress(egress),
        shaping(shaping),
        routes(c.delivery),
        tls(smtp::MakeClientTlsContext()) {
    retry.first_delay_ms = int64_t{d.retry_first_seconds} * 1000;
    retry.multiplier = d.retry_multiplier;
    retry.max_delay_ms = int64_t{d.retry_max_seconds} * 1000;
    retry.jitter = d.retry_jitter;
    retry.max_age_ms = int64_t{d.max_age_seconds} * 1000;
    helo = d.helo_name;
    if (helo.empty()) {
      char buf[256] = {};
      helo = gethostname(buf, sizeof buf - 1) == 0 && buf[0] ? buf : "localhost";
    }
    auto& m = Metrics::Global();
    const char* help = "Recipient delivery attempts by result";
    delivered = &m.GetCounter("mailplane_delivery_attempts_total", help, {{"result", "delivered"}});
    deferred = &m.GetCounter("mailplane_delivery_attempts_total", help, {{"result", "deferred"}});
    bounced = &m.GetCounter("mailplane_delivery_attempts_total", help, {{"result", "bounced"}});
    expired = &m.GetCounter("mailplane_delivery_attempts_total", help, {{"result", "expired"}});
  }

  asio::io_context& io;
  const Config& config;
  const DeliveryConfig& d;
  KvStore& kv;
  net::Resolver& resolver;
  const Clock& clock;
  route::EgressService& egress;
  const route::ShapingRules& shaping;
  RouteTable routes;
  RetryPolicy retry;
  std::string helo;
  std::unique_ptr<asio::ssl::context> tls;
  asio::thread_pool readers{2};  // spool reads that may block on the disk
  Counter *delivered, *deferred, *bounced, *expired;

  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<int> connections{0};

  mutable std::mutex active_mu;
  std::unordered_map<std::string, std::shared_ptr<ActiveMessage>> active;  // by raw id
  // Per tenant, the due times of its active messages' queue entries.
  std::unordered_map<std::string, std::multiset<int64_t>> active_dues;
  std::set<std::string> cancelling;

  std::mutex sites_mu;
  std::unordered_map<std::string, std::shared_ptr<Site>> sites;

  std::function<DeliveryEngine::TenantPolicy(const std::string&)> policy = [](const std::string&) {
    return DeliveryEngine::TenantPolicy{};
  };
  bool Paused(const std::string& tenant) const { return policy(tenant).paused; }
  const feedback::BounceClassifier* classifier = nullptr;
  DeliveryEngine::AutoSuppression auto_suppression = [](const std::string&, std::string_view c) {
    return c == "invalid_recipient" || c == "bad_domain" || c == "inactive_mailbox"
               ? std::optional<int64_t>(0)
               : std::nullopt;
  };
  std::function<void(const Envelope&, const Event&)> observe_outcome;
  std::function<std::string(const Envelope&)> return_path;

  std::thread scanner;
  std::mutex scan_mu;
  std::condition_variable scan_cv;
  bool scan_now = false;

  // ---- scanner -------------------------------------------------------------------------------
  //
  // The queue index is kept per tenant (key: tenant id, NUL, due time, message id), and each pass
  // shares the room in the active window across the tenants with due mail, round by round, so a
  // tenant with a million queued messages takes its share and no more while another tenant has
  // fresh mail. One tenant may hold at most 7/8 of the window, so there is always room for the
  // others. At the sites, jobs are served round robin across tenants (FairQueue).

  void ScanLoop() {
    int64_t last_full_ms = 0;
    while (!stopping.load()) {
      // Deleted queue entries stay behind as tombstones until compaction, and walking them
      // costs CPU: a pass starts, per tenant, at the oldest entry that can be due and not yet
      // taken (its oldest active message, or a few seconds back for commits still in flight),
      // and only every 30 s from the very start (entries submitted with send_at in the past).
      int64_t now = clock.NowMs();
      bool from_start = now - last_full_ms >= 30000;
      bool scanned = false;
      bool more = ScanOnce(now, from_start, &scanned);
      if (from_start && scanned) last_full_ms = now;
      std::unique_lock lock(scan_mu);
      if (!more) {
        scan_cv.wait_for(lock, std::chrono::milliseconds(100),
                         [this] { return scan_now || stopping.load(); });
      }
      scan_now = false;
    }
  }

  size_t ActiveCount() const {
    std::lock_guard lock(active_mu);
    return active.size();
  }

  // Spools written before the queue index was kept per tenant have keys of due time + id (24
  // bytes, first byte 0): rewrite them as tenant keys once, at start.
  void MigrateQueueIndex() {
    std::vector<std::string> old;
    const std::string end(1, '\x01');
    Status s = kv.ScanRange(Column::kQueue, std::string(), end,
                            [&](std::string_view key, std::string_view) {
                              if (key.size() == 24) old.emplace_back(key);
                              return true;
                            });
    if (!s.ok() || old.empty()) return;
    WriteBatch batch;
    size_t moved = 0;
    for (const std::string& key : old) {
      batch.Delete(Column::kQueue, key);
      auto id = MessageId::FromRaw(std::string_view(key).substr(8));
      if (!id) continue;
      auto e = ReadEnvelope(kv, *id);
      if (!e.ok() || !e.value()) continue;
      batch.Put(Column::kQueue,
                QueueKey(e.value()->tenant_id, static_cast<int64_t>(ReadU64BE(key)), *id), {});
      ++moved;
    }
    Status c = kv.CommitAndWait(std::move(batch));
    log::Info("delivery.queue_migrated", {{"entries", moved}, {"ok", c.ok()}});
  }

  // The tenants that have entries in the queue index: one seek each.
  std::vector<std::string> QueueTenants() {
    std::vector<std::string> out;
    std::string from;
    const std::string end(1, '\xff');
    for (;;) {
      std::string tenant;
      bool any = false;
      Status s =
          kv.ScanRange(Column::kQueue, from, end, [&](std::string_view key, std::string_view) {
            size_t nul = key.find('\0');
            if (nul == std::string_view::npos || nul == 0) {
              from.assign(key);
              from.push_back('\0');  // not a tenant key: step over it
              return true;
            }
            tenant.assign(key.substr(0, nul));
            any = true;
            return false;
          });
      if (!s.ok() || !any) break;
      out.push_back(tenant);
      from = tenant;
      from.push_back('\x01');  // past every key of this tenant (ids hold no control bytes)
    }
    return out;
  }

  struct TenantCursor {
    std::string tenant;
    std::string from;  // next key to look at
    std::string upper;
    size_t allowance = 0;  // how many more this tenant may have active
    int weight = 1;        // its share of each round, against the others
    bool exhausted = false;
    bool range_done = false;  // everything due in the tenant's range was seen
  };

  // Per tenant, where the last pass stopped when it was cut short (room, share, cap): due entries
  // that were not taken lie from there on, however old they are. Scanner thread only.
  std::unordered_map<std::string, std::string> resume_;
  // Per tenant, the time of the last pass that scanned to the end of its due range.
  std::unordered_map<std::string, int64_t> seen_upto_;
  size_t pass_count_ = 0;

  // One pass. Returns true if due mail was left behind for lack of room this pass (so the next
  // pass should follow at once).
  bool ScanOnce(int64_t now, bool from_start, bool* scanned) {
    const size_t window = static_cast<size_t>(d.window);
    const size_t per_tenant_cap = std::max<size_t>(1, window - window / 8);
    size_t active_now = ActiveCount();
    size_t room = window > active_now ? window - active_now : 0;
    if (room == 0) return false;
    *scanned = true;
    // Short passes: a tenant whose mail arrives during a pass waits for the next one.
    room = std::min<size_t>(room, 256);
    std::vector<TenantCursor> cursors;
    for (std::string& t : TenantsToScan(now)) {
      DeliveryEngine::TenantPolicy p = policy(t);
      if (p.paused) continue;  // its mail stays queued until it is resumed
      TenantCursor c;
      c.tenant = std::move(t);
      c.weight = std::max(1, p.weight);
      // Everything due before the last pass that saw the end of this tenant's range was seen
      // then (a margin covers commits still in flight at that moment).
      int64_t floor = 0;
      if (auto w = seen_upto_.find(c.tenant); w != seen_upto_.end() && !from_start) {
        floor = w->second - 10000;
      }
      size_t held = 0;
      {
        std::lock_guard lock(active_mu);
        auto it = active_dues.find(c.tenant);
        if (it != active_dues.end() && !it->second.empty()) {
          held = it->second.size();
          if (!from_start) floor = std::min(floor, *it->second.begin());
        }
      }
      c.allowance = held < per_tenant_cap ? per_tenant_cap - held : 0;
      c.from = QueueKeyPrefix(c.tenant);
      AppendU64BE(c.from, static_cast<uint64_t>(std::max<int64_t>(floor, 0)));
      // Continue where the last pass was cut short: everything before that point was taken
      // (entries skipped as active or being canceled are caught by the periodic full pass).
      if (auto r = resume_.find(c.tenant); r != resume_.end() && !from_start) c.from = r->second;
      c.upper = QueueKeyPrefix(c.tenant);
      AppendU64BE(c.upper, static_cast<uint64_t>(now) + 1);
      c.exhausted = c.allowance == 0;
      cursors.push_back(std::move(c));
    }
    // A different tenant goes first on every pass, so small rooms are shared over time too.
    if (!cursors.empty()) {
      std::rotate(cursors.begin(), cursors.begin() + (pass_count_++ % cursors.size()),
                  cursors.end());
    }
    std::vector<std::tuple<std::string, std::string, int64_t>> found;  // tenant, raw id, due
    bool left_behind = false;
    for (;;) {
      size_t open = 0;
      for (const TenantCursor& c : cursors) open += c.exhausted ? 0 : c.weight;
      if (open == 0) break;
      if (room == 0) {
        left_behind = true;
        break;
      }
      // Weighted: each open tenant's share of the room is in proportion to its weight.
      for (TenantCursor& c : cursors) {
        if (c.exhausted || room == 0) continue;
        size_t share = std::max<size_t>(1, room * static_cast<size_t>(c.weight) / open);
        size_t want = std::min({share, c.allowance, room});
        size_t got = 0;
        Status s = kv.ScanRange(
            Column::kQueue, c.from, c.upper, [&](std::string_view key, std::string_view) {
              c.from.assign(key);
              c.from.push_back('\0');
              size_t p = c.tenant.size() + 1;
              if (key.size() != p + 24) return true;
              std::string raw(key.substr(p + 8));
              {
                std::lock_guard lock(active_mu);
                if (active.count(raw) || cancelling.count(raw)) return true;
              }
              found.emplace_back(c.tenant, std::move(raw),
                                 static_cast<int64_t>(ReadU64BE(key.substr(p, 8))));
              return ++got < want;
            });
        if (!s.ok()) {
          log::Error("delivery.scan_failed", {{"error", s.error().detail}});
          return false;
        }
        room -= got;
        c.allowance -= got;
        if (got < want) c.range_done = true;
        if (got < want || c.allowance == 0) c.exhausted = true;
      }
    }
    for (const TenantCursor& c : cursors) {
      if (c.range_done) {
        resume_.erase(c.tenant);
        seen_upto_[c.tenant] = now;
      } else {
        resume_[c.tenant] = c.from;
      }
    }
    // Activate round robin across tenants too: a tenant's few fresh messages are not read and
    // routed after another tenant's whole share.
    std::unordered_map<std::string, std::deque<std::pair<std::string, int64_t>>> by_tenant;
    std::vector<std::string> order;
    for (auto& [tenant, raw, due] : found) {
      auto& q = by_tenant[tenant];
      if (q.empty()) order.push_back(tenant);
      q.emplace_back(std::move(raw), due);
    }
    for (bool any = true; any;) {
      any = false;
      for (const std::string& t : order) {
        auto& q = by_tenant[t];
        if (q.empty()) continue;
        Activate(t, q.front().first, q.front().second);
        q.pop_front();
        any = true;
      }
    }
    return left_behind;
  }

  void Release(const std::string& raw) {
    std::lock_guard lock(active_mu);
    auto it = active.find(raw);
    if (it == active.end()) return;
    auto dues = active_dues.find(it->second->tenant);
    if (dues != active_dues.end()) {
      auto due = dues->second.find(it->second->due);
      if (due != dues->second.end()) dues->second.erase(due);
      if (dues->second.empty()) active_dues.erase(dues);
    }
    active.erase(it);
  }

  void Activate(const std::string& tenant, const std::string& raw, int64_t due) {
    auto id = MessageId::FromRaw(raw);
    if (!id) return;
    // Claim the message before reading it: a cancel that begins after this point sees it active
    // (and answers 409); one that ended before it has committed, so the read below sees it.
    auto msg = std::make_shared<ActiveMessage>();
    msg->tenant = tenant;
    msg->due = due;
    {
      std::lock_guard lock(active_mu);
      if (cancelling.count(raw) || active.count(raw)) return;
      active[raw] = msg;
      active_dues[tenant].insert(due);
    }
    auto read = ReadEnvelope(kv, *id);
    if (!read.ok()) {
      log::Error("delivery.read_failed", {{"id", id->ToString()}, {"error", read.error().detail}});
      Release(raw);
      return;
    }
    if (read.value() && read.value()->held) {
      // Held by an operator after the scan saw its entry: leave it (release puts it back).
      Release(raw);
      return;
    }
    if (!read.value() || QueueDue(*read.value()) != due) {
      // A queue entry without its message, or left behind by an older due time: drop it.
      WriteBatch b;
      b.Delete(Column::kQueue, QueueKey(tenant, due, *id));
      kv.Commit(std::move(b), [](Status) {});
      Release(raw);
      return;
    }
    msg->env = std::move(*read.value());
    Envelope& env = msg->env;
    // Group the recipients still to deliver by domain, at most N per transaction.
    std::vector<Job> jobs;
    std::unordered_map<std::string, size_t> open_job;  // domain -> index of a job with room
    size_t per_txn = static_cast<size_t>(d.max_recipients_per_transaction);
    for (size_t i = 0; i < env.recipients.size(); ++i) {
      if (!env.recipients[i].Pending()) continue;
      const std::string& addr = env.recipients[i].address;
      std::string domain = AsciiLower(addr.substr(addr.rfind('@') + 1));
      auto it = open_job.find(domain);
      if (it == open_job.end() || jobs[it->second].rcpts.size() >= per_txn) {
        jobs.push_back(Job{msg, {}, domain, env.tenant_id});
        open_job[domain] = jobs.size() - 1;
      }
      jobs[open_job[domain]].rcpts.push_back(i);
    }
    if (jobs.empty()) {
      // Nothing pending (canceled or finished): the queue entry is stale.
      WriteBatch b;
      env.status = DeriveStatus(env);
      AddEnvelopeUpdate(b, env, true);
      auto self = shared_from_this();
      kv.Commit(std::move(b), [self, raw](Status) { self->Release(raw); });
      return;
    }
    msg->outstanding = static_cast<int>(jobs.size());
    for (Job& job : jobs) Route(std::move(job));
  }

  // ---- routing -------------------------------------------------------------------------------

  void Route(Job job) {
    if (auto relay = routes.Relay(job.domain)) {
      job.health_site = relay->site;  // named in the attempts (no pool: static route)
      Enqueue(*relay, std::move(job));
      return;
    }
    std::string domain = job.domain;
    auto self = shared_from_this();
    auto shared_job = std::make_shared<Job>(std::move(job));
    resolver.ResolveMx(domain, [self, shared_job](net::MxResult r) {
      asio::post(self->io, [self, shared_job, r = std::move(r)]() mutable {
        self->OnMx(std::move(*shared_job), std::move(r));
      });
    });
  }

  void OnMx(Job job, net::MxResult r) {
    using net::DnsStatus;
    if (r.status == DnsStatus::kOk && r.null_mx) {
      FailJob(job,
              MakeReply(550, {5, 1, 10},
                        "recipient domain " + job.domain + " accepts no mail (null MX)"),
              "null_mx");
    } else if (r.status == DnsStatus::kOk && !r.hosts.empty()) {
      std::vector<std::string> hosts;
      for (const auto& h : r.hosts) hosts.push_back(h.host);
      Destination mx = routes.Mx(hosts);
      auto choice = egress.Choose(job.tenant, job.domain, hosts, mx.site);
      if (!choice.ok()) {
        job.health_site = mx.site;  // named in the attempt
        // Every pool is quarantined (or pinned out) for this site: the mail waits, never bounces.
        FailJob(job, MakeReply(451, {4, 4, 5}, choice.error().detail), "");
        return;
      }
      const route::Source& src = choice.value().source;
      Destination dest = mx;
      dest.pool = choice.value().pool;
      dest.source = src.name;
      dest.health_site = mx.site;
      if (src.relay) {
        dest.hosts = {src.relay_host};
        dest.port = src.relay_port;
        dest.tls = src.tls;
        dest.auth_user = src.auth_user;
        dest.auth_password = src.auth_password;
        dest.relay = true;
        dest.site = src.Fingerprint();  // one connection pool per relay, whatever the domain
      } else {
        dest.bind = src.bind;
        dest.ehlo = src.ehlo;
        dest.site = src.Fingerprint() + "|" + mx.site;
      }
      job.pool = dest.pool;
      job.source = dest.source;
      job.health_site = mx.site;
      Enqueue(dest, std::move(job));
    } else if (r.status == DnsStatus::kNxDomain || r.status == DnsStatus::kNoData ||
               r.status == DnsStatus::kOk) {
      FailJob(job,
              MakeReply(550, {5, 1, 2},
                        "recipient domain " + job.domain +
                            " does not exist or has no mail "
                            "server (" +
                            r.error + ")"),
              "no_such_domain");
    } else {
      FailJob(job,
              MakeReply(451, {4, 4, 3},
                        "DNS lookup of " + job.domain + " failed temporarily: " + r.error),
              "");
    }
  }

  void FailJob(Job& job, const smtp::Reply& reply, const std::string& reason) {
    std::vector<Outcome> outcomes(job.rcpts.size());
    for (Outcome& o : outcomes) {
      o.result = reply.Permanent() ? smtp::RecipientOutcome::kPermanent
                                   : smtp::RecipientOutcome::kTransient;
      o.reply = reply;
    }
    FinishJob(job, outcomes, AttemptPlace{}, reason);
  }

  // ---- sites and connections -----------------------------------------------------------------

  std::shared_ptr<Site> GetSite(const Destination& dest) {
    std::lock_guard lock(sites_mu);
    auto& slot = sites[dest.site];
    if (!slot) {
      slot = std::make_shared<Site>();
      slot->dest = dest;
      smtp::ClientOptions& o = slot->options;
      o.helo_name = dest.ehlo.empty() ? helo : dest.ehlo;
      o.tls = dest.tls;
      o.tls_context = tls.get();
      o.auth_user = dest.auth_user;
      o.auth_password = dest.auth_password;
      o.timeouts.greeting = std::chrono::seconds(d.greeting_timeout_seconds);
      o.timeouts.command = std::chrono::seconds(d.command_timeout_seconds);
      o.timeouts.data_init = std::chrono::seconds(d.data_init_timeout_seconds);
      o.timeouts.data_block = std::chrono::seconds(d.data_block_timeout_seconds);
      o.timeouts.data_end = std::chrono::seconds(d.data_end_timeout_seconds);
      slot->ready.SetWeights([this](const std::string& t) { return policy(t).weight; });
      route::ShapingLimits limits = shaping.Lookup(dest.source, dest.hosts);
      slot->shape.emplace(limits, config.egress.shaping);
      slot->tokens = std::max(1.0, limits.max_messages_per_second);
      slot->refill_ms = clock.NowMs();
    } else {
      std::lock_guard site_lock(slot->mu);
      slot->dest.hosts = dest.hosts;  // the latest MX order (equal preferences reshuffled)
    }
    return slot;
  }

  void Enqueue(const Destination& dest, Job job) {
    if (stopping.load()) return;  // stays queued in the spool; the next start retries it
    if (Paused(job.tenant)) {
      ReturnJob(job);
      return;
    }
    std::shared_ptr<Site> site = GetSite(dest);
    std::lock_guard lock(site->mu);
    std::string tenant = job.tenant;
    site->ready.PushBack(tenant, std::move(job));
    WakeOrSpawn(site);
  }

  // New work at a site: wake an idle connection, or start one below the limit. site->mu held.
  void WakeOrSpawn(const std::shared_ptr<Site>& site) {
    if (!site->idle.empty()) {
      auto timer = site->idle.front();
      site->idle.pop_front();
      asio::post(timer->get_executor(), [timer] { timer->cancel(); });
    } else if (site->connections < site->shape->Connections(clock.NowMs())) {
      SpawnConnection(site);
    }
  }

  // Called with site->mu held.
  void SpawnConnection(const std::shared_ptr<Site>& site) {
    ++site->connections;
    connections.fetch_add(1);
    auto strand = asio::make_strand(io);
    // Posted, never run inline: the caller holds site->mu, which the connection takes at once.
    asio::post(strand, [self = shared_from_this(), site, strand] {
      asio::co_spawn(strand, RunConnection(self, site), [self, site](std::exception_ptr e) {
        if (!e) return;
        // RunConnection gives its slot back at its end; after an exception, do it here.
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::Error("delivery.connection_failed",
                     {{"site", site->dest.site}, {"error", ex.what()}});
        } catch (...) {
          log::Error("delivery.connection_failed", {{"site", site->dest.site}});
        }
        self->connections.fetch_sub(1);
        std::lock_guard lock(site->mu);
        --site->connections;
        if (!site->ready.Empty() && site->connections == 0 && !self->stopping.load()) {
          self->SpawnConnection(site);
        }
      });
    });
  }

  // Takes the next job of the site, waiting up to idle_seconds. False: none (or stopping).
  // *waited: the connection sat idle before this job (so it may have gone stale meanwhile).
  // Children awaited at once take plain pointers (the caller's frame owns the shared_ptrs; no
  // non-trivial temporaries in the co_await expression, which GCC 12 mishandles).
  static asio::awaitable<bool> TakeJob(Impl* self, Site* site, Job* job, bool* waited) {
    *waited = false;
    auto ex = co_await asio::this_coro::executor;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(self->d.idle_seconds);
    for (;;) {
      std::shared_ptr<asio::steady_timer> timer;
      {
        std::lock_guard lock(site->mu);
        while (!site->ready.Empty()) {
          *job = site->ready.Pop();
          if (self->Paused(job->tenant)) {
            self->ReturnJob(*job);  // paused meanwhile: back to the queue untried
            continue;
          }
          if (!job->pool.empty() && self->egress.Health().Blocked(job->health_site, job->pool)) {
            // Its pool was quarantined (or pinned out) for this site while the job waited: route
            // it again, so the other pools of the rule take it.
            job->pool.clear();
            job->source.clear();
            asio::post(self->io,
                       [self, j = std::move(*job)]() mutable { self->Route(std::move(j)); });
            continue;
          }
          co_return true;
        }
        if (self->stopping.load() || std::chrono::steady_clock::now() >= deadline) {
          co_return false;
        }
        timer = std::make_shared<asio::steady_timer>(ex, deadline);
        site->idle.push_back(timer);
      }
      co_await timer->async_wait(kNoThrow);
      *waited = true;
      std::lock_guard lock(site->mu);
      auto it = std::find(site->idle.begin(), site->idle.end(), timer);
      if (it != site->idle.end()) site->idle.erase(it);
    }
  }

  // Waits for a token of the site's rate limit, if it has one.
  // Waits for a token of the site's rate limit (shaping, slowed down while throttled).
  static asio::awaitable<void> RateLimit(Impl* self, Site* site) {
    for (;;) {
      int64_t wait_ms = 0;
      {
        std::lock_guard lock(site->mu);
        int64_t now = self->clock.NowMs();
        double rate = site->shape->Rate(now);
        if (rate <= 0) {
          site->shape->OnSend(now);
          co_return;
        }
        double burst = std::max(1.0, rate);
        site->tokens = std::min(burst, site->tokens + (now - site->refill_ms) * rate / 1000.0);
        site->refill_ms = now;
        if (site->tokens >= 1) {
          site->tokens -= 1;
          site->shape->OnSend(now);
          co_return;
        }
        wait_ms = static_cast<int64_t>((1 - site->tokens) * 1000 / rate) + 1;
      }
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(wait_ms));
      co_await t.async_wait(kNoThrow);
    }
  }

  static void BindSocket(tcp::socket& socket, const asio::ip::address& addr, error_code& ec) {
    socket.open(addr.is_v4() ? tcp::v4() : tcp::v6(), ec);
    if (ec) return;
    socket.set_option(asio::socket_base::reuse_address(true), ec);
    socket.bind(tcp::endpoint(addr, 0), ec);
  }

  struct Opened {
    bool ok = false;
    smtp::Reply reply;  // why not, when !ok
    AttemptPlace place;
  };

  // Connects to the site's hosts in order (each host's addresses in turn) until one greets and
  // completes EHLO/STARTTLS/AUTH. stream/session are emplaced on success.
  static asio::awaitable<Opened> Open(Impl* self, Site* site, std::optional<smtp::Stream>& stream,
                                      std::optional<smtp::ClientSession>& session,
                                      smtp::ClientOptions& options) {
    Opened res;
    res.reply = MakeReply(451, {4, 4, 1}, "no MX host could be reached");
    std::vector<std::string> hosts;
    uint16_t port;
    std::string bind;
    {
      std::lock_guard lock(site->mu);
      hosts = site->dest.hosts;
      port = site->dest.port;
      bind = site->dest.bind;
    }
    asio::ip::address bind_addr;
    if (!bind.empty()) {
      error_code bec;
      bind_addr = asio::ip::make_address(bind, bec);
      if (bec) bind.clear();  // validated with the source; cannot happen
    }
    auto ex = co_await asio::this_coro::executor;
    for (const std::string& host : hosts) {
      std::vector<std::string> addrs;
      error_code ec;
      asio::ip::make_address(host, ec);
      if (!ec) {
        addrs.push_back(host);
      } else {
        auto start = [self, host](std::function<void(net::AddrResult)> done) {
          self->resolver.ResolveAddrs(host, std::move(done));
        };
        net::AddrResult ar = co_await AwaitCallback<net::AddrResult>(std::move(start));
        if (ar.status != net::DnsStatus::kOk || ar.addresses.empty()) {
          res.reply = MakeReply(451, {4, 4, 3}, "cannot resolve MX host " + host + ": " + ar.error);
          res.place = AttemptPlace{host, "", "", ""};
          continue;
        }
        addrs = std::move(ar.addresses);
      }
      for (const std::string& a : addrs) {
        res.place = AttemptPlace{host, a, "", ""};
        auto addr = asio::ip::make_address(a, ec);
        if (ec) continue;
        if (!bind.empty() && addr.is_v4() != bind_addr.is_v4()) continue;  // other family
        tcp::socket socket(ex);
        if (!bind.empty()) {
          error_code bec;
          BindSocket(socket, bind_addr, bec);
          if (bec) {
            res.reply = MakeReply(451, {4, 4, 1},
                                  "cannot bind to source address " + bind + ": " + bec.message());
            continue;
          }
        }
        asio::steady_timer timer(ex, std::chrono::seconds(self->d.connect_timeout_seconds));
        auto connecting = std::make_shared<bool>(true);  // the handler may run after the connect
        timer.async_wait([&socket, connecting](error_code e) {
          if (!e && *connecting) {
            error_code ignored;
            socket.close(ignored);
          }
        });
        auto [cec] = co_await socket.async_connect(tcp::endpoint(addr, port), kNoThrow);
        *connecting = false;
        bool timed_out = timer.expiry() <= std::chrono::steady_clock::now();
        timer.cancel();
        if (cec) {
          res.reply = MakeReply(451, {4, 4, 1},
                                "connect to " + host + "[" + a + "]:" + std::to_string(port) +
                                    " failed: " + (timed_out ? "timeout" : cec.message()));
          continue;
        }
        error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        options.tls_host = host;
        session.reset();
        stream.reset();
        stream.emplace(std::move(socket));
        session.emplace(*stream, options);
        smtp::OpenResult o = co_await session->Open();
        if (!o.ok && o.tls_failed && options.tls == TlsPolicy::kOpportunistic) {
          // Opportunistic TLS never blocks delivery: the same host again, in clear.
          session.reset();
          stream.reset();
          tcp::socket again(ex);
          error_code bind_ec;
          if (!bind.empty()) BindSocket(again, bind_addr, bind_ec);
          asio::steady_timer again_timer(ex, std::chrono::seconds(self->d.connect_timeout_seconds));
          auto again_connecting = std::make_shared<bool>(true);
          again_timer.async_wait([&again, again_connecting](error_code e) {
            if (!e && *again_connecting) {
              error_code ignored;
              again.close(ignored);
            }
          });
          // Never connect from another address than the source's: no bind, no retry.
          error_code rec = bind_ec;
          if (!rec) {
            auto [again_ec] = co_await again.async_connect(tcp::endpoint(addr, port), kNoThrow);
            rec = again_ec;
          }
          *again_connecting = false;
          again_timer.cancel();
          if (!rec) {
            options.tls = TlsPolicy::kDisabled;  // the session keeps a reference to options
            stream.emplace(std::move(again));
            session.emplace(*stream, options);
            o = co_await session->Open();
            if (!o.ok) options.tls = TlsPolicy::kOpportunistic;
          }
        }
        if (o.ok) {
          res.ok = true;
          res.place.tls_version = stream->TlsVersion();
          res.place.tls_cipher = stream->TlsCipher();
          co_return res;
        }
        res.reply = o.reply;
        session.reset();
        stream.reset();
        if (!o.next_host) co_return res;
      }
    }
    co_return res;
  }

  static asio::awaitable<void> RunConnection(std::shared_ptr<Impl> self,
                                             std::shared_ptr<Site> site) {
    std::optional<smtp::Stream> stream;
    std::optional<smtp::ClientSession> session;
    smtp::ClientOptions options;
    {
      std::lock_guard lock(site->mu);
      options = site->options;
    }
    Opened opened = co_await Open(self.get(), site.get(), stream, session, options);
    if (!opened.ok) {
      // The destination cannot be reached now. If no other connection is working for it, defer
      // everything waiting for it; otherwise just one job, and let the others carry on.
      std::vector<Job> failed;
      {
        std::lock_guard lock(site->mu);
        size_t n =
            site->connections > 1 ? std::min<size_t>(1, site->ready.Size()) : site->ready.Size();
        for (size_t i = 0; i < n; ++i) {
          failed.push_back(site->ready.Pop());
        }
      }
      if (IsThrottle(opened.reply)) {
        std::lock_guard lock(site->mu);
        site->shape->OnThrottle(self->clock.NowMs());
      }
      bool first = true;
      for (Job& job : failed) {
        // No host would talk to us: temporary whatever the last one said (a 554 greeting from
        // the last MX must not bounce mail that the others might take later).
        std::vector<Outcome> outcomes(job.rcpts.size());
        for (Outcome& o : outcomes) {
          o.result = smtp::RecipientOutcome::kTransient;
          o.reply = opened.reply;
        }
        self->FinishJob(job, outcomes, opened.place, "", first);  // one failed connection
        first = false;
      }
      log::Debug("delivery.connect_failed",
                 {{"site", site->dest.site}, {"reply", opened.reply.Summary()}});
    } else {
      int sent = 0;
      int per_connection;
      {
        std::lock_guard lock(site->mu);
        per_connection = site->shape->MessagesPerConnection();
      }
      while (sent < per_connection) {
        Job job;
        bool waited = false;
        bool ok1 = co_await TakeJob(self.get(), site.get(), &job, &waited);
        if (!ok1) break;
        if (waited) {
          // An idle connection may have been closed by the server meanwhile: RSET checks it
          // before a message is committed to it (as Postfix does with cached connections).
          bool alive = co_await session->Reset();
          if (!alive) {
            std::lock_guard lock(site->mu);
            std::string tenant = job.tenant;
            site->ready.PushFront(tenant, std::move(job));  // another connection takes it
            self->WakeOrSpawn(site);
            break;
          }
        }
        co_await RateLimit(self.get(), site.get());
        co_await self->Deliver(*session, job, opened.place, site.get());
        ++sent;
        if (!session->Usable()) break;
      }
      if (session->Usable()) co_await session->Quit();
    }
    session.reset();
    stream.reset();
    self->connections.fetch_sub(1);
    std::lock_guard lock(site->mu);
    --site->connections;
    // Work is waiting and this connection is gone: start another (within the limit).
    if (!site->ready.Empty() && site->connections < site->shape->Connections(self->clock.NowMs()) &&
        !self->stopping.load()) {
      self->SpawnConnection(site);
    }
  }

  static bool IsThrottle(const smtp::Reply& r) {
    std::string enhanced = r.enhanced ? r.enhanced->ToString() : "";
    return route::IsThrottleReply(r.code, enhanced, JoinLines(r));
  }

  asio::awaitable<void> Deliver(smtp::ClientSession& session, Job& job, const AttemptPlace& place,
                                Site* site) {
    smtp::Envelope env;
    MessageId id;
    {
      std::lock_guard lock(job.msg->mu);
      const Envelope& e = job.msg->env;
      id = e.id;
      env.mail_from = return_path ? return_path(e) : e.mail_from;
      env.size = e.size;
      for (size_t i : job.rcpts) env.recipients.push_back(e.recipients[i].address);
    }
    // Bodies are never held in the window: read when sent, on the reader pool (a blob file read
    // may wait for the disk), then back on this connection's strand.
    using BodyResult = Result<std::optional<std::string>>;
    auto read = [this, id](std::function<void(BodyResult)> done) {
      asio::post(readers, [this, id, done = std::move(done)] {
        done(kv.Get(Column::kBody, EnvelopeKey(id)));
      });
    };
    BodyResult body = co_await AwaitCallback<BodyResult>(std::move(read));
    std::vector<Outcome> outcomes(job.rcpts.size());
    if (!body.ok() || !body.value()) {
      smtp::Reply r = body.ok()
                          ? MakeReply(550, {5, 3, 0}, "message body missing from the spool")
                          : MakeReply(451, {4, 3, 0}, "spool read failed: " + body.error().detail);
      for (Outcome& o : outcomes) {
        o.result =
            r.Permanent() ? smtp::RecipientOutcome::kPermanent : smtp::RecipientOutcome::kTransient;
        o.reply = r;
      }
      FinishJob(job, outcomes, place, "");
      co_return;
    }
    const std::string& message = *body.value();
    env.eight_bit = HasEightBit(message);
    // Internationalized addresses need SMTPUTF8 (RFC 6531); without it the server cannot take them.
    env.smtputf8 = HasEightBit(env.mail_from);
    for (const auto& r : env.recipients) env.smtputf8 = env.smtputf8 || HasEightBit(r);
    if (env.smtputf8 && !session.ServerExtensions().smtputf8) {
      smtp::Reply r = MakeReply(550, {5, 6, 7},
                                "the address needs SMTPUTF8 and the server does "
                                "not offer it");
      for (Outcome& o : outcomes) {
        o.result = smtp::RecipientOutcome::kPermanent;
        o.reply = r;
      }
      FinishJob(job, outcomes, place, "");
      co_return;
    }
    smtp::Transaction t(std::move(env), session.ServerExtensions());
    co_await session.Send(t, message);
    bool throttled = false;
    for (size_t i = 0; i < outcomes.size(); ++i) {
      outcomes[i].result = t.Outcome(i);
      outcomes[i].reply = t.DecidingReply(i);
      throttled = throttled || IsThrottle(outcomes[i].reply);
    }
    if (throttled) {
      std::lock_guard lock(site->mu);
      site->shape->OnThrottle(clock.NowMs());
      log::Debug("delivery.throttled",
                 {{"site", site->dest.site}, {"rate", site->shape->Rate(clock.NowMs())}});
    }
    FinishJob(job, outcomes, place, "");
    if (t.NeedsReset() && session.Usable()) co_await session.Reset();
  }

  // ---- outcomes ------------------------------------------------------------------------------

  // Gives a job back untried (its tenant is paused): its recipients are due again at once, with
  // no attempt recorded; the scanner takes them when the tenant is resumed.
  void ReturnJob(Job& job) {
    std::shared_ptr<ActiveMessage> msg = job.msg;
    std::unique_lock lock(msg->mu);
    int64_t now = clock.NowMs();
    for (size_t i : job.rcpts) {
      RecipientRecord& r = msg->env.recipients[i];
      r.status = RecipientStatus::kDeferred;
      r.next_attempt_ms = now;
    }
    msg->env.updated_ms = now;
    msg->env.status = DeriveStatus(msg->env);
    --msg->outstanding;
    StartCommit(msg);
  }

  void TenantChanged(const std::string& tenant) {
    if (Paused(tenant)) {
      std::vector<Job> back;
      {
        std::lock_guard lock(sites_mu);
        for (auto& [name, site] : sites) {
          std::lock_guard site_lock(site->mu);
          for (Job& j : site->ready.TakeTenant(tenant)) back.push_back(std::move(j));
        }
      }
      for (Job& j : back) ReturnJob(j);
      log::Info("delivery.tenant_paused", {{"tenant", tenant}, {"jobs_returned", back.size()}});
      return;
    }
    {
      std::lock_guard lock(scan_mu);
      rescan.insert(tenant);
    }
    NotifyTenant(tenant);
  }

  // count_health: whether the outcome is a sample of the pool's health (a failed connection
  // counts once, not once per job that was waiting for it).
  void FinishJob(Job& job, const std::vector<Outcome>& outcomes, const AttemptPlace& place,
                 const std::string& bounce_reason, bool count_health = true) {
    std::shared_ptr<ActiveMessage> msg = job.msg;
    std::unique_lock lock(msg->mu);
    Envelope& env = msg->env;
    int64_t now = clock.NowMs();
    route::OutcomeClass worst = route::OutcomeClass::kNeutral;
    std::string worst_text;
    for (size_t k = 0; k < job.rcpts.size(); ++k) {
      RecipientRecord& r = env.recipients[job.rcpts[k]];
      const Outcome& o = outcomes[k];
      Attempt a;
      a.at_ms = now;
      a.mx = place.mx;
      a.ip = place.ip;
      a.code = o.reply.code;
      a.enhanced = o.reply.enhanced ? o.reply.enhanced->ToString() : "";
      a.text = JoinLines(o.reply);
      a.tls_version = place.tls_version;
      a.tls_cipher = place.tls_cipher;
      a.pool = job.pool;
      a.source = job.source;
      a.site = job.health_site;
      r.attempts.push_back(std::move(a));
      if (r.attempts.size() > RecipientRecord::kMaxAttemptsKept) {
        r.attempts.erase(r.attempts.begin());
      }
      ++r.attempts_total;
      r.next_attempt_ms = 0;
      if (!job.pool.empty() && count_health) {
        // One sample per job (a transaction), its worst outcome: a 25-recipient message refused
        // with one 421 is one bad outcome, not 25.
        const Attempt& last = r.attempts.back();
        route::OutcomeClass c = route::ClassifyReply(last.code, last.enhanced, last.text);
        if (c == route::OutcomeClass::kBad ||
            (c == route::OutcomeClass::kGood && worst == route::OutcomeClass::kNeutral)) {
          worst = c;
          worst_text = last.text;
        }
      }
      switch (o.result) {
        case smtp::RecipientOutcome::kDelivered:
          r.status = RecipientStatus::kDelivered;
          r.reason.clear();
          delivered->Inc();
          break;
        case smtp::RecipientOutcome::kPermanent:
          r.status = RecipientStatus::kBounced;
          r.reason = bounce_reason.empty() ? "rejected" : bounce_reason;
          bounced->Inc();
          break;
        case smtp::RecipientOutcome::kTransient:
        case smtp::RecipientOutcome::kPending: {
          // The maximum age counts from when delivery could start (send_at for scheduled mail).
          auto next = retry.NextAttempt(std::max(env.created_ms, env.send_at_ms), now,
                                        r.attempts_total, Uniform());
          if (next) {
            r.status = RecipientStatus::kDeferred;
            r.next_attempt_ms = *next;
            deferred->Inc();
          } else {
            r.status = RecipientStatus::kBounced;
            r.reason = "expired";
            expired->Inc();
          }
          break;
        }
      }
      const char* type = r.status == RecipientStatus::kDelivered  ? "delivered"
                         : r.status == RecipientStatus::kDeferred ? "deferred"
                         : r.reason == "expired"                  ? "expired"
                                                                  : "bounced";
      Event ev = MakeEvent(env, type, r.address, clock, now);
      ev.pool = job.pool;
      ev.source = job.source;
      ev.site = job.health_site;
      const Attempt& last = r.attempts.back();
      ev.mx = last.mx;
      ev.ip = last.ip;
      ev.code = last.code;
      ev.enhanced = last.enhanced;
      ev.text = last.text;
      if (ev.type == "expired") {
        ev.category = "expired";
      } else if (ev.type != "delivered" && classifier) {
        ev.category = std::string(feedback::BounceCategoryName(
            classifier->Classify(last.code, last.enhanced, last.text).category));
      }
      if (observe_outcome) observe_outcome(env, ev);
      msg->events.push_back(std::move(ev));
    }
    if (!job.pool.empty() && count_health) {
      egress.Health().Record(job.health_site, job.pool, worst, worst_text);
    }
    env.updated_ms = now;
    env.status = DeriveStatus(env);
    --msg->outstanding;
    StartCommit(msg);
  }

  // One commit in flight per message, always of its current state, so a retried failure can never
  // overwrite a newer outcome. Called with msg->mu held.
  void StartCommit(const std::shared_ptr<ActiveMessage>& msg) {
    if (msg->committing) {
      msg->dirty = true;  // the commit in flight will be followed by one of the newer state
      return;
    }
    Envelope& env = msg->env;
    bool final = msg->outstanding == 0;
    WriteBatch batch;
    if (!final) {
      AddEnvelopeUpdate(batch, env, false);
    } else {
      int64_t next_due = -1;
      for (const RecipientRecord& r : env.recipients) {
        if (r.status == RecipientStatus::kDeferred &&
            (next_due < 0 || r.next_attempt_ms < next_due)) {
          next_due = r.next_attempt_ms;
        }
      }
      // From the queue entry the message was taken from (idempotent if this batch is retried).
      AddQueueMove(batch, env, msg->due, next_due);
    }
    for (Event& ev : msg->events) {
      AddEvent(batch, ev);
      if (ev.type == "bounced" && !ev.category.empty()) {
        if (auto keep = auto_suppression(env.tenant_id, ev.category)) {
          auto address = NormalizeSuppressedAddress(ev.recipient);
          if (address.ok()) {
            Suppression s;
            s.scope = env.tenant_id;
            s.address = address.value();
            s.reason = ev.category;
            s.source = "auto";
            s.created_ms = ev.at_ms;
            s.expires_ms = *keep > 0 ? ev.at_ms + *keep : 0;
            s.message_id = env.id.ToString();
            s.event_id = ev.id.ToString();
            s.detail = ev.text;
            AddSuppression(batch, s);
          }
        }
      }
      msg->events_in_flight.push_back(std::move(ev));
    }
    msg->events.clear();
    msg->committing = true;
    msg->dirty = false;
    auto self = shared_from_this();
    // The store may call back at once on this thread (overloaded): the result is handled on the
    // io_context, never under msg->mu.
    kv.Commit(std::move(batch), [self, msg, final](Status st) {
      asio::post(self->io,
                 [self, msg, final, st = std::move(st)] { self->Committed(msg, final, st); });
    });
  }

  void Committed(const std::shared_ptr<ActiveMessage>& msg, bool final, const Status& st) {
    std::unique_lock lock(msg->mu);
    msg->committing = false;
    if (!st.ok()) {
      // Not written: they go out with the next commit (before the newer ones).
      msg->events.insert(msg->events.begin(),
                         std::make_move_iterator(msg->events_in_flight.begin()),
                         std::make_move_iterator(msg->events_in_flight.end()));
      msg->events_in_flight.clear();
      if (stopping.load() && st.error().code == Code::kShuttingDown) return;  // stays queued
      // The outcome must not be lost: try again (with the then current state) a little later.
      log::Warn("delivery.commit_retry", {{"error", st.error().detail}});
      auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(200));
      auto self = shared_from_this();
      timer->async_wait([self, msg, timer](error_code) {
        std::lock_guard relock(msg->mu);
        self->StartCommit(msg);
      });
      return;
    }
    msg->events_in_flight.clear();
    if (msg->dirty || (!final && msg->outstanding == 0)) {
      StartCommit(msg);  // a newer state is waiting
      return;
    }
    if (final) {
      std::string raw(msg->env.id.Raw());
      lock.unlock();
      Release(raw);
      Notify();
    }
  }

  void Notify() {
    {
      std::lock_guard lock(scan_mu);
      scan_now = true;
    }
    scan_cv.notify_one();
  }

  void NotifyTenant(const std::string& tenant) {
    {
      std::lock_guard lock(scan_mu);
      scan_now = true;
      new_tenants.insert(tenant);
    }
    scan_cv.notify_one();
  }

  // The tenants to scan: those found in the index (refreshed every few seconds: finding them
  // walks the tombstones of deleted entries), plus those the submission path just named.
  std::vector<std::string> TenantsToScan(int64_t now) {
    if (now - tenants_refreshed_ms >= 5000) {
      tenants_refreshed_ms = now;
      known_tenants.clear();
      for (std::string& t : QueueTenants()) known_tenants.insert(std::move(t));
    }
    {
      std::lock_guard lock(scan_mu);
      known_tenants.insert(new_tenants.begin(), new_tenants.end());
      new_tenants.clear();
      for (const std::string& t : rescan) {
        seen_upto_.erase(t);  // scan the resumed tenant's queue from its start
        resume_.erase(t);
      }
      rescan.clear();
    }
    return {known_tenants.begin(), known_tenants.end()};
  }
  std::set<std::string> known_tenants;  // scanner thread only
  int64_t tenants_refreshed_ms = 0;
  std::set<std::string> new_tenants;  // guarded by scan_mu
  std::set<std::string> rescan;       // guarded by scan_mu
};

DeliveryEngine::DeliveryEngine(const Config& config, KvStore& kv, net::Resolver& resolver,
                               const Clock& clock, route::EgressService& egress,
                               const route::ShapingRules& shaping)
    : io_(std::make_unique<asio::io_context>()),
      impl_(std::make_shared<Impl>(*io_, config, kv, resolver, clock, egress, shaping)) {
  auto& m = Metrics::Global();
  std::weak_ptr<Impl> weak = impl_;
  m.AddGauge("mailplane_delivery_active_messages", "Messages in the active window", [weak] {
    auto s = weak.lock();
    return s ? static_cast<double>(s->ActiveCount()) : 0.0;
  });
  m.AddGauge("mailplane_delivery_connections", "Open SMTP client connections", [weak] {
    auto s = weak.lock();
    return s ? static_cast<double>(s->connections.load()) : 0.0;
  });
}

DeliveryEngine::~DeliveryEngine() { Stop(std::chrono::milliseconds(0)); }

void DeliveryEngine::Start() {
  Impl& i = *impl_;
  i.MigrateQueueIndex();
  i.work.emplace(i.io.get_executor());
  unsigned n = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  for (unsigned k = 0; k < n; ++k) i.threads.emplace_back([&i] { i.io.run(); });
  i.scanner = std::thread([&i] { i.ScanLoop(); });
}

void DeliveryEngine::Notify() { impl_->Notify(); }
void DeliveryEngine::SetTenantPolicy(std::function<TenantPolicy(const std::string&)> policy) {
  impl_->policy = std::move(policy);
}
void DeliveryEngine::SetClassifier(const feedback::BounceClassifier* classifier) {
  impl_->classifier = classifier;
}
void DeliveryEngine::SetAutoSuppression(AutoSuppression decide) {
  impl_->auto_suppression = std::move(decide);
}
void DeliveryEngine::SetReturnPath(std::function<std::string(const Envelope&)> return_path) {
  impl_->return_path = std::move(return_path);
}
void DeliveryEngine::SetOutcomeObserver(
    std::function<void(const Envelope&, const Event&)> observe) {
  impl_->observe_outcome = std::move(observe);
}
void DeliveryEngine::TenantChanged(const std::string& tenant_id) {
  impl_->TenantChanged(tenant_id);
}
void DeliveryEngine::NotifyTenant(const std::string& tenant_id) { impl_->NotifyTenant(tenant_id); }

void DeliveryEngine::Stop(std::chrono::milliseconds grace) {
  Impl& i = *impl_;
  if (i.stopping.exchange(true)) return;
  i.Notify();
  if (i.scanner.joinable()) i.scanner.join();
  // Wake idle connections so they QUIT; transactions in flight may finish within the grace time.
  {
    std::lock_guard lock(i.sites_mu);
    for (auto& [name, site] : i.sites) {
      std::lock_guard site_lock(site->mu);
      for (auto& t : site->idle) asio::post(t->get_executor(), [t] { t->cancel(); });
      site->idle.clear();
      site->ready.Clear();
    }
  }
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (i.connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  i.work.reset();
  i.io.stop();
  for (auto& t : i.threads) t.join();
  i.threads.clear();
  // Reads still queued run to their end and park their coroutines on the stopped io_context,
  // which drops them when it is destroyed.
  i.readers.join();
}

bool DeliveryEngine::BeginCancel(const MessageId& id) {
  std::lock_guard lock(impl_->active_mu);
  std::string raw(id.Raw());
  // Being delivered, or already claimed by another writer (a cancel and an admin queue action at
  // once): the caller must not rewrite it now.
  if (impl_->active.count(raw) || impl_->cancelling.count(raw)) return false;
  impl_->cancelling.insert(raw);
  return true;
}

void DeliveryEngine::EndCancel(const MessageId& id) {
  std::lock_guard lock(impl_->active_mu);
  impl_->cancelling.erase(std::string(id.Raw()));
}

}  // namespace mp
