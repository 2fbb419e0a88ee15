#include "larder/io/ring.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <future>
#include <linux/magic.h>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <sys/vfs.h>
#include <system_error>
#include <unistd.h>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "io_test_support.hpp"
#include "larder/io/file.hpp"
#include "larder/runtime/runtime.hpp"

namespace larder::io {
namespace {

using namespace std::chrono_literals;
using testing::make_buffer;
using testing::random_buffer;
using testing::run_task;
using testing::run_until;
using testing::same_bytes;

constexpr std::size_t block = 4096;

// A ring on a single-threaded io_context and a fresh O_DIRECT file under /tmp. One thread makes
// the order of events in a test deterministic: nothing runs unless the test runs the context.
class RingTest : public ::testing::Test {
 protected:
  file open_data_file(const char* name = "data") {
    return file::open(dir_.path() / name, {.write = true, .create = true});
  }

  // Writes `size` random bytes at offset 0 through the ring and returns them.
  std::shared_ptr<aligned_buffer> fill(const file& f, std::size_t size, std::uint64_t seed) {
    auto data = random_buffer(size, seed);
    auto written = run_task(ctx_, ring_.write_at(f.fd(), data, 0, size, 0));
    EXPECT_TRUE(written && written->ok() && written->bytes == size);
    return data;
  }

  testing::scratch_directory dir_;
  asio::io_context ctx_;
  ring ring_{ctx_.get_executor()};
};

TEST_F(RingTest, WriteThenReadRoundTripsRandomDataWithODirect) {
  file f = open_data_file();
  struct statfs fs {};
  ASSERT_EQ(::statfs(dir_.path().c_str(), &fs), 0);
  if (fs.f_type != TMPFS_MAGIC) {
    EXPECT_TRUE(f.is_direct());
  }

  constexpr std::size_t size = 256 * 1024;
  auto data = fill(f, size, 1);

  // Read it back in two unequal parts into one buffer, the second at a buffer offset.
  auto back = make_buffer(size);
  auto first = run_task(ctx_, ring_.read_at(f.fd(), back, 0, 3 * block, 0));
  auto second = run_task(ctx_, ring_.read_at(f.fd(), back, 3 * block, size - 3 * block, 3 * block));
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(first->ok()) << first->error.message();
  EXPECT_EQ(first->bytes, 3 * block);
  EXPECT_TRUE(second->ok()) << second->error.message();
  EXPECT_EQ(second->bytes, size - 3 * block);
  EXPECT_TRUE(same_bytes(back->data(), data->data(), size));
  EXPECT_EQ(f.size(), size);
}

TEST_F(RingTest, ReadvAndWritevScatterAndGather) {
  file f = open_data_file();
  auto a = random_buffer(2 * block, 2);
  auto b = random_buffer(block, 3);
  // File bytes [block, 4 * block) become a[block..2 block) | b | a[0..block).
  auto written = run_task(
      ctx_, ring_.writev(f.fd(), {{a, block, block}, {b, 0, block}, {a, 0, block}}, block));
  ASSERT_TRUE(written);
  ASSERT_TRUE(written->ok()) << written->error.message();
  EXPECT_EQ(written->bytes, 3 * block);

  auto c = make_buffer(3 * block);
  auto d = make_buffer(block);
  // Scatter the same range back: the first two blocks into c in reverse order, the last into d.
  auto read =
      run_task(ctx_, ring_.readv(f.fd(), {{c, block, block}, {c, 0, block}, {d, 0, block}}, block));
  ASSERT_TRUE(read);
  ASSERT_TRUE(read->ok()) << read->error.message();
  EXPECT_EQ(read->bytes, 3 * block);
  EXPECT_TRUE(same_bytes(c->data() + block, a->data() + block, block));
  EXPECT_TRUE(same_bytes(c->data(), b->data(), block));
  EXPECT_TRUE(same_bytes(d->data(), a->data(), block));
}

TEST_F(RingTest, FsyncAndFdatasyncReportSuccessAndErrorsInTheResult) {
  file f = open_data_file();
  fill(f, block, 4);
  auto datasync = run_task(ctx_, ring_.fsync(f.fd()));
  auto full = run_task(ctx_, ring_.fsync(f.fd(), false));
  ASSERT_TRUE(datasync && full);
  EXPECT_TRUE(datasync->ok()) << datasync->error.message();
  EXPECT_TRUE(full->ok()) << full->error.message();

  auto bad = run_task(ctx_, ring_.fsync(-1));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->error, std::errc::bad_file_descriptor);
}

TEST_F(RingTest, ReadPastTheEndOfTheFileIsShortNotAnError) {
  file f = open_data_file();
  fill(f, block, 5);
  auto back = make_buffer(4 * block);
  auto read = run_task(ctx_, ring_.read_at(f.fd(), back, 0, 4 * block, 0));
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->ok());
  EXPECT_EQ(read->bytes, block);
}

