// registered_buffer_pool: the read buffers a ring registers with the kernel (ring.hpp, design
// note 8).
//
// A fixed set of equally sized buffers, slices of one block the pool maps for them. acquire()
// hands out a free one as a shared_ptr whose deleter gives it back, so a buffer returns to the
// pool only when its last user, the ring operation reading into it included, lets go. The pool
// outlives the ring if a buffer does: a returned buffer is then simply kept until the pool goes.
//
// The block is aligned to 2 MiB and advised to use transparent huge pages, and no buffer crosses
// a 2 MiB boundary: each buffer then lies in one physically contiguous page, and a read into it
// is one segment for the device rather than one per 4 KiB page. On a virtio disk that raised
// random 64 KiB reads by a fifth at depth 1 and by a third at depth 32 (bench/RESULTS.md).
// Without THP the buffers are ordinary pages, as before.
//
// Thread safety: acquire() and the buffers' release may run on any thread.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <sys/uio.h>
#include <vector>

#include "larder/io/aligned_buffer.hpp"

namespace larder::io::detail {

class registered_buffer_pool : public std::enable_shared_from_this<registered_buffer_pool> {
 public:
  // Alignment of every buffer's data(): a page, enough for O_DIRECT on any device.
  static constexpr std::size_t alignment = 4096;
  static constexpr std::size_t huge_page = huge_page_size;

  // Maps `count` buffers of `size` bytes. Throws std::bad_alloc.
  registered_buffer_pool(unsigned count, std::size_t size);
  ~registered_buffer_pool();
  registered_buffer_pool(const registered_buffer_pool&) = delete;
  registered_buffer_pool& operator=(const registered_buffer_pool&) = delete;

  // One iovec per buffer, in index order: what io_uring_register_buffers takes.
  std::vector<iovec> iovecs() const;
  // The buffer index of `b` if it is one of this pool's buffers, else -1.
  int index_of(const aligned_buffer* b) const noexcept;
  // A free buffer if `size` fits one, else null.
  std::shared_ptr<aligned_buffer> acquire(std::size_t size);

  unsigned count() const noexcept { return static_cast<unsigned>(buffers_.size()); }
  std::size_t buffer_size() const noexcept { return size_; }

 private:
  // A buffer of the pool: a view of its part of the block, which the pool unmaps.
  class pool_buffer : public aligned_buffer {
   public:
    pool_buffer(std::byte* data, std::size_t size) noexcept : aligned_buffer(data, size) {}
    pool_buffer(pool_buffer&&) noexcept = default;
    ~pool_buffer() { release(); }
  };

  void give_back(unsigned index);

  std::size_t size_;
  std::size_t stride_;  // bytes from one buffer's start to the next's
  std::byte* block_ = nullptr;
  std::size_t block_size_ = 0;
  std::vector<pool_buffer> buffers_;  // never resized after construction: index_of relies on it
  std::mutex mu_;
  std::vector<unsigned> free_;  // guarded by mu_
};

}  // namespace larder::io::detail
