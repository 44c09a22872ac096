// Suppression lists: entries round trip through a real store; a tenant's entry beats the global
// one, the global list applies to every tenant, expired entries stop nothing; lists filter and
// page stably; addresses normalize strictly; CSV imports parse RFC 4180 with per-line errors and
// limits; exports parse back to the same rows and guard against formula injection.
#include "store/suppression.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/config.h"
#include "test_util.h"

namespace mp {
namespace {

constexpr int64_t kNow = 1'800'000'000'000;

Suppression Entry(std::string scope, std::string address, std::string reason = "manual",
                  int64_t expires_ms = 0) {
  Suppression s;
  s.scope = std::move(scope);
  s.address = std::move(address);
  s.reason = std::move(reason);
  s.source = "api";
  s.created_ms = kNow - 1000;
  s.expires_ms = expires_ms;
  return s;
}

std::vector<std::string> Addresses(const SuppressionPage& p) {
  std::vector<std::string> out;
  for (const Suppression& s : p.items) out.push_back(s.address);
  return out;
}

class SuppressionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kv = OpenRocksDbStore(dir.path(), SpoolConfig{});
    ASSERT_TRUE(kv.ok());
    store = std::move(kv.value());
  }
  void Add(const std::vector<Suppression>& entries) {
    WriteBatch b;
    for (const Suppression& s : entries) AddSuppression(b, s);
    ASSERT_TRUE(store->CommitAndWait(std::move(b)).ok());
  }
  void Remove(const std::string& scope, const std::string& address) {
    WriteBatch b;
    RemoveSuppression(b, scope, address);
    ASSERT_TRUE(store->CommitAndWait(std::move(b)).ok());
  }
  std::optional<Suppression> Find(const std::string& tenant, const std::string& address,
                                  int64_t now = kNow) {
    auto r = FindSuppression(*store, tenant, address, now);
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : std::nullopt;
  }
  SuppressionPage List(SuppressionQuery q, int64_t now = kNow) {
    auto r = ListSuppressions(*store, q, now);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().detail);
    return r.ok() ? std::move(r).value() : SuppressionPage{};
  }
  test::TempDir dir;
  std::unique_ptr<KvStore> store;
};

TEST_F(SuppressionTest, AddReadRemove) {
  Suppression s = Entry("tn_a", "bob@example.com", "invalid_recipient");
  s.source = "auto";
  s.message_id = "01JAAAAAAAAAAAAAAAAAAAAAAA";
  s.event_id = "01JBBBBBBBBBBBBBBBBBBBBBBB";
  s.detail = "550 5.1.1 <bob@example.com>: user unknown, sorry";
  Add({s});
  // Looked up in any case and with spaces around it.
  auto r = ReadSuppression(*store, "tn_a", "  Bob@Example.COM ");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r.value());
  const Suppression& got = *r.value();
  EXPECT_EQ(got.scope, "tn_a");
  EXPECT_EQ(got.address, "bob@example.com");
  EXPECT_EQ(got.reason, "invalid_recipient");
  EXPECT_EQ(got.source, "auto");
  EXPECT_EQ(got.created_ms, kNow - 1000);
  EXPECT_EQ(got.expires_ms, 0);
  EXPECT_EQ(got.message_id, s.message_id);
  EXPECT_EQ(got.event_id, s.event_id);
  EXPECT_EQ(got.detail, s.detail);
  // Another tenant's list does not have it.
  EXPECT_FALSE(ReadSuppression(*store, "tn_b", "bob@example.com").value());
  // A bad address is an error, not "absent".
  auto bad = ReadSuppression(*store, "tn_a", "bob");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Code::kInvalidValue);
  EXPECT_EQ(bad.error().field, "address");

  // Adding again replaces the entry.
  s.reason = "complaint";
  Add({s});
  EXPECT_EQ(ReadSuppression(*store, "tn_a", "bob@example.com").value()->reason, "complaint");

  Remove("tn_a", "bob@example.com");
  EXPECT_FALSE(ReadSuppression(*store, "tn_a", "bob@example.com").value());
  EXPECT_FALSE(Find("tn_a", "bob@example.com"));
  // The domain index entry went with it.
  EXPECT_TRUE(List({.scope = "tn_a", .domain = "example.com"}).items.empty());
  EXPECT_TRUE(List({.scope = "tn_a"}).items.empty());
}

