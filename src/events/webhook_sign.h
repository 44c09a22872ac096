// Webhook signing per the Standard Webhooks specification (version 1.0.0, symmetric scheme): a
// message id, a Unix timestamp in seconds and the request body -> the three request headers
//
//   webhook-id: msg_2KWPBgLlAfxdpx2AI54pPJ85f4W
//   webhook-timestamp: 1674087231
//   webhook-signature: v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=
//
// where the signature is base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")) and the key is the
// base64-decoded part of the endpoint's secret after "whsec_". While a secret is rotated the
// request is signed with every live secret and webhook-signature is their space-separated list; a
// receiver accepts the request when any one of them verifies. Sans I/O: no clock is read here
// (timestamps come in), only the CSPRNG for new secrets.
//
// Receivers verify with the specification's libraries (npm `standardwebhooks` and its siblings),
// which decode the body as UTF-8 text before hashing it: bodies must be UTF-8 (ours are JSON).
//
// SECURITY: secrets are trusted configuration, but one that an API client supplies is untrusted
// until DecodeWebhookSecret accepted it (standard base64 with padding, 24 to 64 key bytes). Message
// ids are ours; a '.' in one is refused, as the specification asks, so that "{id}.{timestamp}" can
// never be read two ways. VerifyWebhook sees untrusted headers and body: it is linear in their
// size, compares in constant time and checks the timestamp against a tolerance (replay).
// Thread-safety: all functions are safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace mp::events {

inline constexpr std::string_view kWebhookSecretPrefix = "whsec_";
// The specification's bounds for an HMAC key: at least 192 bits, at most 512.
inline constexpr size_t kMinWebhookKeyBytes = 24;
inline constexpr size_t kMaxWebhookKeyBytes = 64;
// The tolerance the specification's libraries apply to webhook-timestamp: 5 minutes either way.
inline constexpr int64_t kWebhookToleranceSeconds = int64_t{5} * 60;
// Longest message id SignWebhook accepts (it goes into a header; ours are far shorter).
inline constexpr size_t kMaxWebhookIdBytes = 256;

// A new secret: "whsec_" + base64 of 24 random bytes, the form the specification's libraries
// generate and show to users.
std::string NewWebhookSecret();

// The raw HMAC key of a secret, with or without the "whsec_" prefix. Errors (kInvalidValue, field
// "secret") say what is wrong: empty, not standard base64 with '=' padding, or a key shorter than
// 24 or longer than 64 bytes.
Result<std::string> DecodeWebhookSecret(std::string_view secret);

// The three header values of one signed request.
struct SignedHeaders {
  std::string id;         // webhook-id
  std::string timestamp;  // webhook-timestamp: decimal Unix seconds
  std::string signature;  // webhook-signature: "v1,<base64>" (several separated by one space)
};

// Signs body with one secret. Fails (kInvalidValue) on a bad secret, an empty or over-long msg_id,
// one with a '.', a space or a character outside printable ASCII, or a negative timestamp.
Result<SignedHeaders> SignWebhook(std::string_view secret, std::string_view msg_id,
                                  int64_t timestamp_s, std::string_view body);
// Signs body with every secret (key rotation), signatures in the order of secrets. Fails when the
// list is empty or any secret is bad (the error names its index).
Result<SignedHeaders> SignWebhook(const std::vector<std::string>& secrets, std::string_view msg_id,
                                  int64_t timestamp_s, std::string_view body);

// True when some "v1,..." entry of signature_header is body's signature under secret, and the
// timestamp header (decimal seconds) is within tolerance_s of now_s. Entries of other versions
// ("v1a,...") are skipped, as the specification's verifiers do.
bool VerifyWebhook(std::string_view secret, std::string_view msg_id, std::string_view timestamp,
                   std::string_view signature_header, std::string_view body, int64_t now_s,
                   int64_t tolerance_s = kWebhookToleranceSeconds);

}  // namespace mp::events
