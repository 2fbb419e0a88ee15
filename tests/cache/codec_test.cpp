#include "larder/cache/codec.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace larder {
namespace {

struct sample_header {
  std::uint32_t label;
  float weight;
};

TEST(Codec, TriviallyCopyableRoundTrips) {
  blob b = codec<sample_header>::encode({7, 0.5f});
  EXPECT_EQ(b.size(), sizeof(sample_header));
  auto back = codec<sample_header>::decode(b);
  EXPECT_EQ(back.label, 7u);
  EXPECT_EQ(back.weight, 0.5f);
}

TEST(Codec, WrongSizeIsACodecError) {
  EXPECT_THROW(codec<std::uint64_t>::decode(blob::copy_of(std::string_view("abc"))), codec_error);
}

TEST(Codec, StringRoundTrips) {
  EXPECT_EQ(codec<std::string>::decode(codec<std::string>::encode("tokens")), "tokens");
}

TEST(Codec, VectorRoundTripsAndRejectsPartialElements) {
  std::vector<float> v{1.0f, 2.5f, -3.0f};
  EXPECT_EQ(codec<std::vector<float>>::decode(codec<std::vector<float>>::encode(v)), v);
  EXPECT_TRUE(codec<std::vector<float>>::decode(blob()).empty());
  EXPECT_THROW(codec<std::vector<float>>::decode(blob::copy_of(std::string_view("12345"))),
               codec_error);
}

}  // namespace
}  // namespace larder
