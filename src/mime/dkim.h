// DKIM signing (RFC 6376): a complete message and a domain's key -> a DKIM-Signature header field
// to prepend to the message. Algorithms rsa-sha256 and ed25519-sha256 (RFC 8463), canonicalization
// relaxed/relaxed. Sans I/O: keys come in as PEM text, the DNS record goes out as text, nothing is
// looked up. Several keys (an RSA and an Ed25519 one, or an old and a new selector during a key
// rotation): call Sign once per key on the same message and prepend every result; the signatures
// do not cover one another.
//
// Line ends: the message is canonicalized as it will be on the wire after smtp::DotStuffer, which
// makes every CRLF, bare LF and bare CR a CRLF and ends a message that lacks one with CRLF. A
// verifier downstream sees those bytes, so this signer reads the message the same way.
//
// SECURITY: sees untrusted input: the message (a client's raw submission or a composed message
// with client-chosen header values). Parsing is one pass, linear in the message's size, with
// memory bounded by the header fields it signs (at most kMaxFieldsPerName per name) plus a fixed
// buffer: the body is canonicalized and hashed in a stream, never copied. Malformed header sections
// are refused, never guessed at. The private key is trusted configuration, but a PEM that does not
// parse, is encrypted, or is of the wrong type or size is an error, never a prompt or a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/error.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace mp::dkim {

enum class Algorithm : uint8_t { kRsaSha256, kEd25519Sha256 };

// The a= value: "rsa-sha256" or "ed25519-sha256".
std::string_view AlgorithmName(Algorithm algorithm);

// The header fields Sign signs when the message has them, each as often as it occurs (From once
// more, so that a From added in transit breaks the signature: RFC 6376 section 8.15).
inline constexpr std::string_view kSignedHeaders[] = {
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "in-reply-to",
    "references",
};
// A message with more fields of one of those names than this is refused (the h= list would grow
// with the header section; no genuine message repeats one of them this often).
inline constexpr size_t kMaxFieldsPerName = 64;

struct GeneratedKey {
  Algorithm algorithm;
  std::string private_pem;  // PKCS#8 "PRIVATE KEY", unencrypted
  std::string public_b64;   // the p= value of the DNS record
};

// A new key: RSA 2048 bits or Ed25519.
Result<GeneratedKey> GenerateKey(Algorithm algorithm);

// The TXT record to publish at <selector>._domainkey.<domain>: "v=DKIM1; k=rsa; p=..." or
// "v=DKIM1; k=ed25519; p=...". p= is the base64 of the DER SubjectPublicKeyInfo for RSA and of the
// raw 32-byte public key for Ed25519. An RSA record is longer than 255 octets: the DNS server or
// its user interface splits it into several character-strings of one TXT record.
std::string DnsTxtRecord(Algorithm algorithm, std::string_view public_b64);

// A domain's private key, with the d= and s= it signs under. Immutable after Load; thread-safe:
// any number of threads may Sign with one key at once (each call uses its own OpenSSL contexts).
class SigningKey final {
 public:
  // domain and selector are ASCII host names (A-labels for internationalized domains). The PEM is
  // PKCS#8 or traditional, unencrypted; an RSA key has 1024 to 4096 bits (RFC 8301).
  static Result<SigningKey> Load(std::string domain, std::string selector, Algorithm algorithm,
                                 std::string_view private_pem);

  const std::string& domain() const { return domain_; }
  const std::string& selector() const { return selector_; }
  Algorithm algorithm() const { return algorithm_; }
  // The p= value for DnsTxtRecord, derived from the private key.
  const std::string& public_b64() const { return public_b64_; }

 private:
  struct PkeyFree {
    void operator()(evp_pkey_st* pkey) const;
  };

  SigningKey() = default;
  // Signs the SHA-256 digest of the header data as the algorithm says: RSASSA-PKCS1-v1_5 over it,
  // or Ed25519 (PureEdDSA) over the 32 digest bytes themselves (RFC 8463 section 3). Raw bytes.
  Result<std::string> SignDigest(const unsigned char* digest32) const;

  friend Result<std::string> SignatureFor(const SigningKey& key, std::string_view message,
                                          std::span<const std::string_view> signed_names,
                                          std::string_view unsigned_field);
  friend Result<std::string> Sign(const SigningKey& key, std::string_view message, int64_t now_s);

  std::string domain_;
  std::string selector_;
  Algorithm algorithm_ = Algorithm::kRsaSha256;
  std::string public_b64_;
  std::unique_ptr<evp_pkey_st, PkeyFree> pkey_;
};

// Signs a complete RFC 5322 message (header, empty line, body). Returns the DKIM-Signature field,
// folded to lines of at most 78 octets and ending in CRLF. It signs the fields of kSignedHeaders
// that the message has, bottom-up where one occurs more than once (RFC 6376 section 5.4.2), and
// From once more than it occurs. now_s is the t= value (seconds since the epoch). Errors
// (kInvalidValue): no From field, no empty line ending the header section, a header line that is
// neither a field nor a continuation, more than kMaxFieldsPerName fields of a signed name.
// kInternal: OpenSSL failed.
Result<std::string> Sign(const SigningKey& key, std::string_view message, int64_t now_s);

// The general form of Sign's b= computation, for checks against published examples whose tag
// layout differs from Sign's: the base64 b= value for `message` when the DKIM-Signature field,
// with an empty b= last, reads `unsigned_field` ("DKIM-Signature: v=1; ...; b=", possibly
// folded, no final CRLF) and its h= lists `signed_names`. Same errors as Sign, except that the
// message need not have a From field.
Result<std::string> SignatureFor(const SigningKey& key, std::string_view message,
                                 std::span<const std::string_view> signed_names,
                                 std::string_view unsigned_field);

// The bh= value of a body (the part of a message after the empty line): base64 of the SHA-256 of
// its relaxed canonical form (RFC 6376 section 3.4.4): runs of spaces and tabs become one space,
// whitespace at line ends and empty lines at the end go, an empty body stays empty.
std::string BodyHash(std::string_view body);

}  // namespace mp::dkim