TEST_F(RingTest, ARangeOutsideTheBufferCompletesWithInvalidArgument) {
  file f = open_data_file();
  const auto before = ring_.stats();
  auto small = make_buffer(block);
  auto past_end = run_task(ctx_, ring_.read_at(f.fd(), small, block, 1, 0));
  auto too_long = run_task(ctx_, ring_.write_at(f.fd(), small, 0, 2 * block, 0));
  auto no_buffer = run_task(ctx_, ring_.read_at(f.fd(), nullptr, 0, 0, 0));
  auto bad_slice = run_task(ctx_, ring_.readv(f.fd(), {{small, 0, block}, {small, 1, block}}, 0));
  for (const auto& r : {past_end, too_long, no_buffer, bad_slice}) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->error, std::errc::invalid_argument);
  }
  EXPECT_EQ(ring_.stats().sqes_submitted, before.sqes_submitted);  // the kernel saw none
}

// Design note 4: the completion of the only read in flight resumes its coroutine inside the
// eventfd handler that reaped it, and the read the coroutine starts next is submitted from that
// handler. A posted resumption and a posted submit task would make three handlers per read.
TEST_F(RingTest, ASequentialReadLoopResumesAndSubmitsFromTheEventfdHandler) {
  constexpr std::size_t reads = 200;
  file f = open_data_file();
  auto data = fill(f, 16 * block, 8);
  const auto before = ring_.stats();
  std::size_t wrong = 0;
  bool done = false;
  asio::co_spawn(
      ctx_,
      [&]() -> asio::awaitable<void> {
        auto buffer = make_buffer(block);
        for (std::size_t i = 0; i < reads; ++i) {
          const std::size_t n = i % 16;
          const io_result r = co_await ring_.read_at(f.fd(), buffer, 0, block, n * block);
          if (!r.ok() || !same_bytes(buffer->data(), data->data() + n * block, block)) ++wrong;
        }
      },
      [&](std::exception_ptr error) {
        EXPECT_FALSE(error);
        done = true;
      });
  std::size_t handlers = 0;
  while (!done)
    handlers += ctx_.run_one();
  EXPECT_EQ(wrong, 0u);
  const auto after = ring_.stats();
  EXPECT_EQ(after.sqes_submitted - before.sqes_submitted, reads);
  EXPECT_EQ(after.submit_calls - before.submit_calls, reads);
  // One eventfd wakeup per read, plus the few completions found by the reap after re-arming,
  // which are posted.
  EXPECT_LT(handlers, 2 * reads) << handlers << " handlers ran for " << reads << " reads";
}

// An operation that start() finishes itself is posted, never resumed on its caller's stack: a
// loop of them would otherwise nest one frame per operation until the stack overflows.
TEST_F(RingTest, ALoopOfOperationsFailingAtStartDoesNotGrowTheStack) {
  constexpr int attempts = 100000;
  file f = open_data_file();
  auto small = make_buffer(block);
  auto invalid = run_task(ctx_, [&]() -> asio::awaitable<int> {
    int n = 0;
    for (int i = 0; i < attempts; ++i) {
      const io_result r = co_await ring_.read_at(f.fd(), small, block, 1, 0);
      if (r.error == std::errc::invalid_argument) ++n;
    }
    co_return n;
  }());
  ASSERT_TRUE(invalid);
  EXPECT_EQ(*invalid, attempts);
}

