// VERP return paths: round trip, case-insensitive matching, refusal of every address that is not a
// token of this key for this domain and prefix, the RFC 5321 local-part limit, and agreement with
// an independent implementation (the Python lines in tests/data/reports/make_postfix_fixtures.sh
// that made the fixtures' return paths).
#include "feedback/verp.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/clock.h"

namespace mp::feedback {
namespace {

constexpr std::string_view kKey = "mailplane-test-verp-key-0123456789";
constexpr std::string_view kDomain = "bounces.sender.test";

MessageId IdFromHex(std::string_view hex) {
  MessageId id;
  for (size_t i = 0; i < id.bytes.size(); ++i) {
    id.bytes[i] = static_cast<uint8_t>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  }
  return id;
}

std::string Upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

// Time is injected (ids carry it); the random part still differs per id.
const Clock& TestClock() {
  static const ManualClock clock(1'729'000'000'000);
  return clock;
}

MessageId RandomId(std::mt19937_64& rng) {
  MessageId id;
  for (auto& b : id.bytes) b = static_cast<uint8_t>(rng());
  return id;
}

TEST(Verp, RoundTrip) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200; ++i) {
    const MessageId id = RandomId(rng);
    const std::string a = MakeVerpAddress(kKey, id, kDomain);
    ASSERT_FALSE(a.empty());
    auto t = ParseVerpAddress(kKey, a, kDomain);
    ASSERT_TRUE(t.has_value()) << a;
    EXPECT_EQ(t->message, id);
  }
}

TEST(Verp, FormatIsPrefixPlusLowerCaseBase32Token) {
  const std::string a =
      MakeVerpAddress(kKey, IdFromHex("0192a3b4c5d6e7f8091a2b3c4d5e6f70"), kDomain);
  // Made independently by Python's hmac and base64 modules (see make_postfix_fixtures.sh).
  EXPECT_EQ(a, "b+agjkhngf23t7qci2fm6e2xtpod7tt4t6zicc2ba@bounces.sender.test");
  const std::string local = a.substr(0, a.find('@'));
  EXPECT_EQ(local.size(), 2 + kVerpTokenChars);
  for (char c : local.substr(2)) {
    EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << c;
  }
}

TEST(Verp, FixtureReturnPathsParse) {
  // The return paths in tests/data/reports: the Postfix DSNs and the hand-written reports.
  const std::pair<const char*, const char*> cases[] = {
      {"b+agjkhngf23t7qci2fm6e2xtpod7tt4t6zicc2ba@bounces.sender.test",
       "0192a3b4c5d6e7f8091a2b3c4d5e6f70"},
      {"b+agjkhngf23t7qci2fm6e2xtpofk3d362wsmxn7i@bounces.sender.test",
       "0192a3b4c5d6e7f8091a2b3c4d5e6f71"},
      {"b+agjkhngf23t7qci2fm6e2xtpoixzkbufmujue3a@bounces.sender.test",
       "0192a3b4c5d6e7f8091a2b3c4d5e6f72"},
      {"b+agjkhngf23t7qci2fm6e2xtpombgaqc2wfjvday@bounces.sender.test",
       "0192a3b4c5d6e7f8091a2b3c4d5e6f73"},
      {"b+agjkhngf23t7qci2fm6e2xtpoqz3xjlo4m7axxa@bounces.sender.test",
       "0192a3b4c5d6e7f8091a2b3c4d5e6f74"},
  };
  for (const auto& [address, hex] : cases) {
    auto t = ParseVerpAddress(kKey, address, kDomain);
    ASSERT_TRUE(t.has_value()) << address;
    EXPECT_EQ(t->message, IdFromHex(hex)) << address;
  }
}

TEST(Verp, AcceptsAnyCaseAndAngleBrackets) {
  const MessageId id = NewId(TestClock());
  const std::string a = MakeVerpAddress(kKey, id, kDomain);
  for (const std::string& variant : {Upper(a), "<" + a + ">", "B" + a.substr(1),
                                     a.substr(0, a.find('@') + 1) + "Bounces.Sender.TEST"}) {
    auto t = ParseVerpAddress(kKey, variant, kDomain);
    ASSERT_TRUE(t.has_value()) << variant;
    EXPECT_EQ(t->message, id);
  }
  // The configured domain and prefix compare case-insensitively too.
  EXPECT_TRUE(ParseVerpAddress(kKey, a, "BOUNCES.sender.test").has_value());
  const std::string custom = MakeVerpAddress(kKey, id, kDomain, "Ret");
  ASSERT_EQ(custom.substr(0, 4), "Ret+");
  EXPECT_TRUE(ParseVerpAddress(kKey, Upper(custom), kDomain, "ret").has_value());
}

TEST(Verp, RefusesWrongKey) {
  const std::string a = MakeVerpAddress(kKey, NewId(TestClock()), kDomain);
  EXPECT_FALSE(ParseVerpAddress("another-secret-key-of-32-bytes!!", a, kDomain).has_value());
  // A key that differs in its last byte only.
  std::string key(kKey);
  key.back() ^= 1;
  EXPECT_FALSE(ParseVerpAddress(key, a, kDomain).has_value());
}

