// key_slot: known values from the Redis Cluster specification, the hash-tag rules, and a few
// hundred random binary keys checked against a real server's CLUSTER KEYSLOT.
#include "larder/cache/remote/key_slot.hpp"

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <larder/cache/remote/redis_connection.hpp>
#include <larder/runtime/runtime.hpp>

#include "redis_server.hpp"

namespace larder {
namespace {

TEST(KeySlot, Crc16OfTheCheckStringIsTheXmodemCheckValue) {
  EXPECT_EQ(crc16_xmodem("123456789"), 0x31C3);
  EXPECT_EQ(crc16_xmodem(""), 0);
}

TEST(KeySlot, KnownSlots) {
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot(""), 0);
}

TEST(KeySlot, KeysWithOneHashTagShareASlot) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  // Only the first tag counts, and only its first '}'.
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
}

TEST(KeySlot, AnEmptyOrUnclosedTagHashesTheWholeKey) {
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16_xmodem("foo{}{bar}") % redis_slot_count);
  EXPECT_EQ(key_slot("foo{bar"), crc16_xmodem("foo{bar") % redis_slot_count);
  EXPECT_EQ(key_slot("}foo{"), crc16_xmodem("}foo{") % redis_slot_count);
}

// A node started with cluster support answers CLUSTER KEYSLOT before it joins a cluster. (Its
// cluster bus listens on port + 10000, hence a port with room above it.)
TEST(KeySlot, AgreesWithARealClusterNode) {
  testing::redis_server node(std::vector<std::string>{"--cluster-enabled", "yes"},
                             testing::free_cluster_port());
  runtime rt{runtime_options{.threads = 1}};
  redis_endpoint e;
  e.port = node.port();
  auto c = rt.run(redis_connection::connect(rt.executor(), e));
  std::mt19937 random(20261129);
  // Binary keys over a small alphabet heavy in braces, so that tags of every shape turn up.
  const std::string alphabet("{}{}ab\0\xff\r\n", 10);
  std::uniform_int_distribution<std::size_t> length(0, 24);
  std::uniform_int_distribution<std::size_t> letter(0, alphabet.size() - 1);
  for (int i = 0; i < 400; ++i) {
    std::string key(length(random), '\0');
    for (char& ch : key)
      ch = alphabet[letter(random)];
    std::vector<std::string> args{"CLUSTER", "KEYSLOT", key};
    const redis_reply reply = rt.run(c->command(std::move(args)));
    ASSERT_EQ(reply.type, redis_reply::kind::integer);
    EXPECT_EQ(key_slot(key), reply.integer) << "key #" << i << " of length " << key.size();
  }
}

}  // namespace
}  // namespace larder
