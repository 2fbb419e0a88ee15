// file_io: the narrow interface through which the disk tier does all of its data I/O.
//
// Everything the disk tier reads or writes passes through one of these, so a test can wrap it
// (fault_injecting_file_io) and make the disk fail without touching the code under test.
// Contract of every implementation: never blocks the calling thread; resumes the awaiting
// coroutine through its own executor; reports I/O errors in io_result rather than throwing; holds
// a reference to the buffer until the kernel has finished with it, even if the awaiting coroutine
// is cancelled or destroyed. Short transfers are reported as they happen, not retried.
//
// ring_file_io forwards to a larder::io::ring, which it does not own: the ring must outlive it.
// Thread safety: ring_file_io may be used from any thread concurrently, like its ring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include <larder/io/aligned_buffer.hpp>
#include <larder/io/io_result.hpp>
#include <larder/runtime/asio.hpp>

namespace larder::io {

class ring;

class file_io {
 public:
  virtual ~file_io() = default;

  // Same meaning as ring::read_at / write_at / fsync. fsync has no default argument: defaults on
  // virtual functions bind to the static type, which would let a wrapper silently differ.
  virtual asio::awaitable<io_result> read_at(int fd, std::shared_ptr<aligned_buffer> buffer,
                                             std::size_t buffer_offset, std::size_t length,
                                             std::uint64_t file_offset) = 0;
  virtual asio::awaitable<io_result> write_at(int fd, std::shared_ptr<aligned_buffer> buffer,
                                              std::size_t buffer_offset, std::size_t length,
                                              std::uint64_t file_offset) = 0;
  virtual asio::awaitable<io_result> fsync(int fd, bool data_only) = 0;

  // A buffer for a read of `size` bytes that the kernel can fill without pinning its pages per
  // read (ring::acquire_registered_buffer), or null when there is none to give: the caller then
  // allocates an ordinary one. Such a buffer is aligned for O_DIRECT and should be let go soon,
  // since the pool behind it is small.
  virtual std::shared_ptr<aligned_buffer> registered_buffer(std::size_t /*size*/) {
    return nullptr;
  }
};

class ring_file_io final : public file_io {
 public:
  explicit ring_file_io(ring& r) noexcept : ring_(r) {}

  asio::awaitable<io_result> read_at(int fd, std::shared_ptr<aligned_buffer> buffer,
                                     std::size_t buffer_offset, std::size_t length,
                                     std::uint64_t file_offset) override;
  asio::awaitable<io_result> write_at(int fd, std::shared_ptr<aligned_buffer> buffer,
                                      std::size_t buffer_offset, std::size_t length,
                                      std::uint64_t file_offset) override;
  asio::awaitable<io_result> fsync(int fd, bool data_only) override;
  std::shared_ptr<aligned_buffer> registered_buffer(std::size_t size) override;

 private:
  ring& ring_;
};

}  // namespace larder::io
