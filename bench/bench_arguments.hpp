// Command-line helpers shared by the benchmark programs that do not use Google Benchmark.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace larder::bench {

// The number after option argv[i] (advancing i to it); exits 2 with a message if it is missing.
inline std::uint64_t number_after(int& i, int argc, char** argv) {
  if (i + 1 >= argc) {
    std::fprintf(stderr, "%s needs a value\n", argv[i]);
    std::exit(2);
  }
  return std::strtoull(argv[++i], nullptr, 10);
}

}  // namespace larder::bench
