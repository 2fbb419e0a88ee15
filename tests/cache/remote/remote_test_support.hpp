// Helpers shared by the remote tier's tests: values as bytes and text, and checks that a
// connection (plain or TLS) is binary safe and pipelines requests from two threads without mixing
// up their replies.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <larder/cache/blob.hpp>
#include <larder/runtime/runtime.hpp>

#include "larder/cache/remote/redis_connection.hpp"
#include "waiting.hpp"

namespace larder::testing {

inline std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

inline std::string text_of(const blob& b) {
  return std::string(b.view());
}

// Sets and gets back values with NUL bytes and CR LF in them, and a 1 MiB value under a key with
// NUL bytes in it: binary safety of the protocol both ways.
inline void expect_binary_round_trips(runtime& rt, redis_connection& c) {
  const std::string zeros("\0a\0b\0\0\r\n", 9);
  std::string large(1 << 20, '\0');
  for (std::size_t i = 0; i < large.size(); ++i)
    large[i] = static_cast<char>(i * 131 % 251);

  rt.run(c.set("zeros", bytes_of(zeros)));
  rt.run(c.set(std::string("key\0with\0nul", 12), bytes_of(large)));

  const std::optional<blob> small = rt.run(c.get("zeros"));
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(text_of(*small), zeros);
  const std::optional<blob> big = rt.run(c.get(std::string("key\0with\0nul", 12)));
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(text_of(*big), large);
}

// Stores value_of(k) under "key<k>" for 100 keys, then gets them 500 times from each of two
// threads at once over `c`: every reply must be the value of the key its request asked for.
inline void expect_pipelined_gets_from_two_threads(
    runtime& rt, redis_connection& c, const std::function<std::string(int)>& value_of) {
  constexpr int keys = 100;
  for (int k = 0; k < keys; ++k)
    rt.run(c.set("key" + std::to_string(k), bytes_of(value_of(k))));
  constexpr int per_thread = 500;
  std::atomic<int> correct{0};
  std::atomic<int> wrong{0};
  auto issue = [&](int first) {
    for (int i = first; i < first + per_thread; ++i) {
      rt.spawn([&, i]() -> asio::awaitable<void> {
        const int k = i % keys;
        try {
          const std::optional<blob> v = co_await c.get("key" + std::to_string(k));
          (v && text_of(*v) == value_of(k) ? correct : wrong)++;
        } catch (const std::exception&) {
          wrong++;
        }
      });
    }
  };
  std::thread a(issue, 0);
  std::thread b(issue, per_thread);
  a.join();
  b.join();
  ASSERT_TRUE(eventually([&] { return correct + wrong == 2 * per_thread; }));
  EXPECT_EQ(correct, 2 * per_thread);
  EXPECT_EQ(wrong, 0);
}

}  // namespace larder::testing
