#include "core/id.h"

#include <gtest/gtest.h>

#include <set>

#include "core/clock.h"

namespace mp {
namespace {

TEST(MessageId, TextRoundTripsAndIs26Crockford) {
  ManualClock clock(1795000000000);
  MessageId id = NewId(clock);
  std::string text = id.ToString();
  ASSERT_EQ(text.size(), 26u);
  EXPECT_EQ(text.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ"), std::string::npos);
  auto back = MessageId::Parse(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, id);
  EXPECT_EQ(id.TimestampMs(), 1795000000000);
}

TEST(MessageId, ParsesLowerCaseAndRejectsBadText) {
  ManualClock clock(1795000000000);
  MessageId id = NewId(clock);
  std::string lower = id.ToString();
  for (char& c : lower) c = static_cast<char>(std::tolower(c));
  EXPECT_EQ(MessageId::Parse(lower), id);
  EXPECT_FALSE(MessageId::Parse(""));
  EXPECT_FALSE(MessageId::Parse("01ARZ3NDEKTSV4RRFFQ69G5FA"));    // 25 chars
  EXPECT_FALSE(MessageId::Parse("01ARZ3NDEKTSV4RRFFQ69G5FAVV"));  // 27 chars
  EXPECT_FALSE(MessageId::Parse("01ARZ3NDEKTSV4RRFFQ69G5FAU"));   // U is not Crockford
  EXPECT_FALSE(MessageId::Parse("81ARZ3NDEKTSV4RRFFQ69G5FAV"));   // overflows 128 bits
  EXPECT_TRUE(MessageId::Parse("7ZZZZZZZZZZZZZZZZZZZZZZZZZ"));    // the largest
}

TEST(MessageId, KnownUlidDecodesToItsTimestamp) {
  // The ULID specification's example id. Its first ten characters, read as base32 digits by hand
  // (sum of digit * 32^k), are 1469922850259.
  auto id = MessageId::Parse("01ARZ3NDEKTSV4RRFFQ69G5FAV");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->TimestampMs(), 1469922850259);
  EXPECT_EQ(id->ToString(), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
}

TEST(MessageId, StrictlyIncreasingWithinOneMillisecondAndAcrossTime) {
  ManualClock clock(1795000000000);
  MessageId prev = NewId(clock);
  std::set<std::string> seen{prev.ToString()};
  for (int i = 0; i < 10000; ++i) {
    if (i % 1000 == 0) clock.Advance(1);
    MessageId next = NewId(clock);
    EXPECT_LT(prev, next);
    EXPECT_LT(prev.ToString(), next.ToString());  // text order is byte order
    EXPECT_TRUE(seen.insert(next.ToString()).second);
    prev = next;
  }
}

TEST(MessageId, ClockSteppingBackStillIncreases) {
  ManualClock clock(1795000000000);
  MessageId a = NewId(clock);
  clock.Set(1794999990000);
  MessageId b = NewId(clock);
  EXPECT_LT(a, b);
}

}  // namespace
}  // namespace mp
