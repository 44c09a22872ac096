#include "queue/retry.h"

#include <algorithm>
#include <cmath>

namespace mp {

int64_t RetryPolicy::Delay(int failures, double unit_random) const {
  auto base = static_cast<double>(first_delay_ms);
  for (int i = 1; i < failures && base < static_cast<double>(max_delay_ms); ++i) base *= multiplier;
  base = std::min(base, static_cast<double>(max_delay_ms));
  double j = std::clamp(jitter, 0.0, 0.5);
  double u = std::clamp(unit_random, 0.0, 1.0);
  double spread = base * (1.0 + j * (2.0 * u - 1.0));
  return std::max<int64_t>(1000, static_cast<int64_t>(std::llround(spread)));
}

std::optional<int64_t> RetryPolicy::NextAttempt(int64_t created_ms, int64_t now_ms, int failures,
                                                double unit_random) const {
  const int64_t deadline = created_ms + max_age_ms;
  if (now_ms >= deadline) return std::nullopt;
  return std::min(now_ms + Delay(failures, unit_random), deadline);
}

}  // namespace mp
