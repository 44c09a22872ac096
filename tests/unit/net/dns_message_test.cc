#include "net/dns_message.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mp::net {
namespace {

// Builds DNS messages byte by byte, so each test shows exactly what is on the wire.
class Packet {
 public:
  Packet& Header(uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar = 0) {
    U16(0xBEEF);
    U16(flags);
    U16(qd);
    U16(an);
    U16(ns);
    U16(ar);
    return *this;
  }
  // Labels of a dotted name, then the root (or, with `pointer`, a pointer instead of the root).
  Packet& Name(const std::string& dotted, int pointer = -1) {
    size_t start = 0;
    while (start < dotted.size()) {
      size_t dot = dotted.find('.', start);
      if (dot == std::string::npos) dot = dotted.size();
      bytes_.push_back(static_cast<uint8_t>(dot - start));
      bytes_.insert(bytes_.end(), dotted.data() + start, dotted.data() + dot);
      start = dot + 1;
    }
    if (pointer >= 0) {
      Pointer(pointer);
    } else {
      bytes_.push_back(0);
    }
    return *this;
  }
  Packet& Pointer(int offset) {
    bytes_.push_back(static_cast<uint8_t>(0xC0 | (offset >> 8)));
    bytes_.push_back(static_cast<uint8_t>(offset & 0xFF));
    return *this;
  }
  Packet& Question(const std::string& name, uint16_t type) {
    Name(name);
    U16(type);
    return U16(kClassIn);
  }
  // Type, class, TTL and RDLENGTH after an owner name the caller has written.
  Packet& Fixed(uint16_t type, uint32_t ttl, uint16_t rdlength, uint16_t klass = kClassIn) {
    U16(type);
    U16(klass);
    U32(ttl);
    return U16(rdlength);
  }
  Packet& U16(uint16_t v) {
    bytes_.push_back(static_cast<uint8_t>(v >> 8));
    bytes_.push_back(static_cast<uint8_t>(v));
    return *this;
  }
  Packet& U32(uint32_t v) {
    U16(static_cast<uint16_t>(v >> 16));
    return U16(static_cast<uint16_t>(v));
  }
  Packet& Raw(std::initializer_list<uint8_t> b) {
    bytes_.insert(bytes_.end(), b);
    return *this;
  }
  size_t size() const { return bytes_.size(); }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

constexpr uint16_t kResponse = 0x8180;  // QR, RD, RA, NOERROR
constexpr uint16_t kNxResponse = 0x8183;
constexpr int kQuestionName = 12;  // offset of the first question's name

TEST(DnsMessage, ParsesMxWithCompressedNamesAndTtls) {
  Packet p;
  p.Header(kResponse, 1, 2, 0).Question("Example.COM", kTypeMx);
  // MX 10 mx1.example.com, owner and exchange compressed against the question.
  p.Pointer(kQuestionName).Fixed(kTypeMx, 300, 2 + 4 + 2).U16(10).Name("mx1", kQuestionName);
  const int mx1 = static_cast<int>(p.size()) - 6;  // "mx1" + pointer inside the first RDATA
  // MX 20 backup.mx1.example.com: a pointer to a name that itself ends in a pointer.
  p.Pointer(kQuestionName).Fixed(kTypeMx, 120, 2 + 7 + 2).U16(20).Name("backup", mx1);

  Result<DnsMessage> m = ParseDnsMessage(p.bytes());
  ASSERT_TRUE(m.ok()) << m.error().detail;
  EXPECT_EQ(m->rcode, kRcodeNoError);
  EXPECT_EQ(m->id, 0xBEEF);
  EXPECT_EQ(m->question, "Example.COM");
  EXPECT_EQ(m->question_type, kTypeMx);
  ASSERT_EQ(m->answers.size(), 2u);
  EXPECT_EQ(m->answers[0].name, "Example.COM");
  EXPECT_EQ(m->answers[0].preference, 10);
  EXPECT_EQ(m->answers[0].target, "mx1.Example.COM");
  EXPECT_EQ(m->answers[0].ttl, 300u);
  EXPECT_EQ(m->answers[1].target, "backup.mx1.Example.COM");
  EXPECT_EQ(m->answers[1].preference, 20);

  SelectedAnswer a = SelectAnswer(m.value(), "example.com", kTypeMx);
  EXPECT_EQ(a.records.size(), 2u);
  EXPECT_EQ(a.ttl, 120u);  // the smaller TTL of the two
}

TEST(DnsMessage, DecodesAddressesTxtAndNullMx) {
  Packet p;
  p.Header(kResponse, 1, 4, 0).Question("h.test", kTypeA);
  p.Pointer(kQuestionName).Fixed(kTypeA, 60, 4).Raw({192, 0, 2, 1});
  p.Pointer(kQuestionName).Fixed(kTypeAaaa, 60, 16);
  p.Raw({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  p.Pointer(kQuestionName).Fixed(kTypeTxt, 60, 1 + 3 + 1 + 0 + 1 + 2);
  p.Raw({3, 'v', '=', '1', 0, 2, 'o', 'k'});
  p.Pointer(kQuestionName).Fixed(kTypeMx, 60, 3).U16(0).Raw({0});  // MX 0 .

  Result<DnsMessage> m = ParseDnsMessage(p.bytes());
  ASSERT_TRUE(m.ok()) << m.error().detail;
  ASSERT_EQ(m->answers.size(), 4u);
  EXPECT_EQ(m->answers[0].address, "192.0.2.1");
  EXPECT_EQ(m->answers[1].address, "2001:db8::1");
  EXPECT_EQ(m->answers[2].strings, (std::vector<std::string>{"v=1", "", "ok"}));
  EXPECT_EQ(m->answers[3].target, ".");
  EXPECT_EQ(m->answers[3].preference, 0);
}

TEST(DnsMessage, FollowsCnameChainsCaseInsensitively) {
  Packet p;
  p.Header(kResponse, 1, 4, 0).Question("WWW.example.com", kTypeA);
  p.Pointer(kQuestionName).Fixed(kTypeCname, 100, 6).Name("web", kQuestionName + 4);
  const int web = static_cast<int>(p.size()) - 6;
  p.Pointer(web).Fixed(kTypeCname, 50, 7).Name("HOST", kQuestionName + 4);
  const int host = static_cast<int>(p.size()) - 7;
  p.Pointer(host).Fixed(kTypeA, 200, 4).Raw({192, 0, 2, 7});
  // An A record of another name in the same answer is not part of the chain.
  p.Name("other.example.com").Fixed(kTypeA, 10, 4).Raw({192, 0, 2, 8});

  Result<DnsMessage> m = ParseDnsMessage(p.bytes());
  ASSERT_TRUE(m.ok()) << m.error().detail;
  SelectedAnswer a = SelectAnswer(m.value(), "www.EXAMPLE.com", kTypeA);
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].address, "192.0.2.7");
  EXPECT_EQ(a.canonical_name, "HOST.example.com");
  EXPECT_EQ(a.ttl, 50u);  // the shortest link of the chain

  // Asked for MX, the chain ends in a name without MX records: no data, no TTL.
  SelectedAnswer mx = SelectAnswer(m.value(), "www.example.com", kTypeMx);
  EXPECT_TRUE(mx.records.empty());
  EXPECT_EQ(mx.ttl, 0u);
}

TEST(DnsMessage, CnameLoopInTheAnswerEndsWithoutRecords) {
  Packet p;
  p.Header(kResponse, 1, 2, 0).Question("a.test", kTypeA);
  p.Pointer(kQuestionName).Fixed(kTypeCname, 60, 8).Name("b.test");
  p.Name("b.test").Fixed(kTypeCname, 60, 2).Pointer(kQuestionName);

  Result<DnsMessage> m = ParseDnsMessage(p.bytes());
  ASSERT_TRUE(m.ok()) << m.error().detail;
  EXPECT_TRUE(SelectAnswer(m.value(), "a.test", kTypeA).records.empty());
}

TEST(DnsMessage, NegativeTtlIsTheSmallerOfSoaTtlAndMinimum) {
  auto nx_with_soa = [](uint32_t ttl, uint32_t minimum) {
    Packet p;
    p.Header(kNxResponse, 1, 0, 1).Question("nx.example", kTypeMx);
    p.Name("example").Fixed(kTypeSoa, ttl, 5 + 13 + 20);  // ns.example hostmaster.example 5*u32
    p.Name("ns", kQuestionName + 3).Name("hostmaster", kQuestionName + 3);
    p.U32(1).U32(7200).U32(900).U32(1209600).U32(minimum);
    return ParseDnsMessage(p.bytes());
  };
  Result<DnsMessage> m = nx_with_soa(900, 300);
  ASSERT_TRUE(m.ok()) << m.error().detail;
  EXPECT_EQ(m->rcode, kRcodeNxDomain);
  ASSERT_EQ(m->authority.size(), 1u);
  EXPECT_EQ(m->authority[0].target, "ns.example");
  EXPECT_EQ(NegativeTtl(m.value()), 300u);
  Result<DnsMessage> m2 = nx_with_soa(100, 300);
  ASSERT_TRUE(m2.ok()) << m2.error().detail;
  EXPECT_EQ(NegativeTtl(m2.value()), 100u);

  Packet bare;
  bare.Header(kNxResponse, 1, 0, 0).Question("nx.example", kTypeMx);
  Result<DnsMessage> m3 = ParseDnsMessage(bare.bytes());
  ASSERT_TRUE(m3.ok());
  EXPECT_FALSE(NegativeTtl(m3.value()).has_value());
}

TEST(DnsMessage, SkipsUnknownTypesAndOtherClassesAndZeroesHugeTtls) {
  Packet p;
  p.Header(kResponse, 1, 3, 0).Question("x.test", kTypeA);
  p.Pointer(kQuestionName).Fixed(99, 60, 3).Raw({1, 2, 3});             // unknown type
  p.Pointer(kQuestionName).Fixed(kTypeA, 60, 4, 3).Raw({10, 0, 0, 1});  // class CH
  p.Pointer(kQuestionName).Fixed(kTypeA, 0x80000000u, 4).Raw({10, 0, 0, 2});

  Result<DnsMessage> m = ParseDnsMessage(p.bytes());
  ASSERT_TRUE(m.ok()) << m.error().detail;
  ASSERT_EQ(m->answers.size(), 1u);
  EXPECT_EQ(m->answers[0].address, "10.0.0.2");
  EXPECT_EQ(m->answers[0].ttl, 0u);  // RFC 2181 section 8
}

TEST(DnsMessage, EscapesDotsAndUnprintableBytesInLabels) {
  Packet p;
  p.Header(kResponse, 1, 1, 0).Question("q.test", kTypeMx);
  p.Pointer(kQuestionName).Fixed(kTypeMx, 60, 2 + 5 + 1);
  p.U16(5).Raw({4, 'a', '.', 0, '\\', 0});

  Result<DnsMessage> m = ParseDnsMessage(p.bytes());
  ASSERT_TRUE(m.ok()) << m.error().detail;
  EXPECT_EQ(m->answers[0].target, "a\\.\\000\\\\");
}

// A valid message whose every strict prefix must be rejected cleanly.
std::vector<uint8_t> ValidMxAnswer() {
  Packet p;
  p.Header(kResponse, 1, 1, 1).Question("example.com", kTypeMx);
  p.Pointer(kQuestionName).Fixed(kTypeMx, 300, 2 + 4 + 2).U16(10).Name("mx1", kQuestionName);
  p.Pointer(kQuestionName + 8).Fixed(kTypeSoa, 60, 2 + 2 + 20).Pointer(kQuestionName);
  p.Pointer(kQuestionName).U32(1).U32(2).U32(3).U32(4).U32(5);
  return p.bytes();
}

TEST(DnsMessage, RejectsEveryTruncation) {
  const std::vector<uint8_t> full = ValidMxAnswer();
  ASSERT_TRUE(ParseDnsMessage(full).ok());
  for (size_t n = 0; n < full.size(); ++n) {
    std::span<const uint8_t> prefix(full.data(), n);
    EXPECT_FALSE(ParseDnsMessage(prefix).ok()) << "prefix of " << n << " bytes";
  }
}

TEST(DnsMessage, RejectsCompressionLoopsAndForwardPointers) {
  Packet self;  // the question's name is a pointer to itself
  self.Header(kResponse, 1, 0, 0).Pointer(kQuestionName).U16(kTypeA).U16(kClassIn);
  Result<DnsMessage> m = ParseDnsMessage(self.bytes());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, Code::kInvalidValue);

