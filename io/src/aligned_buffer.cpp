#include "larder/io/aligned_buffer.hpp"

#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sys/mman.h>

#ifndef LARDER_PLAIN_ALLOCATOR
#include <mimalloc.h>
#endif

namespace larder::io {

#ifdef LARDER_PLAIN_ALLOCATOR
// Sanitizer builds allocate with the C library so that AddressSanitizer sees every value buffer
// (it cannot see inside mimalloc's pages). The block's start is stored just below header_room.
aligned_buffer::aligned_buffer(std::size_t size, std::size_t alignment) {
  assert(alignment >= default_alignment && (alignment & (alignment - 1)) == 0);
  const std::size_t offset = round_up(header_room + sizeof(void*), alignment);
  void* block = std::aligned_alloc(alignment, round_up(offset + size, alignment));
  if (block == nullptr) throw std::bad_alloc();
  data_ = static_cast<std::byte*>(block) + offset;
  size_ = size;
  std::memcpy(data_ - header_room - sizeof(void*), &block, sizeof(void*));
}

void aligned_buffer::release_block(std::byte* data) noexcept {
  void* block = nullptr;
  std::memcpy(&block, data - header_room - sizeof(void*), sizeof(void*));
  std::free(block);
}
#else
aligned_buffer::aligned_buffer(std::size_t size, std::size_t alignment) {
  assert(alignment >= default_alignment && (alignment & (alignment - 1)) == 0);
  // mi_malloc_aligned_at aligns the address `header_room` bytes into the block: that is data().
  void* block = mi_malloc_aligned_at(header_room + size, alignment, header_room);
  if (block == nullptr) throw std::bad_alloc();
  data_ = static_cast<std::byte*>(block) + header_room;
  size_ = size;
}

void aligned_buffer::release_block(std::byte* data) noexcept {
  mi_free(data - header_room);
}
#endif

void aligned_buffer::advise_huge_pages() noexcept {
  constexpr std::uintptr_t huge_page = huge_page_size;
  const auto begin = reinterpret_cast<std::uintptr_t>(data_);
  const std::uintptr_t first = (begin + huge_page - 1) & ~(huge_page - 1);
  const std::uintptr_t last = (begin + size_) & ~(huge_page - 1);
  if (data_ == nullptr || last <= first) return;
  // Failure (no THP in this kernel) only means small pages, as without the call.
  (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

aligned_buffer::~aligned_buffer() {
  if (data_ != nullptr) release_block(data_);
}

aligned_buffer& aligned_buffer::operator=(aligned_buffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) release_block(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

}  // namespace larder::io
