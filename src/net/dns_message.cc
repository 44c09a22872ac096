#include "net/dns_message.h"

#include <arpa/inet.h>

#include <algorithm>
#include <limits>

namespace mp::net {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxNameOctets = 255;  // RFC 1035 2.3.4, counting length octets and the root

Error Malformed(std::string what) {
  return MakeError(Code::kInvalidValue, "malformed DNS message: " + std::move(what));
}

// Bounds-checked big-endian reads over the whole message.
class WireReader {
 public:
  explicit WireReader(std::span<const uint8_t> wire) : wire_(wire) {}

  size_t size() const { return wire_.size(); }
  bool U16(size_t* pos, uint16_t* out) const {
    if (*pos + 2 > wire_.size()) return false;
    *out = static_cast<uint16_t>(wire_[*pos] << 8 | wire_[*pos + 1]);
    *pos += 2;
    return true;
  }
  bool U32(size_t* pos, uint32_t* out) const {
    if (*pos + 4 > wire_.size()) return false;
    *out = static_cast<uint32_t>(wire_[*pos]) << 24 | static_cast<uint32_t>(wire_[*pos + 1]) << 16 |
           static_cast<uint32_t>(wire_[*pos + 2]) << 8 | static_cast<uint32_t>(wire_[*pos + 3]);
    *pos += 4;
    return true;
  }

  // Reads a possibly compressed name at *pos into presentation form and moves *pos past it (past
  // the first pointer if there is one).
  bool Name(size_t* pos, std::string* out) const {
    out->clear();
    size_t p = *pos;
    size_t resume = 0;   // where the caller continues; set at the first pointer or the end
    size_t segment = p;  // where the labels being read began
    bool jumped = false;
    size_t octets = 0;
    for (;;) {
      if (p >= wire_.size()) return false;
      const uint8_t len = wire_[p];
      if ((len & 0xC0) == 0xC0) {
        if (p + 1 >= wire_.size()) return false;
        const size_t target = static_cast<size_t>(len & 0x3F) << 8 | wire_[p + 1];
        // Only to a prior occurrence, before the labels read since the last jump: segment starts
        // strictly decrease, so a chain of pointers always ends.
        if (target >= segment) return false;
        segment = target;
        if (!jumped) resume = p + 2;
        jumped = true;
        p = target;
        continue;
      }
      if ((len & 0xC0) != 0) return false;  // 0x40 and 0x80: extended/reserved label types
      octets += 1 + len;
      if (octets > kMaxNameOctets) return false;
      if (len == 0) {
        if (!jumped) resume = p + 1;
        break;
      }
      if (p + 1 + len > wire_.size()) return false;
      if (!out->empty()) out->push_back('.');
      AppendLabel(wire_.subspan(p + 1, len), out);
      p += 1 + len;
    }
    if (out->empty()) *out = ".";
    *pos = resume;
    return true;
  }

  std::span<const uint8_t> Bytes(size_t pos, size_t len) const { return wire_.subspan(pos, len); }

 private:
  static void AppendLabel(std::span<const uint8_t> label, std::string* out) {
    for (uint8_t c : label) {
      if (c == '.' || c == '\\') {
        out->push_back('\\');
        out->push_back(static_cast<char>(c));
      } else if (c <= 0x20 || c >= 0x7F) {
        out->push_back('\\');
        out->push_back(static_cast<char>('0' + c / 100));
        out->push_back(static_cast<char>('0' + c / 10 % 10));
        out->push_back(static_cast<char>('0' + c % 10));
      } else {
        out->push_back(static_cast<char>(c));
      }
    }
  }

  std::span<const uint8_t> wire_;
};

std::string AddressText(int family, std::span<const uint8_t> raw) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(family, raw.data(), buf, sizeof buf) == nullptr) return {};
  return buf;
}

// Decodes the RDATA of a record of a known type in [start, end). False if it is malformed.
bool ParseRdata(const WireReader& r, size_t start, size_t end, DnsRecord* rr) {
  const size_t len = end - start;
  size_t p = start;
  switch (rr->type) {
    case kTypeA:
      if (len != 4) return false;
      rr->address = AddressText(AF_INET, r.Bytes(start, 4));
      return true;
    case kTypeAaaa:
      if (len != 16) return false;
      rr->address = AddressText(AF_INET6, r.Bytes(start, 16));
      return true;
    case kTypeCname:
    case kTypeNs:
      return r.Name(&p, &rr->target) && p == end;
    case kTypeMx:
      return r.U16(&p, &rr->preference) && r.Name(&p, &rr->target) && p == end;
    case kTypeTxt: {
      if (len == 0) return false;  // RFC 1035 3.3.14: one or more character-strings
      while (p < end) {
        const size_t n = r.Bytes(p, 1)[0];
        if (p + 1 + n > end) return false;
        std::span<const uint8_t> s = r.Bytes(p + 1, n);
        rr->strings.emplace_back(s.begin(), s.end());
        p += 1 + n;
      }
      return true;
    }
    case kTypeSoa: {
      std::string rname;
      uint32_t serial, refresh, retry, expire;
      return r.Name(&p, &rr->target) && r.Name(&p, &rname) && r.U32(&p, &serial) &&
             r.U32(&p, &refresh) && r.U32(&p, &retry) && r.U32(&p, &expire) &&
             r.U32(&p, &rr->soa_minimum) && p == end;
    }
    default:
      return true;
  }
}

