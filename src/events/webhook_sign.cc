#include "events/webhook_sign.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <charconv>
#include <memory>

#include "core/id.h"

namespace mp::events {
namespace {

constexpr size_t kMacBytes = 32;  // SHA-256

std::string Base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');  // EVP_EncodeBlock writes a NUL
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// Standard alphabet, '=' padding to a multiple of 4, nothing else: the form the specification's
// libraries decode. EVP_DecodeBlock alone would skip blanks and ignore padding.
bool StrictBase64Decode(std::string_view text, std::string* out) {
  if (text.empty() || text.size() % 4 != 0) return false;
  size_t pad = 0;
  while (pad < 2 && text[text.size() - 1 - pad] == '=') ++pad;
  for (size_t i = 0; i < text.size() - pad; ++i) {
    if (!IsBase64Char(text[i])) return false;
  }
  std::string bytes(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) != bytes.size()) return false;
  bytes.resize(bytes.size() - pad);  // EVP_DecodeBlock counts padding as zero bytes
  *out = std::move(bytes);
  return true;
}

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// HMAC-SHA256(key, id "." timestamp "." body), fed in pieces so the body is never copied.
bool HmacSha256(std::string_view key, std::string_view id, std::string_view timestamp,
                std::string_view body, std::array<unsigned char, kMacBytes>* mac) {
  // Fetched once: the fetch looks the algorithm up in the provider tables.
  static EVP_MAC* const kHmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (kHmac == nullptr) return false;
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(kHmac));
  if (!ctx) return false;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  auto update = [&](std::string_view s) {
    return EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(s.data()), s.size()) ==
           1;
  };
  size_t out_len = 0;
  return EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                      params) == 1 &&
         update(id) && update(".") && update(timestamp) && update(".") && update(body) &&
         EVP_MAC_final(ctx.get(), mac->data(), &out_len, mac->size()) == 1 && out_len == kMacBytes;
}

// The base64 signature (without "v1,") of one request under one raw key; empty on an OpenSSL
// failure.
std::string Signature(std::string_view key, std::string_view id, std::string_view timestamp,
                      std::string_view body) {
  std::array<unsigned char, kMacBytes> mac{};
  if (!HmacSha256(key, id, timestamp, body, &mac)) return "";
  return Base64(mac.data(), mac.size());
}

Status CheckMessageId(std::string_view id) {
  if (id.empty()) return MakeError(Code::kInvalidValue, "webhook message id is empty", "id");
  if (id.size() > kMaxWebhookIdBytes) {
    return MakeError(
        Code::kInvalidValue,
        "webhook message id is longer than " + std::to_string(kMaxWebhookIdBytes) + " bytes", "id");
  }
  for (char c : id) {
    if (c == '.') {
      return MakeError(Code::kInvalidValue,
                       "webhook message id must not contain '.' (it separates the signed parts)",
                       "id");
    }
    if (c <= 0x20 || c > 0x7e) {
      return MakeError(Code::kInvalidValue,
                       "webhook message id must be printable ASCII without spaces", "id");
    }
  }
  return Status::Ok();
}

// Decimal seconds without sign, leading '+', blanks or overflow.
bool ParseSeconds(std::string_view text, int64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

std::string NewWebhookSecret() {
  std::array<unsigned char, kMinWebhookKeyBytes> key{};
  RandomBytes(key.data(), key.size());
  std::string secret(kWebhookSecretPrefix);
  secret += Base64(key.data(), key.size());
  OPENSSL_cleanse(key.data(), key.size());
  return secret;
}

Result<std::string> DecodeWebhookSecret(std::string_view secret) {
  if (secret.starts_with(kWebhookSecretPrefix)) secret.remove_prefix(kWebhookSecretPrefix.size());
  if (secret.empty()) return MakeError(Code::kInvalidValue, "webhook secret is empty", "secret");
  std::string key;
  if (!StrictBase64Decode(secret, &key)) {
    return MakeError(Code::kInvalidValue,
                     "webhook secret is not standard base64 with '=' padding (after the optional "
                     "\"whsec_\" prefix)",
                     "secret");
  }
  if (key.size() < kMinWebhookKeyBytes || key.size() > kMaxWebhookKeyBytes) {
    return MakeError(Code::kInvalidValue,
                     "webhook secret decodes to " + std::to_string(key.size()) +
                         " bytes; it must be " + std::to_string(kMinWebhookKeyBytes) + " to " +
                         std::to_string(kMaxWebhookKeyBytes),
                     "secret");
  }
  return key;
}

Result<SignedHeaders> SignWebhook(std::string_view secret, std::string_view msg_id,
                                  int64_t timestamp_s, std::string_view body) {
  return SignWebhook(std::vector<std::string>{std::string(secret)}, msg_id, timestamp_s, body);
}

Result<SignedHeaders> SignWebhook(const std::vector<std::string>& secrets, std::string_view msg_id,
                                  int64_t timestamp_s, std::string_view body) {
  if (secrets.empty()) return MakeError(Code::kInvalidValue, "no webhook secret", "secret");
  if (Status s = CheckMessageId(msg_id); !s.ok()) return s.error();
  if (timestamp_s < 0) {
    return MakeError(Code::kInvalidValue, "webhook timestamp is negative", "timestamp");
  }
  SignedHeaders out{std::string(msg_id), std::to_string(timestamp_s), {}};
  for (size_t i = 0; i < secrets.size(); ++i) {
    auto key = DecodeWebhookSecret(secrets[i]);
    if (!key.ok()) {
      Error e = key.error();
      if (secrets.size() > 1) {
        e.detail += " (secret " + std::to_string(i) + ")";
        e.field = "secret[" + std::to_string(i) + "]";
      }
      return e;
    }
    std::string sig = Signature(key.value(), out.id, out.timestamp, body);
    OPENSSL_cleanse(key.value().data(), key.value().size());
    if (sig.empty()) return MakeError(Code::kInternal, "HMAC-SHA256 failed in OpenSSL");
    if (!out.signature.empty()) out.signature += ' ';
    out.signature += "v1,";
    out.signature += sig;
  }
  return out;
}

bool VerifyWebhook(std::string_view secret, std::string_view msg_id, std::string_view timestamp,
                   std::string_view signature_header, std::string_view body, int64_t now_s,
                   int64_t tolerance_s) {
  int64_t ts = 0;
  if (msg_id.empty() || !ParseSeconds(timestamp, &ts)) return false;
  if (ts < now_s - tolerance_s || ts > now_s + tolerance_s) return false;
  auto key = DecodeWebhookSecret(secret);
  if (!key.ok()) return false;
  const std::string expected = Signature(key.value(), msg_id, timestamp, body);
  OPENSSL_cleanse(key.value().data(), key.value().size());
  if (expected.empty()) return false;
  bool match = false;
  std::string_view rest = signature_header;
  while (!rest.empty()) {
    size_t space = rest.find(' ');
    std::string_view entry = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    if (!entry.starts_with("v1,")) continue;
    entry.remove_prefix(3);
    // Lengths are public (a SHA-256 in base64 is always 44 characters); the bytes are compared in
    // constant time so that a mismatch leaks nothing about where it is.
    if (entry.size() == expected.size() &&
        CRYPTO_memcmp(entry.data(), expected.data(), expected.size()) == 0) {
      match = true;
    }
  }
  return match;
}

}  // namespace mp::events