// Starts `readers` reads of consecutive blocks from `readers` coroutines on a single-threaded
// context, runs them to completion and checks the bytes. Returns the ring's stats delta.
ring_stats read_concurrently(asio::io_context& ctx, ring& r, const file& f,
                             const aligned_buffer& data, std::size_t readers) {
  const auto before = r.stats();
  std::vector<std::shared_ptr<aligned_buffer>> buffers;
  std::vector<std::optional<io_result>> results(readers);
  std::size_t finished = 0;
  for (std::size_t i = 0; i < readers; ++i) {
    buffers.push_back(make_buffer(block));
    asio::co_spawn(ctx, r.read_at(f.fd(), buffers[i], 0, block, i * block),
                   [&, i](std::exception_ptr error, io_result res) {
                     EXPECT_FALSE(error);
                     results[i] = res;
                     ++finished;
                   });
  }
  EXPECT_TRUE(run_until(ctx, [&] { return finished == readers; }));
  for (std::size_t i = 0; i < readers && finished == readers; ++i) {
    EXPECT_TRUE(results[i]->ok()) << i << ": " << results[i]->error.message();
    EXPECT_EQ(results[i]->bytes, block);
    EXPECT_TRUE(same_bytes(buffers[i]->data(), data.data() + i * block, block)) << i;
  }
  const auto after = r.stats();
  return {.submit_calls = after.submit_calls - before.submit_calls,
          .sqes_submitted = after.sqes_submitted - before.sqes_submitted,
          .completions = after.completions - before.completions,
          .in_flight = after.in_flight,
          .queued = after.queued};
}

TEST_F(RingTest, ConcurrentReadsAreSubmittedInBatches) {
  constexpr std::size_t readers = 64;
  file f = open_data_file();
  auto data = fill(f, readers * block, 6);
  const ring_stats s = read_concurrently(ctx_, ring_, f, *data, readers);
  EXPECT_EQ(s.sqes_submitted, readers);
  EXPECT_LT(s.submit_calls, s.sqes_submitted)
      << s.submit_calls << " submit calls for " << s.sqes_submitted << " SQEs";
  // All 64 start before the posted submit runs: each full batch goes at once.
  EXPECT_EQ(s.submit_calls, readers / ring_options{}.max_batch);
  EXPECT_EQ(s.completions, readers);
  EXPECT_EQ(s.in_flight, 0u);
}

TEST_F(RingTest, OneSubmitCarriesEveryOperationStartedBeforeItRunsUpToMaxBatch) {
  constexpr std::size_t readers = 64;
  ring unbounded(ctx_.get_executor(), {.max_batch = 1024});
  file f = open_data_file();
  auto data = fill(f, readers * block, 7);
  const ring_stats s = read_concurrently(ctx_, unbounded, f, *data, readers);
  EXPECT_EQ(s.sqes_submitted, readers);
  EXPECT_EQ(s.submit_calls, 1u);
}

TEST_F(RingTest, AReadIntoARegisteredBufferIsAFixedReadWithTheSameBytes) {
  ASSERT_GT(ring_.stats().registered_buffers, 0u) << "the kernel refused the registration";
  file f = open_data_file();
  constexpr std::size_t size = 64 * 1024;
  auto data = fill(f, size, 7);

  auto registered = ring_.acquire_registered_buffer(size);
  ASSERT_NE(registered, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(registered->data()) % block, 0u);
  auto result = run_task(ctx_, ring_.read_at(f.fd(), registered, 0, size, 0));
  ASSERT_TRUE(result && result->ok()) << (result ? result->error.message() : "no result");
  EXPECT_EQ(result->bytes, size);
  EXPECT_TRUE(same_bytes(registered->data(), data->data(), size));
  EXPECT_EQ(ring_.stats().fixed_reads, 1u);

  // An ordinary buffer is an ordinary read.
  auto plain = make_buffer(size);
  result = run_task(ctx_, ring_.read_at(f.fd(), plain, 0, size, 0));
  ASSERT_TRUE(result && result->ok());
  EXPECT_TRUE(same_bytes(plain->data(), data->data(), size));
  EXPECT_EQ(ring_.stats().fixed_reads, 1u);
}

