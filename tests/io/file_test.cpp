#include "larder/io/file.hpp"

#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include "io_test_support.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/log.hpp"

namespace larder::io {
namespace {

using testing::make_buffer;
using testing::random_buffer;
using testing::run_task;
using testing::same_bytes;

// Captures what larder logs while it exists.
class log_capture {
 public:
  log_capture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(text_)) {
    log().sinks().push_back(sink_);
  }
  ~log_capture() { std::erase(log().sinks(), sink_); }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;

  std::size_t count(const std::string& needle) const {
    const std::string all = text_.str();
    std::size_t n = 0;
    for (auto at = all.find(needle); at != std::string::npos; at = all.find(needle, at + 1))
      ++n;
    return n;
  }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

// In the working directory (the build tree, on the project's disk): a filesystem that takes
// O_DIRECT, as every disk filesystem and, since Linux 6.6, tmpfs do.
TEST(File, OpensWithODirectOnADiskFilesystem) {
  testing::scratch_directory dir(std::filesystem::current_path());
  file f = file::open(dir.path() / "data", {.write = true, .create = true});
  EXPECT_TRUE(f.is_open());
  EXPECT_TRUE(f.is_direct());
  const std::size_t alignment = f.required_alignment();
  EXPECT_GE(alignment, 512u);
  EXPECT_EQ(alignment & (alignment - 1), 0u) << alignment;
  EXPECT_EQ(f.path(), dir.path() / "data");
}

// procfs refuses O_DIRECT on every kernel (tmpfs accepts it since Linux 6.6, so /dev/shm no
// longer exercises the fallback everywhere).
TEST(File, FallsBackToBufferedIoWhereODirectIsRefusedAndWarnsOnce) {
  log_capture logs;
  file a = file::open("/proc/version");
  file b = file::open("/proc/self/status");
  EXPECT_FALSE(a.is_direct());
  EXPECT_FALSE(b.is_direct());
  EXPECT_EQ(a.required_alignment(), 1u);
  EXPECT_LE(logs.count("does not support O_DIRECT"), 1u);

  // Buffered data still reads through the ring.
  asio::io_context ctx;
  ring r(ctx.get_executor());
  auto buffer = make_buffer(4096);
  auto read = run_task(ctx, r.read_at(a.fd(), buffer, 0, 4096, 0));
  ASSERT_TRUE(read);
  ASSERT_TRUE(read->ok()) << read->error.message();
  const auto expected = testing::read_file("/proc/version");
  ASSERT_EQ(read->bytes, expected.size());
  EXPECT_TRUE(same_bytes(buffer->data(), expected.data(), expected.size()));
}

// /dev/shm is tmpfs on Debian: buffered before Linux 6.6, O_DIRECT since. Either way the bytes
// must round-trip.
TEST(File, DataRoundTripsOnTmpfsWhicheverModeItAllows) {
  testing::scratch_directory dir("/dev/shm");
  file f = file::open(dir.path() / "data", {.write = true, .create = true});
  if (!f.is_direct()) {
    EXPECT_EQ(f.required_alignment(), 1u);
  }

  asio::io_context ctx;
  ring r(ctx.get_executor());
  auto data = random_buffer(8192, 11);
  auto written = run_task(ctx, r.write_at(f.fd(), data, 0, 8192, 4096));
  auto back = make_buffer(8192);
  auto read = run_task(ctx, r.read_at(f.fd(), back, 0, 8192, 4096));
  ASSERT_TRUE(written && read);
  ASSERT_TRUE(written->ok()) << written->error.message();
  ASSERT_TRUE(read->ok()) << read->error.message();
  EXPECT_EQ(read->bytes, 8192u);
  EXPECT_TRUE(same_bytes(back->data(), data->data(), 8192));
  EXPECT_EQ(f.size(), 4096u + 8192u);
}

TEST(File, OpenErrorsNameThePath) {
  testing::scratch_directory dir;
  const auto missing = dir.path() / "no" / "such-file";
  try {
    file::open(missing);
    FAIL() << "opened a file that does not exist";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
}

TEST(File, AllocateReservesSpaceAndGrowsTheFile) {
  testing::scratch_directory dir;
  file f = file::open(dir.path() / "data", {.write = true, .create = true});
  EXPECT_EQ(f.size(), 0u);
  f.allocate(0, 1 << 20);
  EXPECT_EQ(f.size(), 1u << 20);
  f.allocate(0, 4096);  // never shrinks
  EXPECT_EQ(f.size(), 1u << 20);
}

TEST(File, AllocateFailuresNameThePath) {
  testing::scratch_directory dir;
  file f = file::open(dir.path() / "data", {.write = true, .create = true});
  try {
    f.allocate(0, std::uint64_t{1} << 62);  // far beyond any filesystem here
    FAIL() << "allocated 4 EiB";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find((dir.path() / "data").string()), std::string::npos)
        << e.what();
  }
}

TEST(File, MovingTransfersTheDescriptor) {
  testing::scratch_directory dir;
  file a = file::open(dir.path() / "data", {.write = true, .create = true});
  const int fd = a.fd();
  file b = std::move(a);
  EXPECT_EQ(b.fd(), fd);
  EXPECT_FALSE(a.is_open());
  file c;
  c = std::move(b);
  EXPECT_EQ(c.fd(), fd);
  EXPECT_FALSE(b.is_open());
}

}  // namespace
}  // namespace larder::io
