#include "net/ttl_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace mp::net {
namespace {

TEST(DnsTtlCache, ExpiresAtTheGivenTime) {
  TtlCache<std::string, int> cache(10);
  cache.Put("a", 1, /*expires_ms=*/1000, /*now_ms=*/0);
  EXPECT_EQ(cache.Get("a", 999), 1);
  EXPECT_FALSE(cache.Get("a", 1000).has_value());
  EXPECT_EQ(cache.size(), 0u);  // the expired entry went when it was found
}

TEST(DnsTtlCache, ReplacesAndDropsTheOldestWhenFull) {
  TtlCache<std::string, int> cache(2);
  cache.Put("a", 1, 5000, 0);
  cache.Put("b", 2, 5000, 0);
  cache.Put("a", 3, 5000, 0);  // replacing keeps one entry per key, now the newest
  EXPECT_EQ(cache.size(), 2u);
  cache.Put("c", 4, 5000, 0);  // full: "b" is the oldest
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_FALSE(cache.Get("b", 1).has_value());
  EXPECT_EQ(cache.Get("a", 1), 3);
  EXPECT_EQ(cache.Get("c", 1), 4);
}

TEST(DnsTtlCache, PutDropsExpiredEntriesFirstAndIgnoresDeadOnes) {
  TtlCache<std::string, int> cache(3);
  cache.Put("short", 1, 100, 0);
  cache.Put("long", 2, 10000, 0);
  cache.Put("dead", 3, 50, 60);  // already expired: not stored
  EXPECT_EQ(cache.size(), 2u);
  cache.Put("new", 4, 10000, 200);  // "short" has expired by now
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Get("long", 200), 2);

  TtlCache<std::string, int> off(0);
  off.Put("a", 1, 1000, 0);
  EXPECT_EQ(off.size(), 0u);
}

}  // namespace
}  // namespace mp::net