TEST_F(RingTest, RegisteredBuffersRunOutAndComeBackWhenTheirLastReferenceGoes) {
  const unsigned count = static_cast<unsigned>(ring_.stats().registered_buffers);
  ASSERT_EQ(count, ring_options{}.registered_buffers);
  EXPECT_EQ(ring_.acquire_registered_buffer(ring_options{}.registered_buffer_size + 1), nullptr)
      << "a read larger than a pool buffer got one";
  std::vector<std::shared_ptr<aligned_buffer>> taken;
  for (unsigned i = 0; i < count; ++i) {
    taken.push_back(ring_.acquire_registered_buffer(block));
    ASSERT_NE(taken.back(), nullptr) << i;
  }
  EXPECT_EQ(ring_.acquire_registered_buffer(block), nullptr)
      << "the pool handed out more than it has";
  for (std::size_t i = 1; i < taken.size(); ++i)
    EXPECT_NE(taken[i]->data(), taken[i - 1]->data());

  const std::byte* returned = taken.back()->data();
  auto copy = taken.back();
  taken.pop_back();
  EXPECT_EQ(ring_.acquire_registered_buffer(block), nullptr)
      << "a buffer still referenced came back";
  copy.reset();
  auto again = ring_.acquire_registered_buffer(block);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->data(), returned);
}

TEST_F(RingTest, EachRegisteredBufferLiesInOneHugePage) {
  // So that with transparent huge pages a read into one is a single physically contiguous
  // segment for the device (ring.hpp, design note 8).
  constexpr std::uintptr_t huge_page = huge_page_size;
  std::vector<std::shared_ptr<aligned_buffer>> taken;
  while (auto b = ring_.acquire_registered_buffer(block))
    taken.push_back(std::move(b));
  ASSERT_EQ(taken.size(), ring_options{}.registered_buffers);
  for (const auto& b : taken) {
    const auto first = reinterpret_cast<std::uintptr_t>(b->data());
    const std::uintptr_t last = first + b->size() - 1;
    EXPECT_EQ(first / huge_page, last / huge_page) << "a buffer crosses a 2 MiB boundary";
  }
}

TEST(RingRegisteredBuffers, ABufferReadIntoStaysOutOfThePoolUntilTheReadsCqeEvenIfTheReaderIsGone) {
  asio::io_context ctx;
  ring r(ctx.get_executor(), {.registered_buffers = 1});
  testing::test_pipe pipe;
  asio::cancellation_signal signal;
  std::optional<io_result> result;
  {
    auto buffer = r.acquire_registered_buffer(block);
    ASSERT_NE(buffer, nullptr);
    asio::co_spawn(ctx, r.read_at(pipe.read_fd, std::move(buffer), 0, block, 0),
                   asio::bind_cancellation_slot(
                       signal.slot(), [&](std::exception_ptr, io_result res) { result = res; }));
  }
  ASSERT_TRUE(run_until(ctx, [&] { return r.stats().sqes_submitted == 1; }));
  EXPECT_EQ(r.acquire_registered_buffer(block), nullptr) << "handed out while the kernel may write";
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until(ctx, [&] { return result.has_value(); }));
  EXPECT_NE(r.acquire_registered_buffer(block), nullptr) << "not returned after the CQE";
}

TEST(RingRegisteredBuffers, ARingWithoutThePoolHandsOutNone) {
  asio::io_context ctx;
  ring r(ctx.get_executor(), {.registered_buffers = 0});
  EXPECT_EQ(r.stats().registered_buffers, 0u);
  EXPECT_EQ(r.acquire_registered_buffer(block), nullptr);
}

TEST(RingRegisteredBuffers, ABufferMayOutliveItsRing) {
  std::shared_ptr<aligned_buffer> kept;
  {
    asio::io_context ctx;
    ring r(ctx.get_executor());
    kept = r.acquire_registered_buffer(block);
    ASSERT_NE(kept, nullptr);
  }
  std::memset(kept->data(), 0x5a, kept->size());  // still ordinary memory (ASan checks it)
  EXPECT_EQ(kept->data()[kept->size() - 1], std::byte{0x5a});
  kept.reset();
}

TEST(RingCapacity, OperationsBeyondTheRingsCapacityWaitInOrderAndComplete) {
  asio::io_context ctx;
  ring r(ctx.get_executor(), {.entries = 2});  // room for two operations
  testing::test_pipe pipes[3];
  std::vector<std::optional<io_result>> results(3);
  std::vector<std::shared_ptr<aligned_buffer>> buffers;
  for (int i = 0; i < 3; ++i) {
    buffers.push_back(make_buffer(block));
    asio::co_spawn(ctx, r.read_at(pipes[i].read_fd, buffers[i], 0, block, 0),
                   [&, i](std::exception_ptr, io_result res) { results[i] = res; });
  }
  ASSERT_TRUE(run_until(ctx, [&] { return r.stats().sqes_submitted == 2; }));
  EXPECT_EQ(r.stats().in_flight, 2u);
  EXPECT_EQ(r.stats().max_in_flight, 2u);  // the queue depth reached
  EXPECT_EQ(r.stats().queued, 1u);

  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(::write(pipes[i].write_fd, "abc", 3), 3);
  ASSERT_TRUE(run_until(ctx, [&] { return results[0] && results[1] && results[2]; }));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(results[i]->ok()) << i;
    EXPECT_EQ(results[i]->bytes, 3u) << i;
    EXPECT_EQ(std::memcmp(buffers[i]->data(), "abc", 3), 0) << i;
  }
  EXPECT_EQ(r.stats().queued, 0u);
}

