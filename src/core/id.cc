#include "core/id.h"

#include <sodium.h>

#include <cstring>

#include "core/clock.h"

namespace mp {
namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

int DecodeChar(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  for (int i = 0; i < 32; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}

struct ThreadIdState {
  int64_t last_ms = -1;
  std::array<uint8_t, 10> random{};
};

void EnsureSodium() {
  static const bool kSodiumReady = sodium_init() >= 0;
  (void)kSodiumReady;
}

}  // namespace

void RandomBytes(void* out, size_t n) {
  EnsureSodium();
  randombytes_buf(out, n);
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string Sha256(std::string_view data) {
  EnsureSodium();
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(out.data()),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return out;
}

int64_t MessageId::TimestampMs() const {
  int64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = (ms << 8) | bytes[i];
  return ms;
}

std::string MessageId::ToString() const {
  // 128 bits as 26 base32 digits: the first digit carries the top 3 bits (2 padding bits).
  std::string out(26, '0');
  unsigned __int128 v = 0;
  for (uint8_t b : bytes) v = (v << 8) | b;
  for (int i = 25; i >= 0; --i) {
    out[i] = kAlphabet[static_cast<unsigned>(v & 31)];
    v >>= 5;
  }
  return out;
}

std::optional<MessageId> MessageId::Parse(std::string_view text) {
  if (text.size() != 26) return std::nullopt;
  int first = DecodeChar(text[0]);
  if (first < 0 || first > 7) return std::nullopt;  // would overflow 128 bits
  unsigned __int128 v = 0;
  for (char c : text) {
    int d = DecodeChar(c);
    if (d < 0) return std::nullopt;
    v = (v << 5) | static_cast<unsigned>(d);
  }
  MessageId id;
  for (int i = 15; i >= 0; --i) {
    id.bytes[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return id;
}

std::optional<MessageId> MessageId::FromRaw(std::string_view raw) {
  if (raw.size() != 16) return std::nullopt;
  MessageId id;
  std::memcpy(id.bytes.data(), raw.data(), 16);
  return id;
}

MessageId NewId(const Clock& clock) {
  thread_local ThreadIdState state;
  int64_t ms = clock.NowMs();
  if (ms <= state.last_ms) {
    // Same millisecond (or the clock stepped back): keep the time, increment the random part.
    ms = state.last_ms;
    for (int i = 9; i >= 0; --i) {
      if (++state.random[i] != 0) break;
    }
  } else {
    state.last_ms = ms;
    RandomBytes(state.random.data(), state.random.size());
    state.random[0] &= 0x7f;  // leave headroom so increments within a millisecond cannot wrap
  }
  MessageId id;
  for (int i = 5; i >= 0; --i) {
    id.bytes[i] = static_cast<uint8_t>(ms & 0xff);
    ms >>= 8;
  }
  std::memcpy(id.bytes.data() + 6, state.random.data(), 10);
  return id;
}

}  // namespace mp
