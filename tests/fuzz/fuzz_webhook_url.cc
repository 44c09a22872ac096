// Fuzzes webhook endpoint URL validation: any bytes are accepted or refused with a message, never
// read out of bounds. An accepted URL is one the HTTP client can use as it is (a host, a port,
// a target of printable ASCII that starts with '/'), and its canonical form (scheme, Host header,
// target) parses back to the same thing.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "events/webhook_url.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

bool Same(const mp::events::ParsedUrl& a, const mp::events::ParsedUrl& b) {
  return a.tls == b.tls && a.host == b.host && a.ipv6_literal == b.ipv6_literal &&
         a.port == b.port && a.target == b.target;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto url = mp::events::ParseWebhookUrl(text);
  if (!url.ok()) {
    Check(!url.error().detail.empty() && url.error().field == "url");
    return 0;
  }
  const mp::events::ParsedUrl& u = url.value();
  Check(size <= mp::events::kMaxWebhookUrlBytes);
  Check(!u.host.empty() && u.port >= 1);
  Check(!u.target.empty() && u.target[0] == '/');
  for (char c : u.target) Check(c > 0x20 && c < 0x7f && c != '#');
  for (char c : u.host)
    Check(c > 0x20 && c < 0x7f && c != '@' && c != '/' && !(c >= 'A' && c <= 'Z'));
  std::string canonical = (u.tls ? "https://" : "http://") + u.HostHeader() + u.target;
  auto again = mp::events::ParseWebhookUrl(canonical);
  Check(again.ok() && Same(u, again.value()));
  return 0;
}