TEST(RingOnRuntime, CompletionsResumeOnTheCallersStrand) {
  runtime rt({.threads = 2});
  ring r(rt.executor());
  testing::scratch_directory dir;
  file f = file::open(dir.path() / "data", {.write = true, .create = true});
  auto data = random_buffer(16 * block, 7);
  ASSERT_EQ(::pwrite(f.fd(), data->data(), 16 * block, 0), static_cast<ssize_t>(16 * block));

  std::atomic<int> off_strand{0};
  std::atomic<int> wrong{0};
  std::vector<std::future<void>> tasks;
  for (int s = 0; s < 8; ++s) {
    auto strand = asio::make_strand(rt.executor());
    tasks.push_back(asio::co_spawn(
        strand,
        [&, strand, s]() -> asio::awaitable<void> {
          auto buffer = make_buffer(block);
          for (std::size_t i = 0; i < 50; ++i) {
            const std::size_t n = (i + s) % 16;
            const io_result res = co_await r.read_at(f.fd(), buffer, 0, block, n * block);
            if (!strand.running_in_this_thread()) ++off_strand;
            if (!res.ok() || !same_bytes(buffer->data(), data->data() + n * block, block)) ++wrong;
          }
        },
        asio::use_future));
  }
  for (auto& t : tasks) {
    ASSERT_EQ(t.wait_for(60s), std::future_status::ready);
    t.get();
  }
  EXPECT_EQ(off_strand.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
}

// Design note 4: a coroutine resumed inside the eventfd handler may run long before it suspends.
// The handler re-arms the eventfd wait first, so reads of other threads still complete meanwhile.
TEST(RingOnRuntime, ACoroutineResumedInTheEventfdHandlerDoesNotHoldUpOtherCompletions) {
  runtime rt({.threads = 2});
  ring r(rt.executor());
  testing::scratch_directory dir;
  file f = file::open(dir.path() / "data", {.write = true, .create = true});
  auto data = random_buffer(2 * block, 9);
  ASSERT_EQ(::pwrite(f.fd(), data->data(), 2 * block, 0), static_cast<ssize_t>(2 * block));

  std::promise<void> first_read;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto long_task = asio::co_spawn(
      rt.executor(),
      [&]() -> asio::awaitable<bool> {
        auto buffer = make_buffer(block);
        const io_result res = co_await r.read_at(f.fd(), buffer, 0, block, 0);
        first_read.set_value();
        // Busy with the read's bytes, without suspending, until the test says so.
        released.wait_for(30s);
        co_return res.ok() && same_bytes(buffer->data(), data->data(), block);
      },
      asio::use_future);
  ASSERT_EQ(first_read.get_future().wait_for(30s), std::future_status::ready);
  auto other = asio::co_spawn(
      rt.executor(),
      [&]() -> asio::awaitable<bool> {
        auto buffer = make_buffer(block);
        const io_result res = co_await r.read_at(f.fd(), buffer, 0, block, block);
        co_return res.ok() && same_bytes(buffer->data(), data->data() + block, block);
      },
      asio::use_future);
  const auto other_status = other.wait_for(10s);
  release.set_value();
  ASSERT_EQ(other_status, std::future_status::ready)
      << "the second read waited for the coroutine the eventfd handler was running";
  EXPECT_TRUE(other.get());
  EXPECT_TRUE(long_task.get());
}

// Cancellations race with data arriving, on two threads: a pipe read may end with its byte or
// with ECANCELED (or never start, if cancelled before it was initiated), but exactly once.
TEST(RingOnRuntime, CancellationsRacingCompletionsEndEveryReadExactlyOnce) {
  runtime rt({.threads = 2});
  ring r(rt.executor(), {.entries = 8});

  constexpr int tasks = 8;
  constexpr int rounds = 200;
  std::atomic<int> completed{0};
  std::atomic<int> cancelled{0};
  std::atomic<int> wrong{0};
  std::vector<std::future<void>> futures;
  for (int t = 0; t < tasks; ++t) {
    auto strand = asio::make_strand(rt.executor());
    futures.push_back(asio::co_spawn(
        strand,
        [&, strand]() -> asio::awaitable<void> {
          for (int i = 0; i < rounds; ++i) {
            testing::test_pipe pipe;
            auto buffer = make_buffer(block);
            asio::cancellation_signal signal;
            int endings = 0;
            std::exception_ptr error;
            io_result result;
            asio::co_spawn(strand, r.read_at(pipe.read_fd, buffer, 0, block, 0),
                           asio::bind_cancellation_slot(signal.slot(),
                                                        [&](std::exception_ptr e, io_result res) {
                                                          ++endings;
                                                          error = e;
                                                          result = res;
                                                        }));
            for (int k = 0; k < i % 4; ++k)
              co_await asio::post(strand, asio::use_awaitable);
            if (i % 2 == 0 && ::write(pipe.write_fd, "x", 1) != 1) ++wrong;
            signal.emit(asio::cancellation_type::terminal);
            if (i % 2 == 1 && ::write(pipe.write_fd, "x", 1) != 1) ++wrong;
            for (int k = 0; k < 1000000 && endings == 0; ++k)
              co_await asio::post(strand, asio::use_awaitable);
            if (endings != 1) {
              ++wrong;
            } else if (error != nullptr || result.error == std::errc::operation_canceled) {
              ++cancelled;  // an exception: cancelled before the read was initiated
            } else if (result.ok() && result.bytes == 1 && buffer->data()[0] == std::byte{'x'}) {
              ++completed;
            } else {
              ++wrong;
            }
          }
        },
        asio::use_future));
  }
  for (auto& fut : futures) {
    ASSERT_EQ(fut.wait_for(120s), std::future_status::ready);
    fut.get();
  }
  RecordProperty("completed", completed.load());
  RecordProperty("cancelled", cancelled.load());
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(completed.load() + cancelled.load(), tasks * rounds);
  EXPECT_EQ(r.stats().in_flight, 0u);
  EXPECT_EQ(r.stats().queued, 0u);
}

TEST(RingCancellation, CancellingAReadInFlightAbortsItAndTheRingHoldsTheBufferUntilItsCqe) {
  asio::io_context ctx;
  ring r(ctx.get_executor());
  testing::test_pipe pipe;
  auto buffer = make_buffer(block);
  const std::weak_ptr<aligned_buffer> watch = buffer;
  asio::cancellation_signal signal;
  std::optional<io_result> result;
  asio::co_spawn(
      ctx, r.read_at(pipe.read_fd, std::move(buffer), 0, block, 0),
      asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr error, io_result res) {
        EXPECT_FALSE(error);
        result = res;
      }));
  ASSERT_TRUE(run_until(ctx, [&] { return r.stats().sqes_submitted == 1; }));
  ctx.poll();
  EXPECT_FALSE(result) << "a read of an empty pipe completed";
  EXPECT_EQ(r.stats().in_flight, 1u);
  EXPECT_FALSE(watch.expired()) << "nobody but the ring owns the buffer now";

  // The context is not running: emitting here is emitting on the coroutine's executor.
  signal.emit(asio::cancellation_type::terminal);
  EXPECT_FALSE(watch.expired()) << "the buffer was released before the kernel let go of it";
  ASSERT_TRUE(run_until(ctx, [&] { return result.has_value(); }));
  EXPECT_EQ(result->error, std::errc::operation_canceled);
  EXPECT_EQ(result->bytes, 0u);
  EXPECT_TRUE(watch.expired()) << "the ring kept the buffer after completion";
  EXPECT_EQ(r.stats().in_flight, 0u);

  // Data written now reaches nobody: the read is gone from the kernel.
  ASSERT_EQ(::write(pipe.write_fd, "late", 4), 4);
  ctx.poll();
}