TEST_F(SuppressionTest, EncodingRoundTripsCleansDetailAndRefusesCorruptValues) {
  Suppression s = Entry("tn_a", "a@example.com", "unsubscribe", kNow + 5);
  s.detail = "line one\r\nline two\tend\x01\xff";
  std::string v = EncodeSuppression(s);
  EXPECT_EQ(v[0], '\x01');
  EXPECT_EQ(SuppressionKey("tn_a", "a@example.com"), std::string("sup/tn_a\0a@example.com", 22));
  auto back = DecodeSuppression("tn_a", "a@example.com", v);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->reason, "unsubscribe");
  EXPECT_EQ(back->expires_ms, kNow + 5);
  // Control characters become spaces and invalid UTF-8 '?': the detail is safe to show anywhere.
  EXPECT_EQ(back->detail, "line one  line two end ?");

  // Capped at 512 bytes, never inside a character.
  s.detail = std::string(511, 'a') + "\xc3\xa9tail";  // 'é' would end at byte 513
  back = DecodeSuppression("tn_a", "a@example.com", EncodeSuppression(s));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->detail, std::string(511, 'a'));

  EXPECT_FALSE(DecodeSuppression("tn_a", "a@example.com", ""));
  EXPECT_FALSE(DecodeSuppression("tn_a", "a@example.com", "\x02" + v.substr(1)));
  EXPECT_FALSE(DecodeSuppression("tn_a", "a@example.com", v.substr(0, v.size() - 1)));
  EXPECT_FALSE(DecodeSuppression("tn_a", "a@example.com", v + "x"));

  // A corrupt record is a storage error, not a pass.
  WriteBatch b;
  b.Put(Column::kState, SuppressionKey("tn_a", "c@example.com"), "\x01garbage");
  ASSERT_TRUE(store->CommitAndWait(std::move(b)).ok());
  auto r = FindSuppression(*store, "tn_a", "c@example.com", kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kStorage);
}

TEST_F(SuppressionTest, TenantEntryBeatsGlobalAndGlobalAppliesToEveryTenant) {
  Add({Entry(std::string(kGlobalScope), "shared@example.com", "complaint"),
       Entry("tn_a", "shared@example.com", "unsubscribe"),
       Entry("tn_a", "own@example.com", "invalid_recipient")});
  auto a = Find("tn_a", "Shared@Example.com");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->scope, "tn_a");
  EXPECT_EQ(a->reason, "unsubscribe");
  auto b = Find("tn_b", "shared@example.com");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->scope, "*");
  EXPECT_EQ(b->reason, "complaint");
  EXPECT_TRUE(Find("tn_zzz", "shared@example.com"));
  // A tenant's own entry does not stop other tenants.
  EXPECT_TRUE(Find("tn_a", "own@example.com"));
  EXPECT_FALSE(Find("tn_b", "own@example.com"));
  EXPECT_FALSE(Find("tn_a", "nobody@example.com"));
  // An address that cannot be on a list is simply not suppressed.
  auto odd = FindSuppression(*store, "tn_a", "\"quoted local\"@example.com", kNow);
  ASSERT_TRUE(odd.ok());
  EXPECT_FALSE(odd.value());
}

