#include "mime/dkim.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "mime/encoding.h"

namespace mp::dkim {
namespace {

constexpr size_t kSha256Size = 32;
constexpr size_t kMaxPemSize = size_t{64} * 1024;
constexpr size_t kMaxLine = 78;  // RFC 5322 section 2.1.1's "SHOULD" line length

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct PkeyFreeLocal {
  void operator()(EVP_PKEY* pkey) const { EVP_PKEY_free(pkey); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFreeLocal>;

// An OpenSSL failure as an Error. Empties this thread's OpenSSL error queue: a stale entry there
// would be read as the cause of a later, unrelated TLS failure on the same thread.
Error OpenSslError(Code code, std::string what) {
  if (unsigned long e = ERR_peek_last_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    what.append(": ").append(buf);
  }
  ERR_clear_error();
  return MakeError(code, std::move(what));
}

bool IsWsp(char c) { return c == ' ' || c == '\t'; }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

// A host name of LDH labels (d= and s= are sub-domain lists, RFC 6376 section 3.5). Underscores
// are let through: selectors like "mail_2024" exist and resolve.
bool IsHostName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '.') {
      if (label == 0 || s[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (c == '-' && label > 0);
    if (!ok || ++label > 63) return false;
  }
  return label > 0 && s.back() != '-';
}

// SHA-256, fetched from the provider once: EVP_sha256() would look it up on every use, under a
// lock that every signing thread takes. Kept for the life of the process.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const kMd = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched ? fetched : EVP_sha256();
  }();
  return kMd;
}

// SHA-256 over pieces fed one after another.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    ok_ = ctx_ && EVP_DigestInit_ex(ctx_.get(), Sha256Md(), nullptr) == 1;
  }
  void Update(const char* data, size_t n) {
    if (ok_ && n > 0) ok_ = EVP_DigestUpdate(ctx_.get(), data, n) == 1;
  }
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // False if OpenSSL failed anywhere along the way.
  bool Final(unsigned char* out32) {
    unsigned int n = 0;
    return ok_ && EVP_DigestFinal_ex(ctx_.get(), out32, &n) == 1 && n == kSha256Size;
  }

 private:
  MdCtxPtr ctx_;
  bool ok_ = false;
};

// The relaxed body canonicalization (RFC 6376 section 3.4.4) as a stream into a hash: the body may
// come in pieces of any size. Line breaks are read as smtp::DotStuffer writes them (CRLF, LF and a
// bare CR each end a line), and an unterminated last line is ended, as SMTP will end it.
class RelaxedBody {
 public:
  explicit RelaxedBody(Sha256& sha) : sha_(sha) {}

  void Update(std::string_view data) {
    const char* p = data.data();
    const char* const end = p + data.size();
    while (p < end) {
      char c = *p;
      if (pending_cr_) {
        pending_cr_ = false;
        EndLine();
        if (c == '\n') {
          ++p;
          continue;
        }
      }
      if (c == '\r') {
        pending_cr_ = true;
        ++p;
      } else if (c == '\n') {
        EndLine();
        ++p;
      } else if (IsWsp(c)) {
        pending_space_ = true;
        ++p;
      } else {
        StartContent();
        // The common case in one go: the stretch that canonicalization leaves as it is, made of
        // ordinary bytes, single spaces between them and CRLFs between lines that start with one.
        const char* q = p + 1;
        while (q < end) {
          if (!IsSpecial(q[0])) {
            ++q;
          } else if (q[0] == ' ' && q + 1 < end && !IsSpecial(q[1])) {
            q += 2;
          } else if (q[0] == '\r' && q + 2 < end && q[1] == '\n' && !IsSpecial(q[2])) {
            q += 3;
          } else {
            break;
          }
        }
        Put(p, static_cast<size_t>(q - p));
        p = q;
      }
    }
  }

  void Finish() {
    if (pending_cr_) {
      pending_cr_ = false;
      EndLine();
    }
    if (line_has_content_) EndLine();
    // Empty lines still pending are the trailing ones: dropped. An empty body hashes as empty.
    if (n_ > 0) sha_.Update(buf_.data(), n_);
    n_ = 0;
  }

