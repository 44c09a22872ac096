#include "route/health.h"

#include <algorithm>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"

namespace mp::route {
namespace {

constexpr size_t kMaxEvents = 1000;
constexpr size_t kMaxSamples = 10000;  // per (site, pool); older ones drop first

bool Contains(std::string_view text, std::string_view needle) {
  auto it = std::search(text.begin(), text.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) == b;
  });
  return it != text.end();
}

// Words of replies that ask the client to send less. A bare "try again later" is not among them:
// greylisting says that to one recipient (451 4.7.1), and slowing the whole site for it would be
// wrong.
bool ThrottleText(std::string_view text) {
  for (std::string_view n : {"too many", "rate limit", "throttl", "unusual rate", "too quickly",
                             "temporarily rate", "slow down", "rate of"}) {
    if (Contains(text, n)) return true;
  }
  return false;
}

bool Greylisting(std::string_view text) {
  return Contains(text, "greylist") || Contains(text, "graylist");
}

}  // namespace

bool IsThrottleReply(int code, std::string_view enhanced, std::string_view text) {
  if (code < 400 || code >= 500) return false;
  // Our own "lost connection" and "cannot connect" replies are not the server asking to slow down.
  if (enhanced == "4.4.1" || enhanced == "4.4.2" || enhanced == "4.4.3") return false;
  if (code == 421) return true;  // the server closes: it wants fewer connections
  if (enhanced == "4.2.1" || enhanced == "4.7.28") return true;
  return ThrottleText(text);
}

OutcomeClass ClassifyReply(int code, std::string_view enhanced, std::string_view text) {
  if (code >= 200 && code < 300) return OutcomeClass::kGood;
  // Connection failures (our 4.4.1 cannot connect, 4.4.2 connection lost) count against the path;
  // DNS failures (4.4.3) and local errors do not.
  if (enhanced == "4.4.1" || enhanced == "4.4.2") return OutcomeClass::kBad;
  if (enhanced == "4.4.3" || code == 0) return OutcomeClass::kNeutral;
  if (code < 500 && Greylisting(text)) return OutcomeClass::kNeutral;  // says nothing of the path
  // Policy and reputation (x.7.x), whatever the class.
  if (enhanced.size() >= 3 && enhanced[1] == '.' && enhanced[2] == '7') return OutcomeClass::kBad;
  if (IsThrottleReply(code, enhanced, text)) return OutcomeClass::kBad;
  // Any other answer (user unknown, mailbox full, ...) says the path works.
  return OutcomeClass::kGood;
}

std::string_view HealthStateName(HealthState s) {
  switch (s) {
    case HealthState::kHealthy:
      return "healthy";
    case HealthState::kQuarantined:
      return "quarantined";
    case HealthState::kProbing:
      return "probing";
  }
  return "healthy";
}

std::string_view PinName(Pin p) {
  switch (p) {
    case Pin::kAuto:
      return "auto";
    case Pin::kIn:
      return "in";
    case Pin::kOut:
      return "out";
  }
  return "auto";
}

PoolHealth::PoolHealth(const FailoverConfig& config, const Clock& clock)
    : config_(config), clock_(clock) {}

PoolHealth::Entry& PoolHealth::Get(const std::string& site, const std::string& pool) {
  return entries_[{site, pool}];
}

void PoolHealth::Prune(Entry& e, int64_t now) {
  int64_t horizon = now - int64_t{config_.window_seconds} * 1000;
  while (!e.samples.empty() &&
         (e.samples.front().first < horizon || e.samples.size() > kMaxSamples)) {
    if (e.samples.front().second) --e.bad;
    e.samples.pop_front();
  }
}

void PoolHealth::Transition(const std::string& site, const std::string& pool, Entry& e,
                            HealthState to, std::string reason) {
  HealthEvent ev{clock_.NowMs(),
                 site,
                 pool,
                 std::string(HealthStateName(e.state)),
                 std::string(HealthStateName(to)),
                 std::move(reason)};
  e.state = to;
  log::Write(to == HealthState::kQuarantined ? log::Level::kWarn : log::Level::kInfo,
             "egress.pool_" + ev.to,
             {{"site", site}, {"pool", pool}, {"from", ev.from}, {"reason", ev.reason}});
  Metrics::Global()
      .GetCounter("mailplane_pool_transitions_total",
                  "Pool health transitions per pool and new state", {{"pool", pool}, {"to", ev.to}})
      .Inc();
  if (listener_) listener_(ev);
  events_.push_front(std::move(ev));
  if (events_.size() > kMaxEvents) events_.pop_back();
}

Pin PoolHealth::PinLocked(const std::string& site, const std::string& pool) const {
  auto it = pins_.find({site, pool});
  if (it != pins_.end()) return it->second;
  it = pins_.find({"*", pool});
  return it != pins_.end() ? it->second : Pin::kAuto;
}

void PoolHealth::Advance(const std::string& site, const std::string& pool, Entry& e, int64_t now) {
  if (e.state == HealthState::kQuarantined && now >= e.until_ms) {
    e.probes_sent = 0;
    e.probes_ok = 0;
    Transition(site, pool, e, HealthState::kProbing, "cool-down over: probing");
  }
}