TEST_F(SuppressionTest, ExpiredEntriesStopNothing) {
  Add({Entry("tn_a", "temp@example.com", "manual", kNow + 60'000),
       Entry(std::string(kGlobalScope), "temp@example.com", "complaint", 0),
       Entry("tn_a", "gone@example.com", "manual", kNow)});
  EXPECT_EQ(Find("tn_a", "temp@example.com", kNow + 59'999)->scope, "tn_a");
  // Once the tenant's entry expires the global one (which never does) applies.
  auto later = Find("tn_a", "temp@example.com", kNow + 60'000);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->scope, "*");
  EXPECT_FALSE(Find("tn_a", "gone@example.com", kNow));  // expires_ms <= now: expired
  EXPECT_TRUE(Find("tn_a", "gone@example.com", kNow - 1));
  // ReadSuppression shows expired entries; lists hide them unless asked.
  EXPECT_TRUE(ReadSuppression(*store, "tn_a", "gone@example.com").value());
  EXPECT_EQ(Addresses(List({.scope = "tn_a"})), std::vector<std::string>{"temp@example.com"});
  EXPECT_EQ(Addresses(List({.scope = "tn_a", .include_expired = true})),
            (std::vector<std::string>{"gone@example.com", "temp@example.com"}));
}

TEST_F(SuppressionTest, ListFiltersByScopePrefixDomainAndReason) {
  Add({Entry("tn_a", "alice@example.com", "complaint"),
       Entry("tn_a", "albert@example.org", "manual"),
       Entry("tn_a", "bob@example.com", "invalid_recipient"),
       Entry("tn_a", "al@sub.example.com", "complaint"),
       Entry("tn_b", "alice@example.com", "complaint"),
       Entry(std::string(kGlobalScope), "alan@example.com", "manual")});
  EXPECT_EQ(Addresses(List({.scope = "tn_a"})),
            (std::vector<std::string>{"al@sub.example.com", "albert@example.org",
                                      "alice@example.com", "bob@example.com"}));
  EXPECT_EQ(
      Addresses(List({.scope = "tn_a", .address_prefix = "AL"})),
      (std::vector<std::string>{"al@sub.example.com", "albert@example.org", "alice@example.com"}));
  // Exact domain: sub.example.com is another domain.
  EXPECT_EQ(Addresses(List({.scope = "tn_a", .domain = "Example.COM"})),
            (std::vector<std::string>{"alice@example.com", "bob@example.com"}));
  EXPECT_EQ(Addresses(List({.scope = "tn_a", .address_prefix = "b", .domain = "example.com"})),
            std::vector<std::string>{"bob@example.com"});
  EXPECT_EQ(Addresses(List({.scope = "tn_a", .reason = "complaint"})),
            (std::vector<std::string>{"al@sub.example.com", "alice@example.com"}));
  EXPECT_EQ(Addresses(List({.scope = "tn_a", .domain = "example.com", .reason = "complaint"})),
            std::vector<std::string>{"alice@example.com"});
  EXPECT_EQ(Addresses(List({.scope = "*"})), std::vector<std::string>{"alan@example.com"});
  EXPECT_TRUE(List({.scope = "tn_c"}).items.empty());
  EXPECT_TRUE(List({.scope = "tn_a", .address_prefix = "zz"}).next_cursor.empty());

  auto bad = [&](SuppressionQuery q, const char* field) {
    auto r = ListSuppressions(*store, q, kNow);
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_EQ(r.error().code, Code::kInvalidValue);
    EXPECT_EQ(r.error().field, field);
  };
  bad({.scope = ""}, "scope");
  bad({.scope = "tn_a", .reason = "spam"}, "reason");
  bad({.scope = "tn_a", .limit = 0}, "limit");
  bad({.scope = "tn_a", .limit = kMaxSuppressionPage + 1}, "limit");
  bad({.scope = "tn_a", .domain = "a@b.com"}, "domain");
  bad({.scope = "tn_a", .cursor = "zz"}, "cursor");
  bad({.scope = "tn_a", .cursor = "abc"}, "cursor");
  bad({.scope = "tn_a", .cursor = "00"}, "cursor");
}

TEST_F(SuppressionTest, CursorPagesAreStableAcrossInserts) {
  std::vector<Suppression> entries;
  for (int i = 0; i < 25; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "u%02d@example.com", i * 2);  // u00, u02, ... u48
    entries.push_back(Entry("tn_a", name));
  }
  Add(entries);
  SuppressionPage p1 = List({.scope = "tn_a", .limit = 10});
  ASSERT_EQ(p1.items.size(), 10u);
  EXPECT_EQ(p1.items.front().address, "u00@example.com");
  EXPECT_EQ(p1.items.back().address, "u18@example.com");
  ASSERT_FALSE(p1.next_cursor.empty());
  // Inserts before and after the cursor; a delete after it.
  Add({Entry("tn_a", "u01@example.com"), Entry("tn_a", "u19@example.com"),
       Entry("tn_a", "u21@example.com")});
  Remove("tn_a", "u20@example.com");
  SuppressionPage p2 = List({.scope = "tn_a", .cursor = p1.next_cursor, .limit = 10});
  ASSERT_EQ(p2.items.size(), 10u);
  EXPECT_EQ(p2.items[0].address, "u19@example.com");
  EXPECT_EQ(p2.items[1].address, "u21@example.com");
  EXPECT_EQ(p2.items[2].address, "u22@example.com");
  SuppressionPage p3 = List({.scope = "tn_a", .cursor = p2.next_cursor, .limit = 10});
  EXPECT_EQ(p3.items.size(), 6u);  // 25 + 3 - 1 = 27 in all; u01 came before the cursor
  EXPECT_EQ(p3.items.back().address, "u48@example.com");
  EXPECT_TRUE(p3.next_cursor.empty());
  // A page that ends exactly at the last entry says so.
  SuppressionPage exact = List({.scope = "tn_a", .address_prefix = "u4", .limit = 5});
  EXPECT_EQ(exact.items.size(), 5u);
  EXPECT_TRUE(exact.next_cursor.empty());
  // A cursor also pages a prefix query.
  SuppressionPage q1 = List({.scope = "tn_a", .address_prefix = "u1", .limit = 3});
  ASSERT_EQ(Addresses(q1),
            (std::vector<std::string>{"u10@example.com", "u12@example.com", "u14@example.com"}));
  SuppressionPage q2 =
      List({.scope = "tn_a", .address_prefix = "u1", .cursor = q1.next_cursor, .limit = 3});
  EXPECT_EQ(Addresses(q2),
            (std::vector<std::string>{"u16@example.com", "u18@example.com", "u19@example.com"}));
}

TEST_F(SuppressionTest, DomainListingPagesThroughManyEntries) {
  std::vector<Suppression> entries;
  for (int i = 0; i < 300; ++i) {
    entries.push_back(Entry("tn_a", "user" + std::to_string(1000 + i) + "@big.example"));
    if (i % 3 == 0) entries.back().reason = "complaint";
  }
  entries.push_back(Entry("tn_a", "other@small.example"));
  Add(entries);
  SuppressionPage all = List({.scope = "tn_a", .domain = "big.example", .limit = 1000});
  ASSERT_EQ(all.items.size(), 300u);
  EXPECT_EQ(all.items.front().address, "user1000@big.example");
  EXPECT_EQ(all.items.back().address, "user1299@big.example");
  EXPECT_TRUE(all.next_cursor.empty());
  // Paged with a reason filter: every complaint exactly once, in order.
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    SuppressionPage p = List({.scope = "tn_a",
                              .domain = "big.example",
                              .reason = "complaint",
                              .cursor = cursor,
                              .limit = 7});
    for (const Suppression& s : p.items) seen.push_back(s.address);
    cursor = p.next_cursor;
    ASSERT_LT(++pages, 100);
  } while (!cursor.empty());
  ASSERT_EQ(seen.size(), 100u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(seen[1], "user1003@big.example");
}

// Filters that skip many entries end a page early with a cursor instead of scanning a whole list.
TEST_F(SuppressionTest, FilteredPagesScanABoundedNumberOfEntries) {
  std::vector<Suppression> entries;
  for (int i = 0; i < 10'050; ++i) {
    entries.push_back(Entry("tn_a", "m" + std::to_string(100'000 + i) + "@example.com"));
  }
  entries.push_back(Entry("tn_a", "zz@example.com", "complaint"));
  Add(entries);
  SuppressionPage p1 = List({.scope = "tn_a", .reason = "complaint", .limit = 10});
  EXPECT_TRUE(p1.items.empty());
  ASSERT_FALSE(p1.next_cursor.empty());
  SuppressionPage p2 =
      List({.scope = "tn_a", .reason = "complaint", .cursor = p1.next_cursor, .limit = 10});
  EXPECT_EQ(Addresses(p2), std::vector<std::string>{"zz@example.com"});
  EXPECT_TRUE(p2.next_cursor.empty());
}

TEST(SuppressionAddressTest, Normalizes) {
  auto ok = [](std::string_view in, std::string_view want) {
    auto r = NormalizeSuppressedAddress(in);
    ASSERT_TRUE(r.ok()) << in << ": " << r.error().detail;
    EXPECT_EQ(r.value(), want);
    auto again = NormalizeSuppressedAddress(r.value());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.value(), want) << "not idempotent";
  };
  ok("  John.Doe+Tag@Example.COM \t", "john.doe+tag@example.com");
  ok("o'brien@mail.example.ie", "o'brien@mail.example.ie");
  ok("x!#$%&'*+-/=?^_`{|}~@xn--bcher-kva.example", "x!#$%&'*+-/=?^_`{|}~@xn--bcher-kva.example");
  ok("a@[192.0.2.1]", "a@[192.0.2.1]");
  ok("a@[IPv6:2001:DB8:0:0:0::1]", "a@[ipv6:2001:db8::1]");
}

TEST(SuppressionAddressTest, NormalizesLongestAddress) {
  // 64 + 1 + 255 = 320 octets: the longest accepted.
  std::string domain = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                       std::string(63, 'c') + "." + std::string(59, 'd') + ".com";
  ASSERT_EQ(domain.size(), 255u);
  std::string address = std::string(64, 'l') + "@" + domain;
  auto r = NormalizeSuppressedAddress(address);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r.value().size(), 320u);
  EXPECT_FALSE(NormalizeSuppressedAddress(std::string(65, 'l') + "@example.com").ok());
  EXPECT_FALSE(NormalizeSuppressedAddress(std::string(64, 'l') + "@x" + domain).ok());
}

TEST(SuppressionAddressTest, RefusesGarbage) {
  const std::string cases[] = {
      "",
      "   ",
      "noat.example.com",
      "@example.com",
      "a@",
      "a@localhost",
      "a@1.2.3.4",
      "a@example.123",
      "a b@example.com",
      "\"a b\"@example.com",
      "\"a\"@example.com",
      "<a@example.com>",
      "Name <a@example.com>",
      "a@example..com",
      "a@.example.com",
      "a@example.com.",
      "a@-example.com",
      "a@example-.com",
      "a@exa_mple.com",
      ".a@example.com",
      "a.@example.com",
      "a..b@example.com",
      "a@b@example.com",
      "a(comment)@example.com",
      "a,b@example.com",
      "a;b@example.com",
      "a\\b@example.com",
      "a@example.com\n",
      std::string("a\0b@example.com", 15),
      "a\r\n@example.com",
      "jos\xc3\xa9@example.com",
      "a@b\xc3\xbc"
      "cher.example",
      "a@[300.1.1.1]",
      "a@[1.2.3]",
      "a@[192.0.2.1",
      "a@[ipv6:zz::1]",
      "a@[ipv6:1.2.3.4x]",
      "a@[]",
      "a@" + std::string(64, 'd') + ".example",
      std::string(400, 'a') + "@example.com",
  };
  for (const std::string& c : cases) {
    auto r = NormalizeSuppressedAddress(c);
    ASSERT_FALSE(r.ok()) << "accepted: " << c;
    EXPECT_EQ(r.error().code, Code::kInvalidValue) << c;
    EXPECT_EQ(r.error().field, "address") << c;
    EXPECT_FALSE(r.error().detail.empty());
  }
}

TEST(SuppressionReasonTest, KnowsTheReasons) {
  for (const char* r : {"invalid_recipient", "bad_domain", "inactive_mailbox", "complaint",
                        "unsubscribe", "manual"}) {
    EXPECT_TRUE(IsSuppressionReason(r)) << r;
  }
  EXPECT_FALSE(IsSuppressionReason(""));
  EXPECT_FALSE(IsSuppressionReason("Manual"));
  EXPECT_FALSE(IsSuppressionReason("spam_block"));
  EXPECT_TRUE(IsSuppressionSource("auto"));
  EXPECT_TRUE(IsSuppressionSource("import"));
  EXPECT_FALSE(IsSuppressionSource("csv"));
}

SuppressionCsvResult Parse(std::string_view csv) {
  auto r = ParseSuppressionCsv(csv);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().detail);
  return r.ok() ? std::move(r).value() : SuppressionCsvResult{};
}

TEST(SuppressionCsvTest, ParsesQuotedFieldsAndLineEnds) {
  SuppressionCsvResult r = Parse(
      "address,reason,expires_at,detail\r\n"
      "A@Example.com,complaint,2026-12-31T00:00:00Z,\"said \"\"stop\"\", twice\"\r\n"
      "\"b@example.com\",,,\"two\r\nlines, and a comma\"\n"
      "c@example.com\n"
      "\n"
      "  d@example.com  , UNSUBSCRIBE ,  ,  spaced  \r\n"
      "e@example.com,manual,2027-01-01T10:00:00.500+02:00,last");  // no final line end
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].line << ": " << r.errors[0].message;
  ASSERT_EQ(r.rows.size(), 5u);
  EXPECT_EQ(r.rows[0].address, "a@example.com");
  EXPECT_EQ(r.rows[0].reason, "complaint");
  EXPECT_EQ(r.rows[0].expires_ms, 1798675200000);
  EXPECT_EQ(r.rows[0].detail, "said \"stop\", twice");
  EXPECT_EQ(r.rows[1].address, "b@example.com");
  EXPECT_EQ(r.rows[1].reason, "manual");
  EXPECT_EQ(r.rows[1].expires_ms, 0);
  EXPECT_EQ(r.rows[1].detail, "two\r\nlines, and a comma");
  EXPECT_EQ(r.rows[2].address, "c@example.com");
  EXPECT_EQ(r.rows[2].reason, "manual");
  EXPECT_EQ(r.rows[2].detail, "");
  EXPECT_EQ(r.rows[3].address, "d@example.com");
  EXPECT_EQ(r.rows[3].reason, "unsubscribe");
  EXPECT_EQ(r.rows[3].detail, "  spaced  ");       // detail is kept as written
  EXPECT_EQ(r.rows[4].expires_ms, 1798790400500);  // 08:00:00.500Z
}

TEST(SuppressionCsvTest, DetectsHeaders) {
  // No header: positional columns.
  SuppressionCsvResult none = Parse("x@example.com,bad_domain\n");
  ASSERT_EQ(none.rows.size(), 1u);
  EXPECT_EQ(none.rows[0].reason, "bad_domain");
  // "email" also names the address column; columns are found by name, in any order.
  SuppressionCsvResult email =
      Parse("\xEF\xBB\xBF Email ,Detail,Reason\ny@example.com,hi,complaint\n");
  ASSERT_TRUE(email.errors.empty());
  ASSERT_EQ(email.rows.size(), 1u);
  EXPECT_EQ(email.rows[0].address, "y@example.com");
  EXPECT_EQ(email.rows[0].detail, "hi");
  EXPECT_EQ(email.rows[0].reason, "complaint");
  // A header only: nothing to import, no errors.
  SuppressionCsvResult only = Parse("address\r\n");
  EXPECT_TRUE(only.rows.empty());
  EXPECT_TRUE(only.errors.empty());
  // Unknown or repeated header names refuse the file rather than drop a column silently.
  for (const char* csv :
       {"address,expires\nz@example.com,2026-01-01T00:00:00Z\n", "address,reason,email\n"}) {
    auto r = ParseSuppressionCsv(csv);
    ASSERT_FALSE(r.ok()) << csv;
    EXPECT_EQ(r.error().code, Code::kInvalidValue);
    EXPECT_EQ(r.error().field, "csv");
  }
}

TEST(SuppressionCsvTest, ReportsBadRowsWithLineNumbersAndImportsTheRest) {
  SuppressionCsvResult r = Parse(
      "address,reason,expires_at,detail\n"             // 1
      "good1@example.com\n"                            // 2
      "not-an-address\n"                               // 3
      "good2@example.com,spam\n"                       // 4
      "good3@example.com,,next tuesday\n"              // 5
      "good4@example.com,,,\"multi\nline\ndetail\"\n"  // 6-8
      "\"unclosed@example.com,x\"y\n"                  // 9
      "bad\"quote@example.com\n"                       // 10
      "good5@example.com,manual,,d,extra\n"            // 11
      ",manual\n"                                      // 12
      "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r\n"          // 13
      "good6@example.com,,1969-12-31T23:59:59Z\n"      // 14
      "good7@example.com,complaint\n"                  // 15
      "\"never closed@example.com,\n\n");              // 16-18
  std::vector<std::string> rows;
  for (const auto& row : r.rows) rows.push_back(row.address);
  EXPECT_EQ(rows, (std::vector<std::string>{"good1@example.com", "good4@example.com",
                                            "good7@example.com"}));
  EXPECT_EQ(r.rows[1].detail, "multi\nline\ndetail");
  std::vector<size_t> lines;
  for (const auto& e : r.errors) {
    lines.push_back(e.line);
    EXPECT_FALSE(e.message.empty());
  }
  EXPECT_EQ(lines, (std::vector<size_t>{3, 4, 5, 9, 10, 11, 12, 13, 14, 16}));
}

// An expiry the export could not write back (past year 9999, reached through an offset) is a bad
// row, like one before 1970 (0 would mean "never").
TEST(SuppressionCsvTest, RefusesExpiriesOutsideTheWritableRange) {
  SuppressionCsvResult r = Parse(
      "a@example.com,,9999-12-31T23:59:59.999Z\n"
      "b@example.com,,9999-12-31T23:59:59-01:00\n"
      "c@example.com,,1970-01-01T00:00:00Z\n");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].expires_ms, 253'402'300'799'999);
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0].line, 2u);
  EXPECT_EQ(r.errors[1].line, 3u);
}

