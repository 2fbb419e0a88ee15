#include <gtest/gtest.h>

#include <larder/cache/replay/trace_reader.hpp>
#include <larder/cache/replay/working_set.hpp>

#include "scratch_directory.hpp"

namespace larder {
namespace {

// Each object counts once, at the size it was first seen with; requests of size 0 are skipped,
// as a replay skips them.
TEST(WorkingSet, SumsTheFirstSeenSizeOfEachDistinctObject) {
  testing::scratch_directory scratch;
  const auto file = scratch.write("t.csv", "1,a,100\n2,b,250\n3,a,120\n4,c,0\n5,b,250\n6,d,7\n");
  const auto source = open_trace(file, trace_format::csv);
  std::uint64_t reports = 0;
  const working_set w =
      measure_working_set(*source, [&](std::uint64_t position, std::uint64_t length) {
        ++reports;
        EXPECT_EQ(position, length);
      });
  EXPECT_EQ(w, (working_set{.requests = 5, .objects = 3, .bytes = 357, .largest_object = 250}));
  EXPECT_EQ(reports, 1u) << "a short trace reports its end only";
}

}  // namespace
}  // namespace larder
