// Traffic shaping per (source, destination site): connection limit, messages a second and
// messages per connection, from TOML rules files (the operator's file first, then the shipped
// share/shaping.toml; the first rule whose MX pattern matches one of the site's MX hosts, and
// whose source, if it names one, is the source, wins; otherwise the [delivery] defaults), and an
// AIMD reaction to throttling replies: each one multiplies the rate by `decrease` (and halves the
// connection limit); every `recover_seconds` without one, the rate grows by a twentieth of its
// ceiling (and one connection comes back), until the configured limits are reached again.
//
// Rules file format:
//   [[site]]
//   mx = "*.google.com"           # MX host pattern: "*.suffix" or a host name
//   source = "ip1"                # optional: only for this egress source
//   max_connections = 20
//   max_messages_per_second = 50  # 0 = no limit
//   max_messages_per_connection = 100
// Thread-safety: ShapingRules is immutable after Load; AdaptiveRate is not thread-safe (its owner
// guards it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/error.h"

namespace mp::route {

struct ShapingLimits {
  int max_connections = 16;
  double max_messages_per_second = 0;  // 0 = no limit
  int max_messages_per_connection = 100;
  std::string rule;  // which rule set them ("default" or "file:pattern")
};

class ShapingRules {
 public:
  // Parses rules (TOML text); source_name appears in errors.
  Status Add(std::string_view toml_text, const std::string& source_name);
  // Operator file (if any) then the shipped rules, over the [delivery] defaults.
  static Result<ShapingRules> Load(const ShapingConfig& config, const DeliveryConfig& delivery);

  ShapingLimits Lookup(const std::string& source, const std::vector<std::string>& mx_hosts) const;

  size_t size() const { return rules_.size(); }

 private:
  struct Rule {
    std::string mx, source, origin;
    int max_connections = -1;  // -1 = not set: the default
    double max_messages_per_second = -1;
    int max_messages_per_connection = -1;
  };
  std::vector<Rule> rules_;
  ShapingLimits defaults_;
};

// The shipped rules (share/shaping.toml, compiled in).
std::string_view ShippedShapingRules();

class AdaptiveRate {
 public:
  AdaptiveRate(const ShapingLimits& limits, const ShapingConfig& config);

  // A message is about to be sent at now_ms (feeds the observed rate used when there is no
  // configured rate to cut).
  void OnSend(int64_t now_ms);
  // A throttling reply arrived.
  void OnThrottle(int64_t now_ms);
  // Messages a second allowed now (0 = no limit) and connections allowed now.
  double Rate(int64_t now_ms);
  int Connections(int64_t now_ms);
  bool Throttled() const { return throttled_; }
  int MessagesPerConnection() const { return limits_.max_messages_per_connection; }

 private:
  void Recover(int64_t now_ms);

  ShapingLimits limits_;
  ShapingConfig config_;
  bool throttled_ = false;
  double rate_ = 0;     // while throttled
  double ceiling_ = 0;  // the rate recovery climbs back to
  int connections_ = 0;
  int64_t last_decrease_ms_ = 0;  // one decrease a second: a burst of replies counts once
  int64_t recover_ms_ = 0;        // the recovery clock: a step every recover_seconds from here
  // Observed send rate: messages in the current and the previous second.
  int64_t second_ = 0;
  int sent_this_ = 0, sent_prev_ = 0;
};

}  // namespace mp::route