TEST(SuppressionCsvTest, RefusesWholeInputsOverLimitsOrNotText) {
  std::string csv;
  for (int i = 0; i < 10; ++i) csv += "u" + std::to_string(i) + "@example.com\n";
  EXPECT_TRUE(ParseSuppressionCsv(csv, 10).ok());
  auto rows = ParseSuppressionCsv(csv, 9);
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.error().code, Code::kBatchTooLarge);
  // Bad rows count towards the limit; the header and blank lines do not.
  EXPECT_TRUE(ParseSuppressionCsv("address\n\nbad\n\nu@example.com\n", 2).ok());
  EXPECT_FALSE(ParseSuppressionCsv("address\nbad\nu@example.com\nv@example.com\n", 2).ok());

  auto bytes = ParseSuppressionCsv(csv, 100, csv.size() - 1);
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.error().code, Code::kMessageTooLarge);
  EXPECT_TRUE(ParseSuppressionCsv(csv, 100, csv.size()).ok());

  for (std::string bad :
       {std::string("a@example.com\n\0\n", 16), std::string("a@example.com,\xff\n"),
        std::string("a@example.com,\xc0\xaf\n"), std::string("a@example.com,\xed\xa0\x80\n")}) {
    auto r = ParseSuppressionCsv(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Code::kInvalidValue);
    EXPECT_EQ(r.error().field, "csv");
  }
  EXPECT_TRUE(Parse("").rows.empty());
  EXPECT_EQ(Parse("a@example.com,,,caf\xc3\xa9 \xf0\x9f\x93\xa7\n").rows.size(), 1u);
}