 private:
  static bool IsSpecial(char c) {
    // One comparison for the common case: all four are below '!'.
    return static_cast<unsigned char>(c) <= ' ' &&
           (c == ' ' || c == '\t' || c == '\r' || c == '\n');
  }

  void StartContent() {
    if (!line_has_content_) {
      // The empty lines before this one are not at the end of the body after all.
      for (; blank_lines_ > 0; --blank_lines_) Put("\r\n", 2);
      line_has_content_ = true;
    }
    if (pending_space_) {
      Put(" ", 1);
      pending_space_ = false;
    }
  }

  void EndLine() {
    pending_space_ = false;  // whitespace at the end of a line goes
    if (line_has_content_) {
      Put("\r\n", 2);
      line_has_content_ = false;
    } else {
      ++blank_lines_;
    }
  }

  void Put(const char* data, size_t n) {
    while (n > 0) {
      if (n_ == buf_.size()) {
        sha_.Update(buf_.data(), n_);
        n_ = 0;
      }
      size_t take = std::min(n, buf_.size() - n_);
      std::memcpy(buf_.data() + n_, data, take);
      n_ += take;
      data += take;
      n -= take;
    }
  }

  Sha256& sha_;
  std::array<char, 4096> buf_;
  size_t n_ = 0;
  size_t blank_lines_ = 0;  // empty lines not yet known to be followed by content
  bool line_has_content_ = false;
  bool pending_space_ = false;  // a run of spaces and tabs, written only if content follows
  bool pending_cr_ = false;     // a CR ended the last piece: a CRLF if an LF follows
};

// Appends a header field in relaxed canonical form (RFC 6376 section 3.4.2): the name in lower
// case, a colon, the value unfolded, each run of spaces and tabs as one space, none at either end.
// `value` is everything after the colon up to the field's final line break.
void AppendRelaxedField(std::string& out, std::string_view name, std::string_view value) {
  for (char c : name) out.push_back(Lower(c));
  out.push_back(':');
  bool space = false;
  bool any = false;
  for (char c : value) {
    if (c == '\r' || c == '\n') continue;  // unfolding: the WSP after the break stays
    if (IsWsp(c)) {
      space = any;
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    any = true;
    out.push_back(c);
  }
}

// The end of the line that starts at pos and where the next one starts; a line ends at CRLF, LF or
// a bare CR, or at the end of the message.
struct Line {
  size_t end;
  size_t next;
};

Line NextLine(std::string_view m, size_t pos) {
  size_t i = m.find_first_of("\r\n", pos);
  if (i == std::string_view::npos) return {m.size(), m.size()};
  size_t next = (m[i] == '\r' && i + 1 < m.size() && m[i + 1] == '\n') ? i + 2 : i + 1;
  return {i, next};
}

// The header fields whose names are among `names` (case-insensitively), grouped by name in message
// order, and the body.
struct HeaderScan {
  std::vector<std::vector<std::string_view>> values;  // [index into names][occurrence]
  std::string_view body;
};

Result<HeaderScan> ScanHeader(std::string_view m, std::span<const std::string_view> names) {
  HeaderScan scan;
  scan.values.resize(names.size());
  // The field being read: where its value starts and ends so far, and the list it goes to (none
  // if its name is not wanted).
  std::vector<std::string_view>* list = nullptr;
  size_t value_start = 0;
  size_t value_end = 0;
  bool in_field = false;
  // False when a name has more fields than a message may have of it.
  auto finish_field = [&] {
    if (list) list->push_back(m.substr(value_start, value_end - value_start));
    bool ok = !list || list->size() <= kMaxFieldsPerName;
    list = nullptr;
    return ok;
  };
  auto too_many = [] {
    return MakeError(Code::kInvalidValue, "message repeats a signed header field too often",
                     "message");
  };
  size_t pos = 0;
  while (pos < m.size()) {
    Line line = NextLine(m, pos);
    if (line.end == pos) {  // the empty line: the body follows
      if (in_field && !finish_field()) return too_many();
      scan.body = m.substr(line.next);
      return scan;
    }
    if (IsWsp(m[pos])) {
      if (!in_field) {
        return MakeError(Code::kInvalidValue, "message header starts with a continuation line",
                         "message");
      }
      value_end = line.end;
      pos = line.next;
      continue;
    }
    if (in_field && !finish_field()) return too_many();
    size_t colon = m.substr(pos, line.end - pos).find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return MakeError(Code::kInvalidValue, "message header has a line that is not a field",
                       "message");
    }
    std::string_view name = m.substr(pos, colon);
    for (char c : name) {
      auto u = static_cast<unsigned char>(c);
      if (u < 33 || u > 126) {
        return MakeError(Code::kInvalidValue,
                         "message header has a field name with a space or control character",
                         "message");
      }
    }
    for (size_t k = 0; k < names.size(); ++k) {
      if (EqualsIgnoreCase(name, names[k])) {
        list = &scan.values[k];
        break;
      }
    }
    in_field = true;
    value_start = pos + colon + 1;
    value_end = line.end;
    pos = line.next;
  }
  return MakeError(Code::kInvalidValue, "message has no empty line after its header section",
                   "message");
}

