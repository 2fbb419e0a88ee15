// Helpers shared by the io tests: buffers of random bytes, pipes, and bounded ways to drive an
// io_context until something has happened. Scratch directories come from tests/support.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include <larder/io/aligned_buffer.hpp>
#include <larder/runtime/asio.hpp>

#include "scratch_directory.hpp"

namespace larder::io::testing {

using namespace std::chrono_literals;

using larder::testing::scratch_directory;

// A pipe whose read end has no data: a read on it stays in flight until a write or a cancel.
struct test_pipe {
  test_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2 failed";
    read_fd = fds[0];
    write_fd = fds[1];
  }
  test_pipe(const test_pipe&) = delete;
  test_pipe& operator=(const test_pipe&) = delete;
  ~test_pipe() {
    ::close(read_fd);
    ::close(write_fd);
  }

  int read_fd = -1;
  int write_fd = -1;
};

// 4096: the alignment O_DIRECT needs on every device the tests run on.
inline std::shared_ptr<aligned_buffer> make_buffer(std::size_t size) {
  return std::make_shared<aligned_buffer>(size, 4096);
}

inline std::shared_ptr<aligned_buffer> random_buffer(std::size_t size, std::uint64_t seed) {
  auto buffer = make_buffer(size);
  std::mt19937_64 random(seed);
  for (std::size_t i = 0; i < size; ++i)
    buffer->data()[i] = static_cast<std::byte>(random());
  return buffer;
}

inline bool same_bytes(const std::byte* a, const std::byte* b, std::size_t n) {
  return std::memcmp(a, b, n) == 0;
}

// Reads a whole file with the C library, bypassing larder.
inline std::vector<std::byte> read_file(const std::filesystem::path& path) {
  std::vector<std::byte> bytes;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return bytes;
  std::byte chunk[65536];
  ssize_t n = 0;
  while ((n = ::read(fd, chunk, sizeof chunk)) > 0)
    bytes.insert(bytes.end(), chunk, chunk + n);
  ::close(fd);
  return bytes;
}

// Runs `ctx` until `done()` holds or `limit` passes; returns done(). Restarts the context when it
// runs out of work, so that work added later by another thread is still run.
template <typename Done>
bool run_until(asio::io_context& ctx, Done done, std::chrono::milliseconds limit = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    ctx.run_one_for(10ms);
    if (ctx.stopped()) ctx.restart();
  }
  return done();
}

// Spawns `task` on `ctx` and runs the context until it finishes (or 20 s pass: nullopt).
template <typename T>
std::optional<T> run_task(asio::io_context& ctx, asio::awaitable<T> task) {
  struct outcome {
    bool done = false;
    std::exception_ptr error;
    std::optional<T> value;
  };
  auto out = std::make_shared<outcome>();
  asio::co_spawn(ctx, std::move(task), [out](std::exception_ptr error, T value) {
    out->done = true;
    out->error = error;
    if (!error) out->value = std::move(value);
  });
  if (!run_until(ctx, [&] { return out->done; })) return std::nullopt;
  if (out->error) std::rethrow_exception(out->error);
  return std::move(out->value);
}

}  // namespace larder::io::testing
