// registered_buffer_pool: the read buffers a ring registers with the kernel (ring.hpp, design
// note 8).
//
// A fixed set of equally sized buffers, each a whole aligned_buffer the pool owns. acquire()
// hands out a free one as a shared_ptr whose deleter gives it back, so a buffer returns to the
// pool only when its last user, the ring operation reading into it included, lets go. The pool
// outlives the ring if a buffer does: a returned buffer is then simply kept until the pool goes.
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

  // Allocates `count` buffers of `size` bytes. Throws std::bad_alloc.
  registered_buffer_pool(unsigned count, std::size_t size);

  // One iovec per buffer, in index order: what io_uring_register_buffers takes.
  std::vector<iovec> iovecs() const;
  // The buffer index of `b` if it is one of this pool's buffers, else -1.
  int index_of(const aligned_buffer* b) const noexcept;
  // A free buffer if `size` fits one, else null.
  std::shared_ptr<aligned_buffer> acquire(std::size_t size);

  unsigned count() const noexcept { return static_cast<unsigned>(buffers_.size()); }
  std::size_t buffer_size() const noexcept { return size_; }

 private:
  void give_back(unsigned index);

  std::size_t size_;
  std::vector<aligned_buffer> buffers_;  // never resized after construction: index_of relies on it
  std::mutex mu_;
  std::vector<unsigned> free_;  // guarded by mu_
};

}  // namespace larder::io::detail
