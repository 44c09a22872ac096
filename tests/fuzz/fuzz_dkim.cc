// Fuzzes DKIM signing of raw messages: any bytes are signed or refused, never read out of bounds;
// a signature field is well formed (folded, CRLF-terminated, no bare CR or LF), and a message
// signs exactly as its wire form (every line break made CRLF, as smtp::DotStuffer sends it).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mime/dkim.h"

namespace {

// The RFC 8463 appendix A Ed25519 key: deterministic signatures, so the two forms can be compared.
constexpr char kPem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";

std::string WireForm(std::string_view m) {
  std::string out;
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\r') {
      out.append("\r\n");
      if (i + 1 < m.size() && m[i + 1] == '\n') ++i;
    } else if (m[i] == '\n') {
      out.append("\r\n");
    } else {
      out.push_back(m[i]);
    }
  }
  return out;
}

void CheckField(const std::string& f) {
  if (f.rfind("DKIM-Signature: v=1; a=ed25519-sha256;", 0) != 0) std::abort();
  if (f.size() < 2 || f.compare(f.size() - 2, 2, "\r\n") != 0) std::abort();
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '\r' && (i + 1 >= f.size() || f[i + 1] != '\n')) std::abort();
    if (f[i] == '\n' && (i == 0 || f[i - 1] != '\r')) std::abort();
    // Every line after the first is a continuation.
    if (f[i] == '\n' && i + 1 < f.size() && f[i + 1] != ' ') std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto key =
      mp::dkim::SigningKey::Load("example.com", "sel", mp::dkim::Algorithm::kEd25519Sha256, kPem);
  if (!key.ok()) std::abort();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto signed_raw = mp::dkim::Sign(key.value(), text, 1700000000);
  auto signed_wire = mp::dkim::Sign(key.value(), WireForm(text), 1700000000);
  if (signed_raw.ok() != signed_wire.ok()) std::abort();
  if (signed_raw.ok()) {
    CheckField(signed_raw.value());
    if (signed_raw.value() != signed_wire.value()) std::abort();
  }
  if (mp::dkim::BodyHash(text) != mp::dkim::BodyHash(WireForm(text))) std::abort();
  return 0;
}