TEST(Verp, RefusesEveryTamperedCharacter) {
  const MessageId id = NewId(TestClock());
  const std::string a = MakeVerpAddress(kKey, id, kDomain);
  const size_t start = a.find('+') + 1;
  int refused = 0;
  for (size_t i = start; i < start + kVerpTokenChars; ++i) {
    for (char c : std::string_view("abcdefghijklmnopqrstuvwxyz234567")) {
      if (c == a[i]) continue;
      std::string t = a;
      t[i] = c;
      EXPECT_FALSE(ParseVerpAddress(kKey, t, kDomain).has_value()) << t;
      ++refused;
    }
  }
  EXPECT_EQ(refused, static_cast<int>(kVerpTokenChars) * 31);
}

TEST(Verp, RefusesAnotherMessagesIdWithThisMac) {
  // Swapping the id part of one valid token with another's keeps both parts valid base32 but
  // breaks the MAC: a forger cannot move a known MAC onto another message.
  std::mt19937_64 rng(11);
  const std::string a = MakeVerpAddress(kKey, RandomId(rng), kDomain);
  const std::string b = MakeVerpAddress(kKey, RandomId(rng), kDomain);
  const size_t start = a.find('+') + 1;
  const size_t id_chars = 16 * 8 / 5;  // the characters made of id bits only
  std::string mixed = b.substr(0, start + id_chars) + a.substr(start + id_chars);
  EXPECT_FALSE(ParseVerpAddress(kKey, mixed, kDomain).has_value());
}

TEST(Verp, RefusesWrongDomainPrefixAndGarbage) {
  const std::string a = MakeVerpAddress(kKey, NewId(TestClock()), kDomain);
  const std::string local = a.substr(0, a.find('@'));
  const std::string token = local.substr(2);
  const std::string refused[] = {
      local + "@other.test",
      local + "@sub.bounces.sender.test",
      local + "@bounces.sender.test.",
      local + "@",
      local,
      "c+" + token + "@" + std::string(kDomain),                 // other prefix
      "bb+" + token + "@" + std::string(kDomain),                // longer prefix
      "b-" + token + "@" + std::string(kDomain),                 // other separator
      "b+" + token + "a@" + std::string(kDomain),                // one character more
      "b+" + token.substr(1) + "@" + std::string(kDomain),       // one fewer
      "b+" + token.substr(0, 38) + "1@" + std::string(kDomain),  // outside the alphabet
      "b+" + token.substr(0, 38) + "=@" + std::string(kDomain),
      "",
      "@",
      "<>",
      "b+@bounces.sender.test",
      "postmaster@bounces.sender.test",
      std::string(1000, 'a') + "@" + std::string(kDomain),
      std::string("b+\0", 3) + token.substr(1) + "@" + std::string(kDomain),
  };
  for (const std::string& s : refused) {
    EXPECT_FALSE(ParseVerpAddress(kKey, s, kDomain).has_value()) << s;
  }
  // The last character carries 2 bits of the MAC and 3 unused bits: those must be zero, so no
  // second spelling of a valid token exists.
  const char last = token.back();
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  const size_t v = alphabet.find(last);
  ASSERT_EQ(v % 8, 0u);
  for (size_t low = 1; low < 8; ++low) {
    std::string t = a;
    t[a.find('@') - 1] = alphabet[v + low];
    EXPECT_FALSE(ParseVerpAddress(kKey, t, kDomain).has_value()) << t;
  }
}

TEST(Verp, LocalPartStaysUnder64) {
  const MessageId id = NewId(TestClock());
  const std::string longest(kMaxVerpPrefixBytes, 'p');
  const std::string a = MakeVerpAddress(kKey, id, kDomain, longest);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a.find('@'), 63u);
  EXPECT_TRUE(ParseVerpAddress(kKey, a, kDomain, longest).has_value());
  EXPECT_LT(MakeVerpAddress(kKey, id, kDomain).find('@'), 64u);
  EXPECT_EQ(MakeVerpAddress(kKey, id, kDomain, longest + "p"), "");
}

TEST(Verp, RefusesToMakeOrParseWithBadConfiguration) {
  const MessageId id = NewId(TestClock());
  const std::string short_key(kMinVerpKeyBytes - 1, 'k');
  EXPECT_EQ(MakeVerpAddress(short_key, id, kDomain), "");
  EXPECT_EQ(MakeVerpAddress(kKey, id, kDomain, ""), "");
  EXPECT_EQ(MakeVerpAddress(kKey, id, kDomain, "a+b"), "");
  EXPECT_EQ(MakeVerpAddress(kKey, id, kDomain, "a@b"), "");
  EXPECT_EQ(MakeVerpAddress(kKey, id, ""), "");
  EXPECT_EQ(MakeVerpAddress(kKey, id, "bad domain"), "");
  EXPECT_EQ(MakeVerpAddress(kKey, id, "a@b"), "");
  // A 16-byte key is enough.
  const std::string key16(kMinVerpKeyBytes, 'k');
  const std::string a = MakeVerpAddress(key16, id, kDomain);
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(ParseVerpAddress(key16, a, kDomain).has_value());
  // A short key parses nothing, not even its own tokens of a longer key's prefix.
  EXPECT_FALSE(ParseVerpAddress(short_key, a, kDomain).has_value());
  EXPECT_FALSE(ParseVerpAddress(kKey, MakeVerpAddress(kKey, id, kDomain), "").has_value());
}

}  // namespace
}  // namespace mp::feedback
