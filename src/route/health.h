// PoolHealth: automatic failover per (destination site, pool). Every delivery outcome through a
// pool to a site is counted over a rolling window; when the share of bad outcomes (policy and
// reputation rejections x.7.x, throttling replies, connection failures) crosses the threshold over
// at least min_samples outcomes, the pool is quarantined for that site for a cool-down. Then a few
// probe messages go through it: all good and it is released, one bad and it is quarantined again
// for twice as long (at most 8 times the cool-down). Operators pin a pool in (never quarantined)
// or out (never used), for one site or for every site ("*"). Every transition is logged, counted
// (mailplane_pool_transitions_total) and kept as an event.
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"

namespace mp {
class Clock;
}

namespace mp::route {

enum class OutcomeClass { kGood, kBad, kNeutral };

// What a reply says about the path it came through. code 0 = no reply. enhanced "" = none.
OutcomeClass ClassifyReply(int code, std::string_view enhanced, std::string_view text);
// Whether a reply asks the client to slow down (421, 450 4.2.1, x.7.28, "try again later", ...).
bool IsThrottleReply(int code, std::string_view enhanced, std::string_view text);

enum class HealthState { kHealthy, kQuarantined, kProbing };
enum class Pin { kAuto, kIn, kOut };
std::string_view HealthStateName(HealthState s);
std::string_view PinName(Pin p);

struct HealthEvent {
  int64_t at_ms = 0;
  std::string site, pool, from, to, reason;
};

struct HealthView {
  std::string site, pool;
  HealthState state = HealthState::kHealthy;
  int total = 0, bad = 0;  // in the window
  int64_t until_ms = 0;    // end of the quarantine
  int probes_sent = 0, probes_ok = 0;
  Pin pin = Pin::kAuto;
};

class PoolHealth {
 public:
  PoolHealth(const FailoverConfig& config, const Clock& clock);
  // Called with every transition, under this object's lock: must be quick and must not call
  // back into PoolHealth (serve writes it to the event log). Set before use.
  void SetListener(std::function<void(const HealthEvent&)> listener) {
    listener_ = std::move(listener);
  }

  void Record(const std::string& site, const std::string& pool, OutcomeClass outcome,
              std::string_view detail);
  // Whether the pool may take mail for the site now. A probing pool may take a probe: Take()
  // reserves it once chosen.
  bool Eligible(const std::string& site, const std::string& pool);
  void Take(const std::string& site, const std::string& pool);
  // Whether mail already routed through the pool must not go out now (quarantined or pinned
  // out): a job waiting at a site checks this before it is sent.
  bool Blocked(const std::string& site, const std::string& pool);

  // site "*" pins for every site. kAuto removes the pin.
  void SetPin(const std::string& site, const std::string& pool, Pin pin);
  Pin PinOf(const std::string& site, const std::string& pool) const;

  HealthView View(const std::string& site, const std::string& pool);
  std::vector<HealthView> All();
  std::vector<HealthEvent> Events(size_t limit) const;  // newest first
  struct PinView {
    std::string site, pool;
    Pin pin;
  };
  std::vector<PinView> Pins() const;

 private:
  struct Entry {
    HealthState state = HealthState::kHealthy;
    std::deque<std::pair<int64_t, bool>> samples;  // time, bad
    int bad = 0;
    int64_t until_ms = 0;
    int cooldown_factor = 1;
    int probes_sent = 0, probes_ok = 0;
  };
  Entry& Get(const std::string& site, const std::string& pool);  // mu_ held
  void Prune(Entry& e, int64_t now);                             // mu_ held
  void Transition(const std::string& site, const std::string& pool, Entry& e, HealthState to,
                  std::string reason);  // mu_ held
  void Advance(const std::string& site, const std::string& pool, Entry& e, int64_t now);
  Pin PinLocked(const std::string& site, const std::string& pool) const;

  const FailoverConfig config_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Entry> entries_;
  std::map<std::pair<std::string, std::string>, Pin> pins_;
  std::deque<HealthEvent> events_;
  std::function<void(const HealthEvent&)> listener_;
};

}  // namespace mp::route
