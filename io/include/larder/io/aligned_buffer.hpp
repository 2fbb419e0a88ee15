// aligned_buffer: a writable byte buffer from mimalloc whose data starts on a chosen alignment.
//
// Disk reads with O_DIRECT need buffers aligned to the device's logical block size; cache values
// need a few bytes in front of their data for a reference count. One allocation serves both:
// the buffer keeps `header_room` bytes before data() that its owner may use (a cache value builds
// its control block there, so freezing a buffer into a value copies nothing).
//
// Owns its memory, move-only. Thread safety: distinct objects are safe; a shared object is not.
#pragma once

#include <cstddef>
#include <span>
#include <utility>

namespace larder::io {

// The transparent huge page size of x86-64 and most arm64 kernels.
inline constexpr std::size_t huge_page_size = std::size_t{2} << 20;

// `n` rounded up to a multiple of `to` (to > 0): buffer sizes and file extents for O_DIRECT.
constexpr std::size_t round_up(std::size_t n, std::size_t to) {
  return (n + to - 1) / to * to;
}

class aligned_buffer {
 public:
  // Bytes available in front of data(), aligned to alignof(std::max_align_t).
  static constexpr std::size_t header_room = 32;
  // Alignment used when none is asked for: enough for any scalar.
  static constexpr std::size_t default_alignment = alignof(std::max_align_t);

  aligned_buffer() noexcept = default;
  // REQUIRES: alignment is a power of two and at least alignof(std::max_align_t).
  // Throws std::bad_alloc when memory runs out.
  explicit aligned_buffer(std::size_t size, std::size_t alignment = default_alignment);
  ~aligned_buffer();

  aligned_buffer(aligned_buffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  aligned_buffer& operator=(aligned_buffer&& other) noexcept;
  aligned_buffer(const aligned_buffer&) = delete;
  aligned_buffer& operator=(const aligned_buffer&) = delete;

  std::byte* data() noexcept { return data_; }
  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::span<std::byte> span() noexcept { return {data_, size_}; }

  // Asks the kernel to back the buffer's whole 2 MiB pages with transparent huge pages. Best
  // effort: without THP (or in sanitizer builds' allocator) it changes nothing. Worth it for
  // large buffers that are written once through: a disk-tier region's 32 MiB buffer takes 16
  // page faults instead of 8192 on first touch.
  void advise_huge_pages() noexcept;

  // Gives up ownership; the caller frees the block with release_block(). Used by owners that
  // keep a header in header_room and must free the memory themselves.
  std::byte* release() noexcept {
    size_ = 0;
    return std::exchange(data_, nullptr);
  }
  // Frees a block given up by release(), given the data pointer it returned.
  static void release_block(std::byte* data) noexcept;

 protected:
  // A view of memory owned elsewhere, for a derived class that release()s before this
  // destructor runs (the registered read buffers, slices of one huge-page block).
  aligned_buffer(std::byte* data, std::size_t size) noexcept : data_(data), size_(size) {}

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace larder::io
