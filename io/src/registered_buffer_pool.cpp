#include "registered_buffer_pool.hpp"

#include <functional>

namespace larder::io::detail {

registered_buffer_pool::registered_buffer_pool(unsigned count, std::size_t size) : size_(size) {
  buffers_.reserve(count);
  free_.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    buffers_.emplace_back(size, alignment);
    // Handed out from the back: buffer 0 first.
    free_.push_back(count - 1 - i);
  }
}

std::vector<iovec> registered_buffer_pool::iovecs() const {
  std::vector<iovec> out;
  out.reserve(buffers_.size());
  for (const auto& b : buffers_)
    out.push_back({const_cast<std::byte*>(b.data()), b.size()});
  return out;
}

int registered_buffer_pool::index_of(const aligned_buffer* b) const noexcept {
  if (buffers_.empty()) return -1;
  // std::less orders pointers into different objects too.
  const std::less<const aligned_buffer*> before;
  const aligned_buffer* first = buffers_.data();
  const aligned_buffer* end = first + buffers_.size();
  if (before(b, first) || !before(b, end)) return -1;
  return static_cast<int>(b - first);
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