// The SHA-256 of the header hash input (RFC 6376 section 3.7): each field listed in h= (as indices
// into names), bottom-up among fields of one name, then the DKIM-Signature field itself, in
// relaxed form without its final CRLF.
using Digest = std::array<unsigned char, kSha256Size>;

Result<Digest> HeaderDigest(const HeaderScan& scan, std::span<const std::string_view> names,
                            std::span<const size_t> listed, std::string_view unsigned_field) {
  Sha256 sha;
  std::string canon;
  std::vector<size_t> used(names.size(), 0);
  for (size_t k : listed) {
    const auto& values = scan.values[k];
    // A name listed more often than it occurs adds nothing the extra times (section 5.4.2).
    if (used[k] >= values.size()) continue;
    ++used[k];
    canon.clear();
    AppendRelaxedField(canon, names[k], values[values.size() - used[k]]);
    canon.append("\r\n");
    sha.Update(canon);
  }
  size_t colon = unsigned_field.find(':');
  if (colon == std::string_view::npos) {
    return MakeError(Code::kInvalidValue, "signature field has no colon");
  }
  canon.clear();
  AppendRelaxedField(canon, unsigned_field.substr(0, colon), unsigned_field.substr(colon + 1));
  sha.Update(canon);
  Digest digest;
  if (!sha.Final(digest.data())) return OpenSslError(Code::kInternal, "SHA-256 failed");
  return digest;
}

// Appends tokens to a header field, folding before a token that would take the line past kMaxLine.
class Folder {
 public:
  explicit Folder(std::string& out) : out_(out), line_(out.size()) {}
  void Token(std::string_view t, bool space_before) {
    size_t need = t.size() + (space_before ? 1 : 0);
    if (line_ + need > kMaxLine && line_ > 1) {
      Break();
    } else if (space_before) {
      out_.push_back(' ');
      ++line_;
    }
    out_.append(t);
    line_ += t.size();
  }
  void Break() {
    out_.append("\r\n ");
    line_ = 1;
  }
  // A base64 value, split anywhere (FWS may appear anywhere in one: RFC 6376 section 2.4).
  void Base64(std::string_view v) {
    while (!v.empty()) {
      if (line_ >= kMaxLine) Break();
      size_t take = std::min(v.size(), kMaxLine - line_);
      out_.append(v.substr(0, take));
      line_ += take;
      v.remove_prefix(take);
    }
  }

 private:
  std::string& out_;
  size_t line_;
};

PkeyPtr ReadPrivateKey(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  // No passphrase: an encrypted key fails here instead of prompting on the terminal.
  auto no_passphrase = [](char*, int, int, void*) { return -1; };
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
}