TEST(SuppressionCsvTest, ExportParsesBackToTheSameRows) {
  std::vector<Suppression> entries;
  Suppression a = Entry("tn_a", "plain@example.com", "complaint", 1798675200123);
  a.source = "auto";
  a.message_id = "01JAAAAAAAAAAAAAAAAAAAAAAA";
  a.detail = "550 5.1.1 \"no such user\", go away";
  entries.push_back(a);
  Suppression b = Entry("tn_a", "+tag@example.com", "manual");
  b.detail = "=HYPERLINK(\"http://evil.example\",\"click\")";
  entries.push_back(b);
  Suppression c = Entry("tn_a", "'quoted@example.com", "unsubscribe");
  c.detail = "'already guarded";
  entries.push_back(c);
  Suppression d = Entry("tn_a", "-dash@example.com", "bad_domain");
  d.detail = "two\r\nlines";
  entries.push_back(d);
  Suppression e = Entry("tn_a", "=cmd|'/ccalc'!a0@example.com", "invalid_recipient");
  e.detail = " @SUM(1+1) ";
  entries.push_back(e);

  std::string csv = SuppressionCsvHeader();
  EXPECT_EQ(csv, "address,reason,source,created_at,expires_at,message_id,detail\r\n");
  for (const Suppression& s : entries) csv += SuppressionCsvLine(s);
  SuppressionCsvResult r = Parse(csv);
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].line << ": " << r.errors[0].message;
  ASSERT_EQ(r.rows.size(), entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(r.rows[i].address, entries[i].address);
    EXPECT_EQ(r.rows[i].reason, entries[i].reason);
    EXPECT_EQ(r.rows[i].expires_ms, entries[i].expires_ms);
    EXPECT_EQ(r.rows[i].detail, entries[i].detail);
  }
}

