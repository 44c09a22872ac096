// MessageId: a 128-bit time-ordered identifier, printed as 26-character ULID text.
//
// Layout (big-endian, 16 bytes): 48 bits of milliseconds since the Unix epoch, then 80 random bits.
// Ids made by one thread within one millisecond are strictly increasing (the random part is
// incremented), so byte order is creation order per thread and time order across threads. The
// 16 bytes are the key in the spool, so a range scan walks messages in time order.
// Thread-safety: NewId() is safe from any thread (per-thread state).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mp {

class Clock;

struct MessageId {
  std::array<uint8_t, 16> bytes{};

  int64_t TimestampMs() const;
  std::string ToString() const;  // 26 characters, Crockford base32, upper case
  std::string_view Raw() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  // Accepts upper or lower case; rejects anything that is not exactly 26 valid characters or
  // overflows 128 bits.
  static std::optional<MessageId> Parse(std::string_view text);
  static std::optional<MessageId> FromRaw(std::string_view raw);

  auto operator<=>(const MessageId&) const = default;
};

// A new id for the time the clock gives.
MessageId NewId(const Clock& clock);

// n random bytes from the operating system's CSPRNG (libsodium).
void RandomBytes(void* out, size_t n);
// Lower-case hex.
std::string HexEncode(std::string_view bytes);
// SHA-256 of data, as 32 raw bytes.
std::string Sha256(std::string_view data);

}  // namespace mp
