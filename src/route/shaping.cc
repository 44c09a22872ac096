#include "route/shaping.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "route/egress.h"

namespace mp::route {

Status ShapingRules::Add(std::string_view text, const std::string& source_name) {
  toml::table table;
  try {
    table = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source_name << ":" << e.source().begin.line << ": " << e.description();
    return MakeError(Code::kInvalidValue, os.str());
  }
  for (const auto& [k, v] : table) {
    if (k.str() != "site") {
      return MakeError(Code::kInvalidValue,
                       source_name + ": unknown key '" + std::string(k.str()) + "'");
    }
  }
  const toml::node* sites = table.get("site");
  if (!sites) return Status::Ok();
  if (!sites->is_array_of_tables()) {
    return MakeError(Code::kInvalidValue, source_name + ": 'site' must be [[site]] tables");
  }
  size_t i = 0;
  for (const toml::node& n : *sites->as_array()) {
    const toml::table& t = *n.as_table();
    std::string where = source_name + ": site[" + std::to_string(i++) + "]";
    Rule r;
    r.origin = source_name;
    for (const auto& [k, v] : t) {
      std::string key(k.str());
      if (key == "mx" || key == "source") {
        if (!v.is_string())
          return MakeError(Code::kInvalidValue, where + "." + key + " must be a string");
        (key == "mx" ? r.mx : r.source) = *v.value<std::string>();
      } else if (key == "max_connections" || key == "max_messages_per_connection") {
        auto x = v.value<int64_t>();
        if (!v.is_integer() || !x || *x < 1 || *x > 10000) {
          return MakeError(Code::kInvalidValue, where + "." + key + " must be an integer 1..10000");
        }
        (key == "max_connections" ? r.max_connections : r.max_messages_per_connection) =
            static_cast<int>(*x);
      } else if (key == "max_messages_per_second") {
        auto x = v.value<double>();
        if (!v.is_number() || !x || !std::isfinite(*x) || *x < 0) {
          return MakeError(Code::kInvalidValue, where + "." + key + " must be a number >= 0");
        }
        r.max_messages_per_second = *x;
      } else {
        return MakeError(Code::kInvalidValue, where + ": unknown key '" + key + "'");
      }
    }
    std::string pattern = r.mx;
    for (char& c : pattern) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.mx = pattern;
    if (pattern.substr(0, 2) == "*.") pattern = pattern.substr(2);
    if (pattern.empty() || pattern.find_first_of(" *@/") != std::string::npos) {
      return MakeError(Code::kInvalidValue,
                       where + ".mx must be an MX host name or \"*.suffix\", got \"" + r.mx + "\"");
    }
    rules_.push_back(std::move(r));
  }
  return Status::Ok();
}

Result<ShapingRules> ShapingRules::Load(const ShapingConfig& config,
                                        const DeliveryConfig& delivery) {
  ShapingRules rules;
  rules.defaults_.max_connections = delivery.max_connections_per_site;
  rules.defaults_.max_messages_per_second = delivery.max_messages_per_second_per_site;
  rules.defaults_.max_messages_per_connection = delivery.max_messages_per_connection;
  rules.defaults_.rule = "default";
  if (!config.rules_file.empty()) {
    std::ifstream in(config.rules_file, std::ios::binary);
    if (!in) {
      return MakeError(Code::kInvalidValue,
                       "cannot read egress.shaping.rules_file '" + config.rules_file + "'");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    Status s = rules.Add(ss.str(), config.rules_file);
    if (!s.ok()) return s.error();
  }
  Status s = rules.Add(ShippedShapingRules(), "shaping.toml (shipped)");
  if (!s.ok()) return s.error();
  return rules;
}

ShapingLimits ShapingRules::Lookup(const std::string& source,
                                   const std::vector<std::string>& mx_hosts) const {
  for (const Rule& r : rules_) {
    if (!r.source.empty() && r.source != source) continue;
    bool match = false;
    for (const std::string& h : mx_hosts) match = match || HostMatches(r.mx, h);
    if (!match) continue;
    ShapingLimits l = defaults_;
    if (r.max_connections > 0) l.max_connections = r.max_connections;
    if (r.max_messages_per_second >= 0) l.max_messages_per_second = r.max_messages_per_second;
    if (r.max_messages_per_connection > 0)
      l.max_messages_per_connection = r.max_messages_per_connection;
    l.rule = r.origin + ":" + r.mx + (r.source.empty() ? "" : "/" + r.source);
    return l;
  }
  return defaults_;
}

AdaptiveRate::AdaptiveRate(const ShapingLimits& limits, const ShapingConfig& config)
    : limits_(limits), config_(config), connections_(limits.max_connections) {}

void AdaptiveRate::OnSend(int64_t now_ms) {
  int64_t second = now_ms / 1000;
  if (second != second_) {
    sent_prev_ = second == second_ + 1 ? sent_this_ : 0;
    sent_this_ = 0;
    second_ = second;
  }
  ++sent_this_;
}

void AdaptiveRate::OnThrottle(int64_t now_ms) {
  Recover(now_ms);
  double current = rate_;
  if (!throttled_) {
    // The rate that drew the complaint: the configured one, or what was observed.
    // (At least 20 a second: one complaint while traffic is light must not starve the next
    // burst for minutes.)
    double observed = std::max(sent_prev_, sent_this_);
    current = limits_.max_messages_per_second > 0 ? limits_.max_messages_per_second
                                                  : std::max(20.0, observed);
    ceiling_ = current;
    connections_ = limits_.max_connections;
  }
  // Several replies of one burst (every connection hears it at once) count once a second.
  if (throttled_ && now_ms - last_decrease_ms_ < 1000) {
    recover_ms_ = now_ms;  // but recovery starts over
    return;
  }
  throttled_ = true;
  rate_ = std::max(config_.min_rate, current * config_.decrease);
  connections_ = std::max(1, connections_ / 2);
  last_decrease_ms_ = now_ms;
  recover_ms_ = now_ms;
}

void AdaptiveRate::Recover(int64_t now_ms) {
  if (!throttled_) return;
  int64_t step_ms = int64_t{config_.recover_seconds} * 1000;
  while (throttled_ && now_ms - recover_ms_ >= step_ms) {
    recover_ms_ += step_ms;
    rate_ += std::max(0.1, ceiling_ / 20);
    connections_ = std::min(limits_.max_connections, connections_ + 1);
    if (rate_ >= ceiling_ && connections_ >= limits_.max_connections) throttled_ = false;
  }
}

double AdaptiveRate::Rate(int64_t now_ms) {
  Recover(now_ms);
  return throttled_ ? std::min(rate_, ceiling_) : limits_.max_messages_per_second;
}

int AdaptiveRate::Connections(int64_t now_ms) {
  Recover(now_ms);
  return throttled_ ? connections_ : limits_.max_connections;
}

}  // namespace mp::route
