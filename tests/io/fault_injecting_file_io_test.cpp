#include "larder/io/fault_injecting_file_io.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "io_test_support.hpp"
#include "larder/io/file.hpp"
#include "larder/io/ring.hpp"

namespace larder::io {
namespace {

using namespace std::chrono_literals;
using fault = fault_injecting_file_io::fault;
using op_kind = fault_injecting_file_io::op_kind;
using testing::make_buffer;
using testing::random_buffer;
using testing::run_task;
using testing::same_bytes;

constexpr std::size_t block = 4096;

// A fault injector around the real ring, on an O_DIRECT file under /tmp.
class FaultInjectionTest : public ::testing::Test {
 protected:
  io_result await(asio::awaitable<io_result> op) {
    auto result = run_task(ctx_, std::move(op));
    EXPECT_TRUE(result) << "the operation did not complete";
    return result.value_or(io_result{0, std::make_error_code(std::errc::timed_out)});
  }
  io_result write(const std::shared_ptr<aligned_buffer>& data, std::uint64_t offset = 0) {
    return await(io_.write_at(file_.fd(), data, 0, data->size(), offset));
  }
  io_result read(const std::shared_ptr<aligned_buffer>& into, std::uint64_t offset = 0) {
    return await(io_.read_at(file_.fd(), into, 0, into->size(), offset));
  }

  testing::scratch_directory dir_;
  file file_ = file::open(dir_.path() / "data", {.write = true, .create = true});
  asio::io_context ctx_;
  ring ring_{ctx_.get_executor()};
  ring_file_io real_{ring_};
  fault_injecting_file_io io_{real_};
};

TEST_F(FaultInjectionTest, OperationsNoRuleMatchesPassThrough) {
  auto data = random_buffer(2 * block, 1);
  EXPECT_EQ(write(data).bytes, 2 * block);
  auto back = make_buffer(2 * block);
  EXPECT_EQ(read(back).bytes, 2 * block);
  EXPECT_TRUE(same_bytes(back->data(), data->data(), 2 * block));
  EXPECT_TRUE(await(io_.fsync(file_.fd(), true)).ok());
  EXPECT_EQ(io_.operations(), 3u);
  EXPECT_EQ(io_.faults_injected(), 0u);
}

TEST_F(FaultInjectionTest, TheNthOperationFailsWithEio) {
  io_.inject_at(1, fault::fail(std::errc::io_error));
  auto data = random_buffer(block, 2);
  const io_result first = write(data);
  auto back = make_buffer(block);
  const io_result second = read(back);
  const io_result third = read(back);
  EXPECT_TRUE(first.ok());
  EXPECT_EQ(second.error, std::errc::io_error);
  EXPECT_EQ(second.bytes, 0u);
  EXPECT_TRUE(third.ok()) << "an inject_at rule fires once";
  EXPECT_TRUE(same_bytes(back->data(), data->data(), block));
  EXPECT_EQ(io_.faults_injected(), 1u);
}

TEST_F(FaultInjectionTest, EveryOperationAPredicateAcceptsFailsWithEnospcUntilCleared) {
  io_.inject_when([](const auto& op) { return op.kind == op_kind::write; },
                  fault::fail(std::errc::no_space_on_device));
  auto data = random_buffer(block, 3);
  EXPECT_EQ(write(data).error, std::errc::no_space_on_device);
  EXPECT_EQ(write(data, block).error, std::errc::no_space_on_device);
  EXPECT_TRUE(await(io_.fsync(file_.fd(), true)).ok());
  EXPECT_EQ(file_.size(), 0u) << "a failed write reached the file";

  io_.clear();
  EXPECT_TRUE(write(data).ok());
  EXPECT_EQ(io_.faults_injected(), 2u);
}

TEST_F(FaultInjectionTest, AShortReadReturnsOnlyThePrefix) {
  auto data = random_buffer(4 * block, 4);
  ASSERT_TRUE(write(data).ok());
  io_.inject_when([](const auto& op) { return op.kind == op_kind::read; },
                  fault::short_read(block));
  auto back = make_buffer(4 * block);
  const io_result result = read(back);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.bytes, block);
  EXPECT_TRUE(same_bytes(back->data(), data->data(), block));
}

TEST_F(FaultInjectionTest, AFaultThatDoesNotApplyToAnOperationLeavesItAlone) {
  io_.inject_at(0, fault::short_read(block));  // operation 0 is a write
  auto data = random_buffer(2 * block, 5);
  EXPECT_EQ(write(data).bytes, 2 * block);
  EXPECT_EQ(io_.faults_injected(), 0u);
}

TEST_F(FaultInjectionTest, ATornWriteLeavesExactlyThePrefixOnDiskAndReportsTheError) {
  io_.inject_at(0, fault::torn_write(block));
  auto data = random_buffer(4 * block, 6);
  const io_result result = write(data);
  EXPECT_EQ(result.error, std::errc::io_error);
  const auto on_disk = testing::read_file(file_.path());
  ASSERT_EQ(on_disk.size(), block);
  EXPECT_TRUE(same_bytes(on_disk.data(), data->data(), block));
}

TEST_F(FaultInjectionTest, ATornWriteCanClaimSuccess) {
  io_.inject_at(0, fault::torn_write(2 * block, {}));
  auto data = random_buffer(4 * block, 7);
  const io_result result = write(data);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.bytes, 4 * block);
  const auto on_disk = testing::read_file(file_.path());
  ASSERT_EQ(on_disk.size(), 2 * block);
  EXPECT_TRUE(same_bytes(on_disk.data(), data->data(), 2 * block));
}

TEST_F(FaultInjectionTest, ASlowCompletionArrivesNoSoonerThanTheDelayWithTheRealResult) {
  auto data = random_buffer(block, 8);
  ASSERT_TRUE(write(data).ok());
  io_.inject_when([](const auto&) { return true; }, fault::slow(50ms));
  auto back = make_buffer(block);
  const auto start = std::chrono::steady_clock::now();
  const io_result result = read(back);
  const auto fsync_result = await(io_.fsync(file_.fd(), true));
  // A lower bound only: a timer never fires early, however loaded the machine.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.bytes, block);
  EXPECT_TRUE(same_bytes(back->data(), data->data(), block));
  EXPECT_TRUE(fsync_result.ok());
  EXPECT_EQ(io_.faults_injected(), 2u);
}

TEST_F(FaultInjectionTest, AnInjectedErrorDoesNotCompleteInline) {
  io_.inject_at(0, fault::fail(std::errc::io_error));
  bool resumed = false;
  asio::co_spawn(
      ctx_,
      [&]() -> asio::awaitable<void> {
        auto buffer = make_buffer(block);
        co_await io_.read_at(file_.fd(), buffer, 0, block, 0);
        resumed = true;
      },
      asio::detached);
  ctx_.run_one();  // starts the coroutine; the error must wait for a later turn
  EXPECT_FALSE(resumed);
  ASSERT_TRUE(testing::run_until(ctx_, [&] { return resumed; }));
}

}  // namespace
}  // namespace larder::io
