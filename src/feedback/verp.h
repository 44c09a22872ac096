// VERP return paths: the envelope sender (MAIL FROM) that attributes an asynchronous bounce or
// complaint to the message it concerns. Every message goes out with
//
//   MAIL FROM:<b+agjkhngf23t7qci2fm6e2xtpod7tt4t6zicc2ba@bounces.example.com>
//              ^prefix ^token (39 characters)          ^bounce domain
//
// so a DSN or an ARF report sent back to that address names the message without anyone trusting
// what the report's body says. token = base32 (RFC 4648 alphabet, lower case, no padding) of the
// 16 raw bytes of the MessageId followed by the first 8 bytes of HMAC-SHA256(key, those 16 bytes).
// The MAC makes the address unforgeable: without the key nobody can make a valid return path for
// someone else's message (and so make us record bounces or complaints against it). 8 bytes are a
// 2^-64 chance per forged token, and a forger learns nothing from our silence.
//
// The local part is at most kMaxVerpPrefixBytes + 1 + 39 = 63 characters, under the 64 that
// RFC 5321 section 4.5.3.1.1 allows.
//
// SECURITY: ParseVerpAddress sees untrusted input (a recipient address of an inbound message,
// any bytes). It is linear in the input, decodes only a fixed-size token, and compares the MAC in
// constant time (libsodium's HMAC-SHA256 and sodium_memcmp). The key is a secret of at least
// kMinVerpKeyBytes from the configuration.
// Thread-safety: both functions are safe from any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/id.h"

namespace mp::feedback {

inline constexpr size_t kMinVerpKeyBytes = 16;
inline constexpr size_t kVerpTokenChars = 39;  // base32 of 16 + 8 bytes: 192 bits in 5-bit groups
// Local part = prefix "+" token, at most 63 characters.
inline constexpr size_t kMaxVerpPrefixBytes = 63 - 1 - kVerpTokenChars;
inline constexpr std::string_view kDefaultVerpPrefix = "b";

struct VerpTarget {
  MessageId message;
};

// "<prefix>+<token>@<bounce_domain>", prefix and domain as given. Empty when it cannot make a valid
// address: key shorter than kMinVerpKeyBytes, prefix empty, longer than kMaxVerpPrefixBytes or not
// made of letters, digits, '.', '-', '_' only ('+' separates the token), bounce domain empty or not
// made of letters, digits, '.', '-' only. These are configuration checked at start-up.
std::string MakeVerpAddress(std::string_view key, const MessageId& message,
                            std::string_view bounce_domain,
                            std::string_view prefix = kDefaultVerpPrefix);

// The message a return path names, when address (optionally in angle brackets) is
// "<prefix>+<token>@<bounce_domain>" with a token made under key. Prefix, token and domain compare
// case-insensitively: some MTAs lower-case (or upper-case) local parts. nullopt for anything else
// (another domain or prefix, a token of another key, a tampered token, garbage, a key shorter than
// kMinVerpKeyBytes).
std::optional<VerpTarget> ParseVerpAddress(std::string_view key, std::string_view address,
                                           std::string_view bounce_domain,
                                           std::string_view prefix = kDefaultVerpPrefix);

}  // namespace mp::feedback