std::string PublicKeyBase64(EVP_PKEY* pkey, Algorithm algorithm) {
  if (algorithm == Algorithm::kEd25519Sha256) {
    unsigned char raw[32];
    size_t n = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(pkey, raw, &n) != 1 || n != sizeof raw) return {};
    return Base64Encode(std::string_view(reinterpret_cast<char*>(raw), n));
  }
  int len = i2d_PUBKEY(pkey, nullptr);
  if (len <= 0) return {};
  std::string der(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PUBKEY(pkey, &p) != len) return {};
  return Base64Encode(der);
}

}  // namespace

std::string_view AlgorithmName(Algorithm algorithm) {
  return algorithm == Algorithm::kEd25519Sha256 ? "ed25519-sha256" : "rsa-sha256";
}

std::string DnsTxtRecord(Algorithm algorithm, std::string_view public_b64) {
  std::string out = "v=DKIM1; k=";
  out.append(algorithm == Algorithm::kEd25519Sha256 ? "ed25519" : "rsa");
  out.append("; p=").append(public_b64);
  return out;
}

Result<GeneratedKey> GenerateKey(Algorithm algorithm) {
  PkeyPtr pkey(algorithm == Algorithm::kEd25519Sha256
                   ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                   : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  if (!pkey) return OpenSslError(Code::kInternal, "key generation failed");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError(Code::kInternal, "writing the private key failed");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  GeneratedKey key{algorithm, std::string(data, static_cast<size_t>(len)),
                   PublicKeyBase64(pkey.get(), algorithm)};
  if (key.public_b64.empty()) {
    return OpenSslError(Code::kInternal, "exporting the public key failed");
  }
  return key;
}

void SigningKey::PkeyFree::operator()(evp_pkey_st* pkey) const { EVP_PKEY_free(pkey); }

Result<SigningKey> SigningKey::Load(std::string domain, std::string selector, Algorithm algorithm,
                                    std::string_view private_pem) {
  if (!IsHostName(domain)) return MakeError(Code::kInvalidValue, "not a domain name", "domain");
  if (!IsHostName(selector)) return MakeError(Code::kInvalidValue, "not a selector", "selector");
  if (private_pem.size() > kMaxPemSize) {
    return MakeError(Code::kInvalidValue, "private key is too large", "private_key");
  }
  PkeyPtr pkey = ReadPrivateKey(private_pem);
  if (!pkey) {
    return OpenSslError(Code::kInvalidValue, "not an unencrypted PEM private key");
  }
  ERR_clear_error();  // the PEM decoders may leave entries from formats they tried first
  if (algorithm == Algorithm::kEd25519Sha256) {
    if (!EVP_PKEY_is_a(pkey.get(), "ED25519")) {
      return MakeError(Code::kInvalidValue, "ed25519-sha256 needs an Ed25519 key", "private_key");
    }
  } else {
    if (!EVP_PKEY_is_a(pkey.get(), "RSA")) {
      return MakeError(Code::kInvalidValue, "rsa-sha256 needs an RSA key", "private_key");
    }
    int bits = EVP_PKEY_get_bits(pkey.get());
    if (bits < 1024 || bits > 4096) {
      return MakeError(Code::kInvalidValue, "an RSA key must have 1024 to 4096 bits",
                       "private_key");
    }
  }
  SigningKey key;
  key.public_b64_ = PublicKeyBase64(pkey.get(), algorithm);
  if (key.public_b64_.empty()) {
    return OpenSslError(Code::kInternal, "exporting the public key failed");
  }
  key.domain_ = std::move(domain);
  key.selector_ = std::move(selector);
  key.algorithm_ = algorithm;
  key.pkey_.reset(pkey.release());
  return key;
}

Result<std::string> SigningKey::SignDigest(const unsigned char* digest32) const {
  std::string sig;
  size_t len = 0;
  if (algorithm_ == Algorithm::kEd25519Sha256) {
    // Ed25519 has no separate digest step: "sign" the 32 digest bytes as the message.
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx ||
        EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, pkey_.get(),
                              nullptr) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, digest32, kSha256Size) != 1) {
      return OpenSslError(Code::kInternal, "Ed25519 signing failed");
    }
    sig.resize(len);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, digest32,
                       kSha256Size) != 1) {
      return OpenSslError(Code::kInternal, "Ed25519 signing failed");
    }
  } else {
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_.get(), nullptr));
    if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx.get(), Sha256Md()) != 1 ||
        EVP_PKEY_sign(ctx.get(), nullptr, &len, digest32, kSha256Size) != 1) {
      return OpenSslError(Code::kInternal, "RSA signing failed");
    }
    sig.resize(len);
    if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, digest32,
                      kSha256Size) != 1) {
      return OpenSslError(Code::kInternal, "RSA signing failed");
    }
  }
  sig.resize(len);
  return sig;
}

