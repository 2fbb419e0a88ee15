#include "larder/cache/policy/ghost_queue.hpp"

#include <gtest/gtest.h>

namespace larder {
namespace {

TEST(GhostQueue, ForgetsTheOldestBeyondItsWeight) {
  ghost_queue g;
  g.set_capacity(10);
  g.add(1, 4);
  g.add(2, 4);
  g.add(3, 4);  // 12 > 10: 1 is forgotten
  EXPECT_FALSE(g.contains(1));
  EXPECT_TRUE(g.contains(2));
  EXPECT_TRUE(g.contains(3));
  EXPECT_EQ(g.weight(), 8u);
}

TEST(GhostQueue, TakeForgetsAtOnceAndFreesItsWeight) {
  ghost_queue g;
  g.set_capacity(10);
  g.add(1, 6);
  EXPECT_TRUE(g.take(1));
  EXPECT_FALSE(g.take(1));
  EXPECT_EQ(g.weight(), 0u);
  g.add(2, 6);
  g.add(3, 4);  // fits: the taken ghost no longer counts
  EXPECT_TRUE(g.contains(2));
  EXPECT_TRUE(g.contains(3));
}

TEST(GhostQueue, ReAddingAKeyKeepsOnlyItsNewestGhost) {
  ghost_queue g;
  g.set_capacity(10);
  g.add(1, 5);
  g.add(2, 5);
  g.add(1, 5);  // 1 moves to the back of the queue
  g.add(3, 5);  // 2 is now the oldest and goes
  EXPECT_TRUE(g.contains(1));
  EXPECT_FALSE(g.contains(2));
  EXPECT_EQ(g.size(), 2u);
}

TEST(GhostQueue, TooHeavyAGhostIsNotRemembered) {
  ghost_queue g;
  g.set_capacity(10);
  g.add(1, 11);
  EXPECT_FALSE(g.contains(1));
  EXPECT_EQ(g.weight(), 0u);
}

TEST(GhostQueue, ShrinkingForgetsTheOldest) {
  ghost_queue g;
  g.set_capacity(10);
  for (std::uint64_t k = 1; k <= 5; ++k)
    g.add(k, 2);
  g.set_capacity(4);
  EXPECT_EQ(g.size(), 2u);
  EXPECT_TRUE(g.contains(4));
  EXPECT_TRUE(g.contains(5));
}

TEST(GhostQueue, ManyTakesKeepTheQueueSmall) {
  ghost_queue g;
  g.set_capacity(1u << 30);
  for (std::uint64_t k = 0; k < 100000; ++k) {
    g.add(k, 1);
    g.take(k);
  }
  EXPECT_EQ(g.size(), 0u);
  EXPECT_EQ(g.weight(), 0u);
}

}  // namespace
}  // namespace larder
