#include "mime/address.h"

#include <gtest/gtest.h>

namespace mp {
namespace {

TEST(Address, AcceptsOrdinaryAndUnusualValidAddresses) {
  for (const char* ok : {"a@example.com", "first.last+tag@sub.example.co.uk", "x_y-z@a-b.example",
                         "\"john doe\"@example.com", "o'hara@example.ie", "a@[127.0.0.1]",
                         "user@[IPv6:2001:db8::1]", "!#$%&'*+-/=?^_`{|}~@example.com"}) {
    auto r = ParseAddress(ok, "to");
    EXPECT_TRUE(r.ok()) << ok << ": " << (r.ok() ? "" : r.error().detail);
  }
}

TEST(Address, RejectsInvalidWithTheField) {
  for (const char* bad :
       {"", "plain", "@example.com", "a@", "a@@example.com", "a..b@example.com", ".a@example.com",
        "a.@example.com", "a b@example.com", "a@localhost", "a@-example.com", "a@example-.com",
        "a@exa_mple.com", "a@example.123", "a@[300.1.1.1]", "a@example..com", "a\"b@example.com"}) {
    auto r = ParseAddress(bad, "to[1]");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Code::kInvalidAddress) << bad;
    EXPECT_EQ(r.error().field, "to[1]");
  }
  std::string long_local(65, 'a');
  EXPECT_FALSE(ParseAddress(long_local + "@example.com", "to").ok());
  std::string long_label(64, 'a');
  EXPECT_FALSE(ParseAddress("a@" + long_label + ".com", "to").ok());
}

TEST(Address, CrLfIsHeaderInjection) {
  auto r = ParseMailbox("Eve <eve@example.com>\r\nBcc: victim@example.com", "from");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kHeaderInjection);
  r = ParseAddress("eve@example.com\n", "from");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kHeaderInjection);
}

TEST(Address, InternationalizedDomainsBecomeALabels) {
  auto r = ParseAddress("user@bücher.example", "to");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r.value().domain, "xn--bcher-kva.example");
  r = ParseAddress("user@例え.テスト", "to");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r.value().domain.rfind("xn--", 0), 0u);
  // Non-ASCII local parts need SMTPUTF8: refused with a clear reason.
  r = ParseAddress("müller@example.com", "to");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().detail.find("SMTPUTF8"), std::string::npos);
}

TEST(Mailbox, DisplayNamesPlainQuotedAndUtf8) {
  auto r = ParseMailbox("Alice Example <alice@example.com>", "from");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().display_name, "Alice Example");
  EXPECT_EQ(r.value().Address(), "alice@example.com");
  EXPECT_EQ(FormatMailboxHeader(r.value()), "Alice Example <alice@example.com>");

  r = ParseMailbox("\"Doe, John\" <john@example.com>", "from");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().display_name, "Doe, John");
  EXPECT_EQ(FormatMailboxHeader(r.value()), "\"Doe, John\" <john@example.com>");

  r = ParseMailbox("Zoë <zoe@example.com>", "from");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(FormatMailboxHeader(r.value()), "=?UTF-8?B?Wm/Dqw==?= <zoe@example.com>");

  r = ParseMailbox("bare@example.com", "from");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(FormatMailboxHeader(r.value()), "bare@example.com");
  EXPECT_FALSE(ParseMailbox("Name <not-an-address>", "from").ok());
  EXPECT_FALSE(ParseMailbox("Name bad@example.com>", "from").ok());
}

}  // namespace
}  // namespace mp