std::string BodyHash(std::string_view body) {
  Sha256 sha;
  RelaxedBody canon(sha);
  canon.Update(body);
  canon.Finish();
  unsigned char digest[kSha256Size];
  if (!sha.Final(digest)) {
    ERR_clear_error();
    return {};
  }
  return Base64Encode(std::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

Result<std::string> SignatureFor(const SigningKey& key, std::string_view message,
                                 std::span<const std::string_view> signed_names,
                                 std::string_view unsigned_field) {
  // Distinct names, each h= entry as an index into them.
  std::vector<std::string_view> names;
  std::vector<size_t> listed;
  for (std::string_view n : signed_names) {
    auto it = std::find_if(names.begin(), names.end(),
                           [n](std::string_view have) { return EqualsIgnoreCase(have, n); });
    listed.push_back(static_cast<size_t>(it - names.begin()));
    if (it == names.end()) names.push_back(n);
  }
  auto scan = ScanHeader(message, names);
  if (!scan.ok()) return scan.error();
  auto digest = HeaderDigest(scan.value(), names, listed, unsigned_field);
  if (!digest.ok()) return digest.error();
  auto raw = key.SignDigest(digest.value().data());
  if (!raw.ok()) return raw.error();
  return Base64Encode(raw.value());
}

Result<std::string> Sign(const SigningKey& key, std::string_view message, int64_t now_s) {
  if (now_s < 0) return MakeError(Code::kInvalidValue, "time before the epoch", "now");
  auto scan = ScanHeader(message, kSignedHeaders);
  if (!scan.ok()) return scan.error();
  const auto& values = scan.value().values;
  if (values[0].empty()) {
    return MakeError(Code::kInvalidValue, "message has no From field", "message");
  }
  // h=: every signed name as often as it occurs, then From once more.
  std::vector<size_t> listed;
  for (size_t k = 0; k < values.size(); ++k) listed.insert(listed.end(), values[k].size(), k);
  listed.push_back(0);

  std::string field = "DKIM-Signature:";
  Folder fold(field);
  fold.Token("v=1;", true);
  fold.Token("a=" + std::string(AlgorithmName(key.algorithm())) + ";", true);
  fold.Token("c=relaxed/relaxed;", true);
  fold.Token("d=" + key.domain() + ";", true);
  fold.Token("s=" + key.selector() + ";", true);
  fold.Token("t=" + std::to_string(now_s) + ";", true);
  for (size_t i = 0; i < listed.size(); ++i) {
    std::string token = i == 0 ? "h=" : "";
    token.append(kSignedHeaders[listed[i]]).push_back(i + 1 == listed.size() ? ';' : ':');
    fold.Token(token, i == 0);
  }
  fold.Token("bh=" + BodyHash(scan.value().body) + ";", true);
  // b= starts a line of its own, so the signed form of this field does not depend on b='s length.
  fold.Break();
  fold.Token("b=", false);
  auto digest = HeaderDigest(scan.value(), kSignedHeaders, listed, field);
  if (!digest.ok()) return digest.error();
  auto raw = key.SignDigest(digest.value().data());
  if (!raw.ok()) return raw.error();
  fold.Base64(Base64Encode(raw.value()));
  field.append("\r\n");
  return field;
}

}  // namespace mp::dkim
