#include "larder/cache/blob.hpp"

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace larder {
namespace {

TEST(Blob, EmptyBlobHasNoBytes) {
  blob b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.use_count(), 0u);
  EXPECT_EQ(b.view(), "");
}

TEST(Blob, CopyOfHoldsItsOwnCopyOfTheBytes) {
  std::string source = "weights";
  blob b = blob::copy_of(source);
  source[0] = 'W';
  EXPECT_EQ(b.view(), "weights");
  EXPECT_EQ(b.size(), 7u);
}

TEST(Blob, CopiesShareBytesAndCountReferences) {
  blob a = blob::copy_of(std::string_view("abc"));
  {
    blob b = a;
    EXPECT_EQ(b.data(), a.data());
    EXPECT_EQ(a.use_count(), 2u);
  }
  EXPECT_EQ(a.use_count(), 1u);
  blob c = std::move(a);
  EXPECT_EQ(c.use_count(), 1u);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(c.view(), "abc");
}

TEST(Blob, FromBufferFreezesAlignedMemoryWithoutCopying) {
  io::aligned_buffer buffer(8192, 4096);
  std::byte* data = buffer.data();
  std::memset(data, 'x', 8192);
  blob b = blob::from_buffer(std::move(buffer), 100);
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.size(), 100u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % 4096, 0u);
  EXPECT_EQ(b.view(), std::string(100, 'x'));
}

TEST(Blob, AdoptKeepsTheOwnerAliveUntilTheLastBlobGoes) {
  auto storage = std::make_shared<std::vector<std::byte>>(16, std::byte{7});
  std::weak_ptr<std::vector<std::byte>> watch = storage;
  blob b = blob::adopt(*storage, storage);
  storage.reset();
  EXPECT_FALSE(watch.expired());
  blob c = b;
  b = blob();
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(c.size(), 16u);
  EXPECT_EQ(c.data()[15], std::byte{7});
  c = blob();
  EXPECT_TRUE(watch.expired());
}

TEST(Blob, EqualityComparesContents) {
  EXPECT_EQ(blob::copy_of(std::string_view("same")), blob::copy_of(std::string_view("same")));
  EXPECT_NE(blob::copy_of(std::string_view("same")), blob::copy_of(std::string_view("diff")));
  EXPECT_NE(blob::copy_of(std::string_view("ab")), blob::copy_of(std::string_view("abc")));
  EXPECT_EQ(blob(), blob::copy_of(std::string_view("")));
}

TEST(Blob, CopiesFromManyThreadsKeepTheCountExact) {
  blob shared = blob::copy_of(std::string_view("shared"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        blob copy = shared;
        ASSERT_EQ(copy.view(), "shared");
      }
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(shared.use_count(), 1u);
}

}  // namespace
}  // namespace larder
