#include "larder/io/file_io.hpp"

#include <utility>

#include "larder/io/ring.hpp"

namespace larder::io {

asio::awaitable<io_result> ring_file_io::read_at(int fd, std::shared_ptr<aligned_buffer> buffer,
                                                 std::size_t buffer_offset, std::size_t length,
                                                 std::uint64_t file_offset) {
  return ring_.read_at(fd, std::move(buffer), buffer_offset, length, file_offset);
}

asio::awaitable<io_result> ring_file_io::write_at(int fd, std::shared_ptr<aligned_buffer> buffer,
                                                  std::size_t buffer_offset, std::size_t length,
                                                  std::uint64_t file_offset) {
  return ring_.write_at(fd, std::move(buffer), buffer_offset, length, file_offset);
}

asio::awaitable<io_result> ring_file_io::fsync(int fd, bool data_only) {
  return ring_.fsync(fd, data_only);
}

std::shared_ptr<aligned_buffer> ring_file_io::registered_buffer(std::size_t size) {
  return ring_.acquire_registered_buffer(size);
}

}  // namespace larder::io