TEST(RingCancellation, CancellingAQueuedOperationCompletesItWithoutTheKernel) {
  asio::io_context ctx;
  ring r(ctx.get_executor(), {.entries = 2});
  testing::test_pipe pipes[3];
  asio::cancellation_signal signal;
  std::vector<std::optional<io_result>> results(3);
  for (int i = 0; i < 3; ++i) {
    auto handler = [&, i](std::exception_ptr, io_result res) { results[i] = res; };
    auto read = r.read_at(pipes[i].read_fd, make_buffer(block), 0, block, 0);
    if (i == 2) {
      asio::co_spawn(ctx, std::move(read), asio::bind_cancellation_slot(signal.slot(), handler));
    } else {
      asio::co_spawn(ctx, std::move(read), handler);
    }
  }
  ASSERT_TRUE(
      run_until(ctx, [&] { return r.stats().queued == 1 && r.stats().sqes_submitted == 2; }));
  const auto before = r.stats();
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(run_until(ctx, [&] { return results[2].has_value(); }));
  EXPECT_EQ(results[2]->error, std::errc::operation_canceled);
  EXPECT_EQ(r.stats().sqes_submitted, before.sqes_submitted);
  EXPECT_EQ(r.stats().queued, 0u);
  EXPECT_FALSE(results[0] || results[1]);
}

