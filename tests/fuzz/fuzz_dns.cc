// Fuzzes the DNS response parser: any bytes are parsed or rejected, never read out of bounds or
// looped on, and what is accepted holds only printable names and sane TTLs.
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <span>
#include <string>

#include "net/dns_message.h"

namespace {

void CheckName(const std::string& name) {
  // 255 wire octets, each at most 4 characters (\DDD) in presentation form.
  if (name.empty() || name.size() > 4 * 255) std::abort();
  for (char c : name) {
    if (c <= 0x20 || c >= 0x7F) std::abort();
  }
}

void CheckRecord(const mp::net::DnsRecord& rr) {
  CheckName(rr.name);
  if (rr.ttl > static_cast<uint32_t>(std::numeric_limits<int32_t>::max())) std::abort();
  switch (rr.type) {
    case mp::net::kTypeA:
    case mp::net::kTypeAaaa:
      if (rr.address.empty()) std::abort();
      break;
    case mp::net::kTypeMx:
    case mp::net::kTypeCname:
    case mp::net::kTypeNs:
    case mp::net::kTypeSoa:
      CheckName(rr.target);
      break;
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mp::Result<mp::net::DnsMessage> m =
      mp::net::ParseDnsMessage(std::span<const uint8_t>(data, size));
  if (!m.ok()) return 0;
  for (const mp::net::DnsRecord& rr : m->answers) CheckRecord(rr);
  for (const mp::net::DnsRecord& rr : m->authority) CheckRecord(rr);
  if (!m->question.empty()) CheckName(m->question);
  for (uint16_t type : {mp::net::kTypeA, mp::net::kTypeMx, mp::net::kTypeTxt}) {
    mp::net::SelectedAnswer a = mp::net::SelectAnswer(m.value(), m->question, type);
    for (const mp::net::DnsRecord& rr : a.records) {
      if (rr.type != type || rr.ttl < a.ttl) std::abort();
    }
  }
  (void)mp::net::NegativeTtl(m.value());
  return 0;
}