  Packet loop;  // a label, then a pointer back to that label: a.a.a.a... forever
  loop.Header(kResponse, 1, 0, 0).Raw({1, 'a'}).Pointer(kQuestionName).U16(kTypeA).U16(kClassIn);
  EXPECT_FALSE(ParseDnsMessage(loop.bytes()).ok());

  Packet forward;  // two names pointing at each other; the first pointer goes forward
  forward.Header(kResponse, 2, 0, 0).Pointer(kQuestionName + 6).U16(kTypeA).U16(kClassIn);
  forward.Pointer(kQuestionName).U16(kTypeA).U16(kClassIn);
  EXPECT_FALSE(ParseDnsMessage(forward.bytes()).ok());

  Packet outside;  // a pointer past the end
  outside.Header(kResponse, 1, 0, 0).Pointer(0x3FFF).U16(kTypeA).U16(kClassIn);
  EXPECT_FALSE(ParseDnsMessage(outside.bytes()).ok());
}

TEST(DnsMessage, RejectsBadLabelsAndNamesOver255Octets) {
  Packet ext;  // 0x40: extended label type (RFC 6891 deprecated it)
  ext.Header(kResponse, 1, 0, 0).Raw({0x41, 'a', 0}).U16(kTypeA).U16(kClassIn);
  EXPECT_FALSE(ParseDnsMessage(ext.bytes()).ok());

  const std::string label63(63, 'x');
  Packet longest;  // 4 labels of 63 = 256 octets with the length bytes, 257 with the root
  longest.Header(kResponse, 1, 0, 0)
      .Name(label63 + "." + label63 + "." + label63 + "." + label63)
      .U16(kTypeA)
      .U16(kClassIn);
  EXPECT_FALSE(ParseDnsMessage(longest.bytes()).ok());

  Packet fits;  // 3 * 64 + 62 + 1 = 255 octets: the largest name allowed
  fits.Header(kResponse, 1, 0, 0)
      .Name(label63 + "." + label63 + "." + label63 + "." + std::string(61, 'y'))
      .U16(kTypeA)
      .U16(kClassIn);
  EXPECT_TRUE(ParseDnsMessage(fits.bytes()).ok());
}

TEST(DnsMessage, RejectsRdataOfTheWrongLength) {
  Packet a5;
  a5.Header(kResponse, 1, 1, 0).Question("x.test", kTypeA);
  a5.Pointer(kQuestionName).Fixed(kTypeA, 60, 5).Raw({1, 2, 3, 4, 5});
  EXPECT_FALSE(ParseDnsMessage(a5.bytes()).ok());

  Packet mx_over;  // the exchange runs past RDLENGTH into the next bytes
  mx_over.Header(kResponse, 1, 1, 0).Question("x.test", kTypeMx);
  mx_over.Pointer(kQuestionName).Fixed(kTypeMx, 60, 3).U16(1).Name("mx.test").Raw({0, 0});
  EXPECT_FALSE(ParseDnsMessage(mx_over.bytes()).ok());

  Packet txt_over;  // a character-string longer than the RDATA
  txt_over.Header(kResponse, 1, 1, 0).Question("x.test", kTypeTxt);
  txt_over.Pointer(kQuestionName).Fixed(kTypeTxt, 60, 2).Raw({5, 'a', 'b', 'c', 'd', 'e'});
  EXPECT_FALSE(ParseDnsMessage(txt_over.bytes()).ok());

  Packet rd_out;  // RDLENGTH past the end of the message
  rd_out.Header(kResponse, 1, 1, 0).Question("x.test", kTypeA);
  rd_out.Pointer(kQuestionName).Fixed(kTypeA, 60, 400).Raw({1, 2, 3, 4});
  EXPECT_FALSE(ParseDnsMessage(rd_out.bytes()).ok());
}

TEST(DnsMessage, RejectsQueriesAndShortInput) {
  Packet query;
  query.Header(0x0100, 1, 0, 0).Question("x.test", kTypeA);
  EXPECT_FALSE(ParseDnsMessage(query.bytes()).ok());
  EXPECT_FALSE(ParseDnsMessage({}).ok());
}

TEST(DnsMessage, CountsLargerThanTheMessageFailCleanly) {
  Packet p;
  p.Header(kResponse, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF);
  EXPECT_FALSE(ParseDnsMessage(p.bytes()).ok());
}

}  // namespace
}  // namespace mp::net
