#include <algorithm>
#include <cerrno>
#include <span>
#include <sys/mman.h>
#include <system_error>

#include <larder/cache/replay/unbacked_values.hpp>

namespace larder {
namespace {

// The first reservation: a whole number of huge pages, and larger than most objects of most
// traces, so that it rarely has to grow. Address space only.
constexpr std::size_t first_reservation_bytes = 64 << 20;

}  // namespace

blob unbacked_values::of_size(std::size_t size) {
  if (size > reserved_bytes_) {
    const std::size_t bytes = std::max({size, 2 * reserved_bytes_, first_reservation_bytes});
    void* base =
        ::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
      throw std::system_error(errno, std::generic_category(),
                              "cannot reserve address space for replayed values");
    }
    reservation_ = std::shared_ptr<const void>(
        base, [bytes](const void* p) { ::munmap(const_cast<void*>(p), bytes); });
    reserved_bytes_ = bytes;
  }
  return blob::adopt(std::span(static_cast<const std::byte*>(reservation_.get()), size),
                     reservation_);
}

}  // namespace larder
