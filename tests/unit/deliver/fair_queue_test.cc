#include "deliver/fair_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mp {
namespace {

TEST(FairQueue, ServesTenantsRoundRobinAndEachInOrder) {
  FairQueue<std::string> q;
  for (int i = 0; i < 1000; ++i) q.PushBack("a", "a" + std::to_string(i));  // a backlog
  q.PushBack("b", "b0");
  q.PushBack("b", "b1");
  q.PushBack("c", "c0");
  EXPECT_EQ(q.Size(), 1003u);
  std::vector<std::string> first;
  for (int i = 0; i < 6; ++i) first.push_back(q.Pop());
  // b and c are served after at most one item of a, not after a's thousand.
  EXPECT_EQ(first, (std::vector<std::string>{"a0", "b0", "c0", "a1", "b1", "a2"}));
  size_t n = 0;
  std::string last;
  while (!q.Empty()) {
    last = q.Pop();
    ++n;
  }
  EXPECT_EQ(n, 997u);
  EXPECT_EQ(last, "a999");
}

TEST(FairQueue, PushFrontPutsAnItemBackAtTheHeadOfItsTenant) {
  FairQueue<int> q;
  q.PushBack("a", 1);
  q.PushBack("a", 2);
  int x = q.Pop();
  q.PushFront("a", x);
  EXPECT_EQ(q.Pop(), 1);
  EXPECT_EQ(q.Pop(), 2);
  EXPECT_TRUE(q.Empty());
  q.PushBack("z", 9);
  q.Clear();
  EXPECT_TRUE(q.Empty());
  EXPECT_EQ(q.Size(), 0u);
}

TEST(FairQueue, ATenantThatEmptiesAndComesBackJoinsTheEndOfTheRing) {
  FairQueue<std::string> q;
  q.PushBack("a", "a0");
  q.PushBack("b", "b0");
  q.PushBack("b", "b1");
  EXPECT_EQ(q.Pop(), "a0");
  q.PushBack("a", "a1");
  EXPECT_EQ(q.Pop(), "b0");
  EXPECT_EQ(q.Pop(), "a1");
  EXPECT_EQ(q.Pop(), "b1");
}

TEST(FairQueue, WeightsGiveTurnsInProportion) {
  FairQueue<std::string> q;
  q.SetWeights([](const std::string& t) { return t == "heavy" ? 3 : 1; });
  for (int i = 0; i < 9; ++i) q.PushBack("heavy", "h");
  for (int i = 0; i < 3; ++i) q.PushBack("light", "l");
  std::string order;
  while (!q.Empty()) order += q.Pop();
  EXPECT_EQ(order, "hhhlhhhlhhhl");
}

TEST(FairQueue, TakeTenantRemovesItsItemsAndItsTurn) {
  FairQueue<int> q;
  q.PushBack("a", 1);
  q.PushBack("b", 2);
  q.PushBack("a", 3);
  auto taken = q.TakeTenant("a");
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0], 1);
  EXPECT_EQ(q.Size(), 1u);
  q.PushBack("a", 4);  // comes back once, at the end
  EXPECT_EQ(q.Pop(), 2);
  EXPECT_EQ(q.Pop(), 4);
  EXPECT_TRUE(q.Empty());
}

}  // namespace
}  // namespace mp