void PoolHealth::Record(const std::string& site, const std::string& pool, OutcomeClass outcome,
                        std::string_view detail) {
  std::lock_guard lock(mu_);
  if (outcome == OutcomeClass::kNeutral) {
    // A probe that says nothing (a DNS failure, a local error) gives its slot back.
    auto it = entries_.find({site, pool});
    if (it != entries_.end() && it->second.state == HealthState::kProbing &&
        it->second.probes_sent > it->second.probes_ok) {
      --it->second.probes_sent;
    }
    return;
  }
  bool bad = outcome == OutcomeClass::kBad;
  Entry& e = Get(site, pool);
  int64_t now = clock_.NowMs();
  Advance(site, pool, e, now);
  switch (e.state) {
    case HealthState::kQuarantined:
      return;  // outcomes of mail sent before the quarantine do not count
    case HealthState::kProbing:
      if (bad) {
        e.cooldown_factor = std::min(e.cooldown_factor * 2, 8);
        e.until_ms = now + int64_t{config_.cooldown_seconds} * 1000 * e.cooldown_factor;
        Transition(site, pool, e, HealthState::kQuarantined,
                   "probe failed: " + std::string(detail.substr(0, 200)));
      } else if (++e.probes_ok >= config_.probes) {
        e.samples.clear();
        e.bad = 0;
        e.cooldown_factor = 1;
        Transition(site, pool, e, HealthState::kHealthy,
                   std::to_string(e.probes_ok) + " probes succeeded");
      }
      return;
    case HealthState::kHealthy:
      break;
  }
  e.samples.emplace_back(now, bad);
  if (bad) ++e.bad;
  Prune(e, now);
  int total = static_cast<int>(e.samples.size());
  if (!config_.enabled || PinLocked(site, pool) == Pin::kIn || total < config_.min_samples) return;
  if (e.bad >= config_.threshold * total) {
    e.until_ms = now + int64_t{config_.cooldown_seconds} * 1000 * e.cooldown_factor;
    Transition(site, pool, e, HealthState::kQuarantined,
               std::to_string(e.bad) + " of " + std::to_string(total) +
                   " outcomes bad, last: " + std::string(detail.substr(0, 200)));
  }
}

bool PoolHealth::Blocked(const std::string& site, const std::string& pool) {
  std::lock_guard lock(mu_);
  Pin pin = PinLocked(site, pool);
  if (pin != Pin::kAuto) return pin == Pin::kOut;
  auto it = entries_.find({site, pool});
  if (it == entries_.end()) return false;
  Advance(site, pool, it->second, clock_.NowMs());
  return it->second.state == HealthState::kQuarantined;
}

bool PoolHealth::Eligible(const std::string& site, const std::string& pool) {
  std::lock_guard lock(mu_);
  Pin pin = PinLocked(site, pool);
  if (pin == Pin::kOut) return false;
  if (pin == Pin::kIn) return true;
  auto it = entries_.find({site, pool});
  if (it == entries_.end()) return true;
  Entry& e = it->second;
  Advance(site, pool, e, clock_.NowMs());
  switch (e.state) {
    case HealthState::kHealthy:
      return true;
    case HealthState::kQuarantined:
      return false;
    case HealthState::kProbing:
      return e.probes_sent < config_.probes;
  }
  return true;
}

void PoolHealth::Take(const std::string& site, const std::string& pool) {
  std::lock_guard lock(mu_);
  auto it = entries_.find({site, pool});
  if (it != entries_.end() && it->second.state == HealthState::kProbing) ++it->second.probes_sent;
}

void PoolHealth::SetPin(const std::string& site, const std::string& pool, Pin pin) {
  std::lock_guard lock(mu_);
  if (pin == Pin::kAuto) {
    pins_.erase({site, pool});
  } else {
    pins_[{site, pool}] = pin;
  }
  HealthEvent ev{clock_.NowMs(), site, pool, "", "pinned_" + std::string(PinName(pin)), "operator"};
  log::Info("egress.pool_pinned", {{"site", site}, {"pool", pool}, {"pin", PinName(pin)}});
  events_.push_front(std::move(ev));
  if (events_.size() > kMaxEvents) events_.pop_back();
}

Pin PoolHealth::PinOf(const std::string& site, const std::string& pool) const {
  std::lock_guard lock(mu_);
  return PinLocked(site, pool);
}

HealthView PoolHealth::View(const std::string& site, const std::string& pool) {
  std::lock_guard lock(mu_);
  HealthView v;
  v.site = site;
  v.pool = pool;
  v.pin = PinLocked(site, pool);
  auto it = entries_.find({site, pool});
  if (it == entries_.end()) return v;
  Entry& e = it->second;
  int64_t now = clock_.NowMs();
  Advance(site, pool, e, now);
  Prune(e, now);
  v.state = e.state;
  v.total = static_cast<int>(e.samples.size());
  v.bad = e.bad;
  v.until_ms = e.state == HealthState::kQuarantined ? e.until_ms : 0;
  v.probes_sent = e.probes_sent;
  v.probes_ok = e.probes_ok;
  return v;
}

std::vector<HealthView> PoolHealth::All() {
  std::vector<std::pair<std::string, std::string>> keys;
  {
    std::lock_guard lock(mu_);
    for (const auto& [k, e] : entries_) keys.push_back(k);
  }
  std::vector<HealthView> out;
  for (const auto& [site, pool] : keys) out.push_back(View(site, pool));
  return out;
}

std::vector<HealthEvent> PoolHealth::Events(size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<HealthEvent> out;
  for (const HealthEvent& e : events_) {
    if (out.size() >= limit) break;
    out.push_back(e);
  }
  return out;
}

std::vector<PoolHealth::PinView> PoolHealth::Pins() const {
  std::lock_guard lock(mu_);
  std::vector<PinView> out;
  for (const auto& [k, p] : pins_) out.push_back(PinView{k.first, k.second, p});
  return out;
}

}  // namespace mp::route
