#include "core/clock.h"

#include <gtest/gtest.h>

namespace mp {
namespace {

TEST(Rfc3339, ParsesZuluOffsetsAndFractions) {
  int64_t ms;
  ASSERT_TRUE(ParseRfc3339("1970-01-01T00:00:00Z", &ms));
  EXPECT_EQ(ms, 0);
  ASSERT_TRUE(ParseRfc3339("2026-11-24T10:00:00.250Z", &ms));
  EXPECT_EQ(FormatRfc3339(ms), "2026-11-24T10:00:00.250Z");
  int64_t with_offset;
  ASSERT_TRUE(ParseRfc3339("2026-11-24T12:00:00.250+02:00", &with_offset));
  EXPECT_EQ(with_offset, ms);
  ASSERT_TRUE(ParseRfc3339("2026-11-24T05:30:00.250-04:30", &with_offset));
  EXPECT_EQ(with_offset, ms);
  ASSERT_TRUE(ParseRfc3339("2024-02-29T00:00:00Z", &ms));
}

TEST(Rfc3339, RejectsMalformed) {
  int64_t ms;
  for (const char* bad :
       {"", "2026-11-24", "2026-11-24T10:00:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z", "2026-11-24T24:00:00Z", "2026-11-24T10:00:00Zjunk",
        "2026-11-24T10:00:00.Z", "2026-11-24T10:00:00+0200", "tomorrow", "2026-11-24X10:00:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad, &ms)) << bad;
  }
}

TEST(Rfc5322Date, FormatsUtcWithWeekday) {
  int64_t ms;
  ASSERT_TRUE(ParseRfc3339("2026-11-24T09:05:03Z", &ms));
  EXPECT_EQ(FormatRfc5322Date(ms), "Tue, 24 Nov 2026 09:05:03 +0000");
}

}  // namespace
}  // namespace mp
