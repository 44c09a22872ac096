// Clock: the one place mailplane reads wall-clock time, so tests can inject time.
// Thread-safety: SystemClock is stateless; ManualClock is safe to read and set from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace mp {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch.
  virtual int64_t NowMs() const = 0;
  static Clock& System();
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  void Set(int64_t ms) { now_ms_.store(ms); }
  void Advance(int64_t ms) { now_ms_.fetch_add(ms); }

 private:
  std::atomic<int64_t> now_ms_;
};

// RFC 3339 text in UTC with milliseconds: 2026-11-24T10:00:00.000Z.
std::string FormatRfc3339(int64_t ms);
// Parses RFC 3339 (date-time with a 'Z' or numeric offset; fractions of a second allowed).
// Returns false on anything else.
bool ParseRfc3339(std::string_view text, int64_t* ms);
// RFC 5322 date-time for a Date: header, in UTC: "Tue, 24 Nov 2026 10:00:00 +0000".
std::string FormatRfc5322Date(int64_t ms);

}  // namespace mp
