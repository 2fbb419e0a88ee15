#include "registered_buffer_pool.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <functional>
#include <new>
#include <sys/mman.h>

namespace larder::io::detail {

namespace {

// A stride that keeps every buffer inside one huge page: a power of two up to a huge page
// divides it, and larger buffers start on huge-page boundaries. A size that is not a power of
// two costs up to twice its bytes (96 KiB buffers take 128 KiB each); the default 128 KiB does
// not.
std::size_t stride_for(std::size_t size) {
  const std::size_t pages =
      round_up(std::max<std::size_t>(size, 1), registered_buffer_pool::alignment);
  if (pages <= registered_buffer_pool::huge_page) return std::bit_ceil(pages);
  return round_up(pages, registered_buffer_pool::huge_page);
}

}  // namespace

registered_buffer_pool::registered_buffer_pool(unsigned count, std::size_t size)
    : size_(size), stride_(stride_for(size)) {
  block_size_ = round_up(stride_ * count, huge_page);
  // Mapped with a huge page to spare, then trimmed to the aligned part.
  void* mapped = ::mmap(nullptr, block_size_ + huge_page, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) throw std::bad_alloc();
  auto* start = static_cast<std::byte*>(mapped);
  const auto address = reinterpret_cast<std::uintptr_t>(start);
  block_ = start + (round_up(address, huge_page) - address);
  if (block_ != start) ::munmap(start, static_cast<std::size_t>(block_ - start));
  ::munmap(block_ + block_size_, huge_page - static_cast<std::size_t>(block_ - start));
  // Before the first touch, so that the pages faulted in (or pinned by the registration) are
  // huge ones. Failure (no THP) leaves ordinary pages.
  (void)::madvise(block_, block_size_, MADV_HUGEPAGE);

  buffers_.reserve(count);
  free_.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    buffers_.emplace_back(block_ + std::size_t{i} * stride_, size);
    // Handed out from the back: buffer 0 first.
    free_.push_back(count - 1 - i);
  }
}

registered_buffer_pool::~registered_buffer_pool() {
  buffers_.clear();
  ::munmap(block_, block_size_);
}

std::vector<iovec> registered_buffer_pool::iovecs() const {
  std::vector<iovec> out;
  out.reserve(buffers_.size());
  for (const auto& b : buffers_)
    out.push_back({const_cast<std::byte*>(b.data()), b.size()});
  return out;
}

int registered_buffer_pool::index_of(const aligned_buffer* b) const noexcept {
  if (b == nullptr || buffers_.empty()) return -1;
  // std::less orders pointers into different objects too.
  const std::less<const std::byte*> before;
  const std::byte* data = b->data();
  if (before(data, block_) || !before(data, block_ + stride_ * buffers_.size())) return -1;
  const auto index = static_cast<std::size_t>(data - block_) / stride_;
  // Another buffer viewing our memory is not ours: only our own objects are registered.
  return &buffers_[index] == b ? static_cast<int>(index) : -1;
}

std::shared_ptr<aligned_buffer> registered_buffer_pool::acquire(std::size_t size) {
  if (size > size_) return nullptr;
  unsigned index = 0;
  {
    std::lock_guard lock(mu_);
    if (free_.empty()) return nullptr;
    index = free_.back();
    free_.pop_back();
  }
  try {
    return std::shared_ptr<aligned_buffer>(
        &buffers_[index],
        [self = shared_from_this(), index](aligned_buffer*) { self->give_back(index); });
  } catch (...) {  // the control block's allocation
    give_back(index);
    throw;
  }
}

void registered_buffer_pool::give_back(unsigned index) {
  std::lock_guard lock(mu_);
  free_.push_back(index);
}

}  // namespace larder::io::detail
