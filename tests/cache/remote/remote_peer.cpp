// remote_peer: one "training process" for the remote-tier tests. It opens a cache with a disk
// tier in DIR and the remote tier on NODES (comma-separated host:port), reads samples 0..N-1
// with get_or_load (a loader that makes each sample's bytes from its index), checks every value,
// closes the cache (waiting for its publishes) and prints what it did:
//   loads=L remote_hits=H wrong=W
// Usage: remote_peer NODES DIR N
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>
#include <string>

#include <larder/cache/cache_manager.hpp>
#include <larder/runtime/runtime.hpp>

namespace {

std::string sample_bytes(int i) {
  std::string s(4096 + i, '\0');
  for (std::size_t j = 0; j < s.size(); ++j)
    s[j] = static_cast<char>((i * 31 + j * 7) % 251);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: remote_peer NODES DIR N\n");
    return 2;
  }
  using namespace larder;
  cache_config config;
  config.memory.size_bytes = 64ull << 20;
  config.disk.path = argv[2];
  config.disk.size_bytes = 256ull << 20;
  config.remote.enabled = true;
  config.remote.nodes.clear();
  std::stringstream nodes(argv[1]);
  for (std::string node; std::getline(nodes, node, ',');)
    config.remote.nodes.push_back(node);
  config.remote.request_timeout = std::chrono::milliseconds(5000);
  const int n = std::atoi(argv[3]);
  try {
    runtime rt(runtime_options{.threads = 2});
    auto cache = rt.run(cache_manager::open(rt.executor(), config, {.region_size = 1 << 20}));
    int wrong = 0;
    for (int i = 0; i < n; ++i) {
      const std::string key = "sample/" + std::to_string(i);
      const std::string expected = sample_bytes(i);
      const blob value = rt.run(cache->get_or_load(key, [&]() -> asio::awaitable<blob> {
        co_return blob::copy_of(std::as_bytes(std::span(expected.data(), expected.size())));
      }));
      if (std::string(reinterpret_cast<const char*>(value.data()), value.size()) != expected) {
        ++wrong;
      }
    }
    rt.run(cache->close());
    const cache_metrics m = cache->metrics();
    std::printf("loads=%llu remote_hits=%llu wrong=%d\n", static_cast<unsigned long long>(m.loads),
                static_cast<unsigned long long>(m.remote ? m.remote->hits : 0), wrong);
    return wrong == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "remote_peer: %s\n", e.what());
    return 1;
  }
}