TEST(RingShutdown, DestroyingTheRingWithAReadInFlightCancelsItAndLeavesNothingBehind) {
  asio::io_context ctx;
  auto r = std::make_unique<ring>(ctx.get_executor());
  testing::test_pipe pipe;
  auto buffer = make_buffer(block);
  const std::weak_ptr<aligned_buffer> watch = buffer;
  std::optional<io_result> result;
  asio::co_spawn(ctx, r->read_at(pipe.read_fd, std::move(buffer), 0, block, 0),
                 [&](std::exception_ptr, io_result res) { result = res; });
  ASSERT_TRUE(run_until(ctx, [&] { return r->stats().sqes_submitted == 1; }));
  ctx.poll();
  ASSERT_FALSE(result);

  r.reset();  // returns only once the kernel has answered the read
  EXPECT_TRUE(watch.expired());
  EXPECT_FALSE(result) << "the completion ran inline in the destructor";
  ASSERT_EQ(::write(pipe.write_fd, "late", 4), 4);  // would land in the buffer if still queued

  ASSERT_TRUE(run_until(ctx, [&] { return result.has_value(); }));
  EXPECT_EQ(result->error, std::errc::operation_canceled);
  // The ring's own waits end too: the context runs out of work.
  for (int i = 0; i < 1000 && !ctx.stopped(); ++i)
    ctx.run_for(10ms);
  EXPECT_TRUE(ctx.stopped());
}

TEST(RingShutdown, DestroyingTheRingWaitsForFileReadsInFlight) {
  testing::scratch_directory dir;
  file f = file::open(dir.path() / "data", {.write = true, .create = true});
  auto data = random_buffer(64 * block, 8);
  ASSERT_EQ(::pwrite(f.fd(), data->data(), 64 * block, 0), static_cast<ssize_t>(64 * block));

  asio::io_context ctx;
  auto r = std::make_unique<ring>(ctx.get_executor());
  std::vector<std::shared_ptr<aligned_buffer>> buffers;
  std::vector<std::optional<io_result>> results(64);
  for (std::size_t i = 0; i < 64; ++i) {
    buffers.push_back(make_buffer(block));
    asio::co_spawn(ctx, r->read_at(f.fd(), buffers[i], 0, block, i * block),
                   [&, i](std::exception_ptr, io_result res) { results[i] = res; });
  }
  ASSERT_TRUE(run_until(ctx, [&] { return r->stats().sqes_submitted == 64; }));
  r.reset();
  ASSERT_TRUE(run_until(ctx, [&] {
    for (const auto& res : results)
      if (!res) return false;
    return true;
  }));
  for (std::size_t i = 0; i < 64; ++i) {
    if (results[i]->ok()) {
      EXPECT_EQ(results[i]->bytes, block);
      EXPECT_TRUE(same_bytes(buffers[i]->data(), data->data() + i * block, block)) << i;
    } else {
      EXPECT_EQ(results[i]->error, std::errc::operation_canceled) << i;
    }
  }
}

TEST(RingConstruction, AFailingIoUringSetupThrowsNamingTheCall) {
  asio::io_context ctx;
  try {
    ring r(ctx.get_executor(), {.entries = 0});
    FAIL() << "a ring with 0 entries was created";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("io_uring_queue_init(0 entries)"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace larder::io
