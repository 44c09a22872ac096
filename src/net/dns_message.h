// DnsMessage: a parser of DNS response messages (RFC 1035 section 4) as c-ares hands them back.
//
// c-ares is only the transport (DnsTransport); its own parse helpers drop the TTLs of MX and TXT
// records, and the resolver's cache needs them, hence this parser. It reads the header, skips the
// questions, and decodes the answer and authority sections: A, AAAA, MX, TXT, CNAME, NS and SOA
// in class IN; other types and classes are skipped, the additional section is not read.
// SelectAnswer follows CNAME chains inside the answer section; NegativeTtl gives the RFC 2308
// negative-caching TTL from the SOA in the authority section.
//
// SECURITY: the message is untrusted input from the network (or anything that can spoof a UDP
// answer). Every read is bounds-checked, a compression pointer must point before the labels it
// continues (RFC 1035 4.1.4: "a prior occurrence"), so pointers cannot loop, names are limited to
// 255 octets, and RDATA must be exactly as long as its RDLENGTH says. Label bytes that are not
// printable ASCII, '.' and '\' are escaped (\DDD, \.), so names never carry control characters
// onward.
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace mp::net {

// RR TYPE values (RFC 1035 3.2.2, RFC 3596).
inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNs = 2;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeSoa = 6;
inline constexpr uint16_t kTypeMx = 15;
inline constexpr uint16_t kTypeTxt = 16;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kClassIn = 1;

// RCODE values (RFC 1035 4.1.1).
inline constexpr uint8_t kRcodeNoError = 0;
inline constexpr uint8_t kRcodeServFail = 2;
inline constexpr uint8_t kRcodeNxDomain = 3;

// Names are in presentation form without the trailing dot; the root is ".".
struct DnsRecord {
  std::string name;  // owner
  uint16_t type = 0;
  uint32_t ttl = 0;         // seconds; values with the top bit set read as 0 (RFC 2181 section 8)
  std::string target;       // CNAME and NS target, MX exchange, SOA MNAME
  std::string address;      // A and AAAA, textual ("192.0.2.1", "2001:db8::1")
  uint16_t preference = 0;  // MX
  std::vector<std::string> strings;  // TXT character-strings, raw bytes
  uint32_t soa_minimum = 0;          // SOA MINIMUM
};

struct DnsMessage {
  uint16_t id = 0;
  uint8_t rcode = 0;
  bool truncated = false;  // TC bit
  std::string question;    // first question's name, empty if there is none
  uint16_t question_type = 0;
  std::vector<DnsRecord> answers;    // class IN records of the types above
  std::vector<DnsRecord> authority;  // likewise
};

// Parses a response. Anything malformed (short, out of bounds, a forward or looping compression
// pointer, a bad label, RDATA of the wrong length, not a response) is a kInvalidValue error.
Result<DnsMessage> ParseDnsMessage(std::span<const uint8_t> wire);

// The records of `type` that answer `name` (case-insensitively), following CNAMEs inside the
// answer section (at most kMaxCnameHops).
struct SelectedAnswer {
  std::vector<DnsRecord> records;
  std::string canonical_name;  // the name the records belong to, after CNAMEs
  uint32_t ttl = 0;            // smallest TTL of the records and the CNAMEs followed
};
inline constexpr int kMaxCnameHops = 8;
SelectedAnswer SelectAnswer(const DnsMessage& message, std::string_view name, uint16_t type);

// RFC 2308 section 5: the TTL of a negative answer is min(SOA TTL, SOA MINIMUM) of the SOA in the
// authority section; nullopt if there is none.
std::optional<uint32_t> NegativeTtl(const DnsMessage& message);

// ASCII case-insensitive equality of two names in presentation form.
bool SameName(std::string_view a, std::string_view b);

}  // namespace mp::net