bool KnownType(uint16_t type) {
  switch (type) {
    case kTypeA:
    case kTypeAaaa:
    case kTypeCname:
    case kTypeNs:
    case kTypeMx:
    case kTypeTxt:
    case kTypeSoa:
      return true;
    default:
      return false;
  }
}

// Reads `count` resource records at *pos; keeps those of class IN and a known type.
Status ParseSection(const WireReader& r, size_t* pos, uint16_t count, const char* section,
                    std::vector<DnsRecord>* out) {
  for (uint16_t i = 0; i < count; ++i) {
    DnsRecord rr;
    uint16_t klass, rdlength;
    if (!r.Name(pos, &rr.name)) return Malformed(std::string("bad owner name in ") + section);
    if (!r.U16(pos, &rr.type) || !r.U16(pos, &klass) || !r.U32(pos, &rr.ttl) ||
        !r.U16(pos, &rdlength)) {
      return Malformed(std::string("truncated record in ") + section);
    }
    if (*pos + rdlength > r.size())
      return Malformed(std::string("RDATA out of bounds in ") + section);
    const size_t start = *pos;
    *pos += rdlength;
    if (klass != kClassIn || !KnownType(rr.type)) continue;
    if (rr.ttl > static_cast<uint32_t>(std::numeric_limits<int32_t>::max())) rr.ttl = 0;
    if (!ParseRdata(r, start, *pos, &rr)) {
      return Malformed("bad RDATA of type " + std::to_string(rr.type) + " in " + section);
    }
    out->push_back(std::move(rr));
  }
  return Status::Ok();
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

Result<DnsMessage> ParseDnsMessage(std::span<const uint8_t> wire) {
  const WireReader r(wire);
  DnsMessage m;
  size_t pos = 0;
  uint16_t flags, qdcount, ancount, nscount, arcount;
  if (!r.U16(&pos, &m.id) || !r.U16(&pos, &flags) || !r.U16(&pos, &qdcount) ||
      !r.U16(&pos, &ancount) || !r.U16(&pos, &nscount) || !r.U16(&pos, &arcount)) {
    return Malformed("shorter than a header");
  }
  static_assert(kHeaderSize == 12);
  if ((flags & 0x8000) == 0) return Malformed("not a response");
  m.truncated = (flags & 0x0200) != 0;
  m.rcode = static_cast<uint8_t>(flags & 0x000F);
  for (uint16_t i = 0; i < qdcount; ++i) {
    std::string name;
    uint16_t type, klass;
    if (!r.Name(&pos, &name) || !r.U16(&pos, &type) || !r.U16(&pos, &klass)) {
      return Malformed("bad question");
    }
    if (i == 0) {
      m.question = std::move(name);
      m.question_type = type;
    }
  }
  if (Status s = ParseSection(r, &pos, ancount, "answer", &m.answers); !s) return s.error();
  if (Status s = ParseSection(r, &pos, nscount, "authority", &m.authority); !s) return s.error();
  return m;
}

SelectedAnswer SelectAnswer(const DnsMessage& message, std::string_view name, uint16_t type) {
  SelectedAnswer out;
  std::string current(name);
  uint32_t ttl = std::numeric_limits<uint32_t>::max();
  for (int hop = 0; hop <= kMaxCnameHops; ++hop) {
    const DnsRecord* cname = nullptr;
    for (const DnsRecord& rr : message.answers) {
      if (!SameName(rr.name, current)) continue;
      if (rr.type == type) {
        out.records.push_back(rr);
        ttl = std::min(ttl, rr.ttl);
      } else if (rr.type == kTypeCname && cname == nullptr) {
        cname = &rr;
      }
    }
    if (!out.records.empty() || cname == nullptr || type == kTypeCname) break;
    ttl = std::min(ttl, cname->ttl);
    current = cname->target;
  }
  out.canonical_name = std::move(current);
  out.ttl = out.records.empty() ? 0 : ttl;
  return out;
}

std::optional<uint32_t> NegativeTtl(const DnsMessage& message) {
  for (const DnsRecord& rr : message.authority) {
    if (rr.type == kTypeSoa) return std::min(rr.ttl, rr.soa_minimum);
  }
  return std::nullopt;
}

bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

}  // namespace mp::net