TEST(SuppressionCsvTest, ExportGuardsAgainstFormulaInjection) {
  Suppression s = Entry("tn_a", "=cmd|'/ccalc'!a0@example.com", "manual");
  s.created_ms = 1798675200000;
  s.detail = "@SUM(A1:A9)";
  EXPECT_EQ(SuppressionCsvLine(s),
            "'=cmd|'/ccalc'!a0@example.com,manual,api,2026-12-31T00:00:00.000Z,,,'@SUM(A1:A9)\r\n");
  s.address = "plain@example.com";
  for (std::string_view detail : {"=1+1", "+1", "-1", "@x", "\tx", "\rx", "'x"}) {
    s.detail = detail;
    std::string line = SuppressionCsvLine(s);
    size_t last = line.rfind(",");
    std::string_view field = std::string_view(line).substr(last + 1);
    // The cell's text (inside quotes if quoted) starts with the apostrophe.
    if (!field.empty() && field[0] == '"') field.remove_prefix(1);
    EXPECT_EQ(field.substr(0, 1), "'") << detail;
  }
  s.detail = "fine, with a comma";
  EXPECT_NE(SuppressionCsvLine(s).find(",\"fine, with a comma\"\r\n"), std::string::npos);
}

}  // namespace
}  // namespace mp
