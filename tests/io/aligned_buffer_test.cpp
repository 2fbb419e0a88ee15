#include "larder/io/aligned_buffer.hpp"

#include <cstdint>
#include <cstring>
#include <utility>

#include <gtest/gtest.h>

namespace larder::io {
namespace {

TEST(AlignedBuffer, DataStartsOnTheRequestedAlignment) {
  for (std::size_t alignment : {std::size_t{16}, std::size_t{512}, std::size_t{4096}}) {
    aligned_buffer buffer(10000, alignment);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(buffer.data()) % alignment, 0u) << alignment;
    EXPECT_EQ(buffer.size(), 10000u);
    std::memset(buffer.data(), 0xab, buffer.size());  // the whole range is writable
  }
}

TEST(AlignedBuffer, HeaderRoomInFrontIsWritable) {
  aligned_buffer buffer(8, 4096);
  std::memset(buffer.data() - aligned_buffer::header_room, 0, aligned_buffer::header_room);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(buffer.data() - aligned_buffer::header_room) %
                alignof(std::max_align_t),
            0u);
}

TEST(AlignedBuffer, MoveTransfersOwnership) {
  aligned_buffer a(64);
  std::byte* data = a.data();
  aligned_buffer b(std::move(a));
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  aligned_buffer c(16);
  c = std::move(b);
  EXPECT_EQ(c.data(), data);
  EXPECT_EQ(c.size(), 64u);
}

TEST(AlignedBuffer, ReleasedBlockIsFreedByReleaseBlock) {
  aligned_buffer a(128, 512);
  std::byte* data = a.release();
  EXPECT_EQ(a.data(), nullptr);
  aligned_buffer::release_block(data);  // ASan reports a leak or a bad free if this is wrong
}

TEST(AlignedBuffer, ZeroSizeIsAValidBuffer) {
  aligned_buffer a(0);
  EXPECT_NE(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0u);
}

}  // namespace
}  // namespace larder::io
