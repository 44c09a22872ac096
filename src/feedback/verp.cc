#include "feedback/verp.h"

// libsodium rather than OpenSSL for the MAC: mp_feedback (and fuzz_report, which links only it
// and mp_core) gets libsodium through mp_core, but not libcrypto.
#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstdint>

namespace mp::feedback {
namespace {

constexpr size_t kIdBytes = 16;
constexpr size_t kMacBytes = 8;  // of the 32 of HMAC-SHA256
constexpr size_t kTokenBytes = kIdBytes + kMacBytes;
static_assert((kTokenBytes * 8 + 4) / 5 == kVerpTokenChars);

constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";  // RFC 4648, lower case

using Token = std::array<uint8_t, kTokenBytes>;

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool ValidPrefix(std::string_view p) {
  if (p.empty() || p.size() > kMaxVerpPrefixBytes) return false;
  for (char c : p) {
    if (!IsAlnum(c) && c != '.' && c != '-' && c != '_') return false;
  }
  return true;
}

bool ValidDomain(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  for (char c : d) {
    if (!IsAlnum(c) && c != '.' && c != '-') return false;
  }
  return true;
}

// The first kMacBytes of HMAC-SHA256(key, id), for a key of any length (the init/update/final
// form; the one-shot crypto_auth_hmacsha256 takes 32-byte keys only).
void Mac(std::string_view key, std::string_view id, uint8_t* out) {
  // libsodium asks for sodium_init before any other call; it is idempotent and thread-safe.
  static const bool kSodiumReady = sodium_init() >= 0;
  (void)kSodiumReady;
  crypto_auth_hmacsha256_state state;
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> mac{};
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()),
                              key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(id.data()),
                                id.size());
  crypto_auth_hmacsha256_final(&state, mac.data());
  std::copy(mac.begin(), mac.begin() + kMacBytes, out);
  sodium_memzero(mac.data(), mac.size());
  sodium_memzero(&state, sizeof state);
}

std::string Base32(const Token& t) {
  std::string out;
  out.reserve(kVerpTokenChars);
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t b : t) {
    buffer = buffer << 8 | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kAlphabet[(buffer >> bits) & 31]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

int Base32Value(char c) {
  c = Lower(c);
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

// Exactly kVerpTokenChars characters of the alphabet (either case) whose unused low bits are zero:
// one spelling per token (up to case), so a token cannot be varied without changing its bytes.
std::optional<Token> DecodeToken(std::string_view s) {
  if (s.size() != kVerpTokenChars) return std::nullopt;
  Token t{};
  uint32_t buffer = 0;
  int bits = 0;
  size_t n = 0;
  for (char c : s) {
    int v = Base32Value(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 5 | static_cast<uint32_t>(v)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      t[n++] = static_cast<uint8_t>(buffer >> bits);
    }
  }
  if (n != kTokenBytes || (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return t;
}

}  // namespace

std::string MakeVerpAddress(std::string_view key, const MessageId& message,
                            std::string_view bounce_domain, std::string_view prefix) {
  if (key.size() < kMinVerpKeyBytes || !ValidPrefix(prefix) || !ValidDomain(bounce_domain)) {
    return {};
  }
  Token t{};
  std::copy(message.bytes.begin(), message.bytes.end(), t.begin());
  Mac(key, message.Raw(), t.data() + kIdBytes);
  std::string out;
  out.reserve(prefix.size() + 2 + kVerpTokenChars + bounce_domain.size());
  out.append(prefix).push_back('+');
  out.append(Base32(t)).push_back('@');
  out.append(bounce_domain);
  return out;
}

std::optional<VerpTarget> ParseVerpAddress(std::string_view key, std::string_view address,
                                           std::string_view bounce_domain,
                                           std::string_view prefix) {
  if (key.size() < kMinVerpKeyBytes || prefix.empty() || bounce_domain.empty()) {
    return std::nullopt;
  }
  // Return-Path and Original-Mail-From carry the address in angle brackets.
  if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
    address = address.substr(1, address.size() - 2);
  }
  const size_t at = address.rfind('@');
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view local = address.substr(0, at);
  if (!EqualsIgnoreCase(address.substr(at + 1), bounce_domain)) return std::nullopt;
  if (local.size() != prefix.size() + 1 + kVerpTokenChars ||
      !EqualsIgnoreCase(local.substr(0, prefix.size()), prefix) || local[prefix.size()] != '+') {
    return std::nullopt;
  }
  std::optional<Token> t = DecodeToken(local.substr(prefix.size() + 1));
  if (!t) return std::nullopt;
  const std::string_view id(reinterpret_cast<const char*>(t->data()), kIdBytes);
  std::array<uint8_t, kMacBytes> want{};
  Mac(key, id, want.data());
  if (sodium_memcmp(want.data(), t->data() + kIdBytes, kMacBytes) != 0) return std::nullopt;
  std::optional<MessageId> m = MessageId::FromRaw(id);
  if (!m) return std::nullopt;
  return VerpTarget{*m};
}

}  // namespace mp::feedback
