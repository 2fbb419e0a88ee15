// ring: asynchronous file I/O through one io_uring instance, driven from an Asio executor.
//
// Callers `co_await` read_at / write_at / readv / writev / fsync and get an io_result; errors are
// reported there, never thrown. The ring holds a reference to every buffer an operation uses until
// the kernel has finished with it. The ring itself is owned by its creator (one per runtime to
// start, DESIGN.md "One I/O path"); it must be destroyed before the execution contexts of its
// executor and of the coroutines that use it.
//
// Thread safety: operations may be started concurrently from any thread; stats() may be called
// from any thread. The destructor must not run concurrently with a call on the same object.
//
// Design
//  1. Idea. The kernel's submission and completion queues (SQ, CQ) replace a thread pool: an
//     operation is an SQE, its completion a CQE. The ring registers an eventfd with io_uring
//     (io_uring_register_eventfd) and waits for it with posix::stream_descriptor::async_wait on
//     the ring's executor, so completions arrive through the same event loop as every other Asio
//     operation: no thread of our own, and no Asio-wide io_uring macro that an embedding
//     application would have to define too.
//  2. Batching. Starting an operation only fills an SQE. The first operation of a batch posts one
//     submit task to the ring's executor; every operation started before that task runs joins its
//     io_uring_submit, so N operations started together cost one io_uring_enter. A batch that
//     reaches ring_options::max_batch SQEs is submitted at once by the thread that filled it:
//     while a large batch fills the device idles, and measured throughput drops (see max_batch).
//     The completion path also submits what is ready. stats() counts submit calls and SQEs.
//  3. Capacity. At most `capacity` operations hold an SQE: the SQ size, and at most half the CQ
//     size, so that every operation plus one cancel request always has a CQE slot and the CQ
//     never overflows (the eventfd protocol below relies on it). Operations beyond that wait in a
//     FIFO inside the ring and get an SQE as completions free room.
//  4. Completion path. When the eventfd is readable: drain it (before reaping, so that a CQE
//     posted during the reap signals again), reap every CQE (io_uring_peek_batch_cqe,
//     io_uring_cq_advance), refill from the FIFO, submit, re-arm, and reap once more: Asio's epoll
//     reactor is edge-triggered and forgets an edge that comes while no wait is queued, so a CQE
//     posted just before the re-arm would otherwise wait for some later completion. Every submit
//     also reaps the CQEs that entering the kernel made ready, so that completions do not gather
//     into one wave while this thread is busy (the device would idle while the wave is worked
//     through). Completions go to the awaiting handler's own executor (its strand). When the
//     eventfd handler reaps the only operation in flight, it re-arms the wait and dispatches that
//     completion: the coroutine resumes right there if its executor allows, and the operation it
//     starts next joins the handler's submit instead of posting a submit task of its own (the
//     wait is re-armed first because the coroutine may run long before it suspends, and other
//     threads' completions must not wait for it). At depth 1 this
//     took the ring's time from a CQE to the next submission from about 6.2 to 4.6-5.0 us
//     (traced; fio's is 3.1); for the disk tier's gets it is within the noise (bench/RESULTS.md).
//     Every other completion is posted. With more in flight, a posted resumption lets other
//     threads running the executor take it, and lets the next operations gather into one submit
//     (resuming inline, 4.0 SQEs per submit at depth 32 fell to 3.5). A completion that start()
//     finishes itself (an invalid operation, a closed ring) would run inline on its caller's
//     stack, and a loop of them would grow it without bound. Until it completes, an operation
//     counts as outstanding work on that executor.
//  5. Cancellation and buffer ownership. The operation state owns its buffers (shared_ptr) and its
//     iovec array, and the ring owns the operation until its CQE arrives. Cancellation through the
//     awaiting handler's cancellation slot submits IORING_OP_ASYNC_CANCEL; the operation still
//     completes only through its own CQE, with ECANCELED or, if it finished first, its real
//     result. So a coroutine that is cancelled or destroyed never frees memory the kernel may
//     still write. An operation still in the FIFO completes with ECANCELED at once: the kernel
//     never saw it. Reads and fsync honour every cancellation type; writes only `terminal`, since
//     a cancelled write may have written part of its data. As with any Asio operation awaited
//     with use_awaitable, a coroutine whose cancellation was emitted before it awaits throws
//     operation_aborted at that co_await instead (asio::this_coro::throw_if_cancelled).
//  6. Shutdown. The destructor cancels everything in flight and blocks until every CQE has
//     arrived (io_uring_submit_and_wait), then calls io_uring_queue_exit: no buffer is written
//     after the ring is gone. The handlers of those operations are posted like any completion
//     (ECANCELED or the real result): a waiting coroutine resumes when its executor next runs, or
//     is destroyed with its context if that never runs again. Tasks on the ring's executor
//     (eventfd wait, submit) hold the ring's shared state, not the ring, and end harmlessly.
//  7. Thread safety. One mutex guards the SQ, the CQ, the FIFO and every operation's state;
//     handlers are posted and buffers released after it is unlocked. io_uring_submit runs under
//     it, so a starting thread may wait for a submit in progress (a few microseconds per SQE with
//     O_DIRECT). Submissions run on the ring's executor or on a thread that starts operations.
//     io_uring ties a request to the thread that submitted it: requests still pending when that
//     thread exits may be cancelled by the kernel, and complete through their CQE like any other
//     cancellation.
//  8. Registered buffers. The ring registers a pool of read buffers with the kernel
//     (io_uring_register_buffers): a read into one of them goes to the kernel as READ_FIXED,
//     which skips pinning and unpinning the buffer's pages on every read. On the first machine
//     it raised the disk tier's random gets at depth 32 by about a tenth (4 KiB values) and a
//     third (64 KiB values); fio's own --fixedbufs gained at 64 KiB, not at 4 KiB. The pool's
//     buffers lie in transparent huge pages, none crossing one: a read into a buffer is then one
//     physically contiguous segment instead of one per 4 KiB page, which on a virtio disk raised
//     64 KiB random reads by a fifth at depth 1 and by a third or more at depth 32
//     (bench/RESULTS.md).
//     Callers ask for a buffer per read (acquire_registered_buffer) and use an ordinary one when
//     the pool is empty or the read is larger than its buffers. A pool buffer goes back to the pool
//     when its last reference does, and an operation holds one until its CQE, so a buffer is never
//     handed out while the kernel may still write into it. If the kernel refuses the registration
//     (RLIMIT_MEMLOCK), the ring runs without the pool and says so once in the log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <larder/io/aligned_buffer.hpp>
#include <larder/io/io_result.hpp>
#include <larder/runtime/asio.hpp>

namespace larder::io {

namespace detail {
class ring_state;
}  // namespace detail

struct ring_options {
  // SQ entries, rounded up to a power of two by the kernel. 256 lets several callers keep queue
  // depth 32 each without waiting in the ring's FIFO; the memory cost is a few tens of KiB.
  unsigned entries = 256;
  // A batch is submitted at once when it holds this many SQEs, without waiting for the posted
  // submit task. Chosen by measurement (bench/ring_read_bench --max-batch, 4 KiB random reads at
  // queue depth 32 on a shared virtio disk; fraction of fio's IOPS, each the median of five runs,
  // over two to four rounds): 1: 0.90-1.01, 4: 0.86-0.99, 8: 0.78-0.98, 16: 0.81-0.88,
  // unbounded: 0.73-0.79 (one round 0.92). Only the unbounded batch is clearly worse on this
  // noisy disk; a larger value saves io_uring_enter calls, which matters more on faster devices.
  // 0 acts as 1.
  unsigned max_batch = 4;
  // The registered read buffer pool (design note 8): this many buffers of this many bytes, each
  // pinned in memory for the ring's life. 32 x 128 KiB = 4 MiB: a read of up to 128 KiB at depth
  // 32 always finds one, within Debian's default 8 MiB RLIMIT_MEMLOCK. 0 buffers: no pool.
  unsigned registered_buffers = 32;
  std::size_t registered_buffer_size = 128 << 10;
};

// Counters since construction. A snapshot: the fields are read together under the ring's lock.
struct ring_stats {
  std::uint64_t submit_calls = 0;    // io_uring_submit calls that had SQEs to hand over
  std::uint64_t sqes_submitted = 0;  // SQEs the kernel accepted, cancel requests included
  std::uint64_t completions = 0;     // operations completed, by any path
  std::uint64_t in_flight = 0;       // operations holding an SQE, waiting for their CQE
  std::uint64_t max_in_flight =
      0;                          // the most operations in flight at once: the queue depth reached
  std::uint64_t queued = 0;       // operations waiting in the FIFO for capacity
  std::uint64_t fixed_reads = 0;  // reads into registered buffers (READ_FIXED)
  std::uint64_t registered_buffers = 0;  // buffers the kernel accepted in the pool (0: no pool)
};

// A byte range of a buffer, with the reference that keeps the bytes alive while the kernel uses
// them. readv / writev take slices rather than raw iovecs so that ownership travels with the
// addresses: the ring builds the iovec array itself.
struct buffer_slice {
  std::shared_ptr<aligned_buffer> buffer;
  std::size_t offset = 0;
  std::size_t length = 0;
};

class ring {
 public:
  using executor_type = asio::any_io_executor;

  // Throws std::system_error when the kernel refuses a ring (io_uring disabled, RLIMIT_MEMLOCK,
  // bad entries) or an eventfd; the message says which call failed.
  explicit ring(executor_type ex, ring_options options = {});
  // Cancels every operation and waits for the kernel to finish with each one (design note 6).
  ~ring();
  ring(const ring&) = delete;
  ring& operator=(const ring&) = delete;

  executor_type get_executor() const noexcept;

  // For every operation:
  // REQUIRES: fd stays open until the operation completes.
  // A range outside its buffer, a null buffer or a length beyond 32 bits completes with
  // std::errc::invalid_argument without reaching the kernel. With O_DIRECT, addresses, lengths
  // and file offsets must be multiples of file::required_alignment(); the kernel answers EINVAL
  // otherwise.

  // Reads up to `length` bytes at `file_offset` into buffer[buffer_offset, +length).
  asio::awaitable<io_result> read_at(int fd, std::shared_ptr<aligned_buffer> buffer,
                                     std::size_t buffer_offset, std::size_t length,
                                     std::uint64_t file_offset);
  // Writes buffer[buffer_offset, +length) at `file_offset`. bytes < length is a short write.
  asio::awaitable<io_result> write_at(int fd, std::shared_ptr<aligned_buffer> buffer,
                                      std::size_t buffer_offset, std::size_t length,
                                      std::uint64_t file_offset);
  // Scatter read / gather write of consecutive file bytes starting at `file_offset`.
  asio::awaitable<io_result> readv(int fd, std::vector<buffer_slice> slices,
                                   std::uint64_t file_offset);
  asio::awaitable<io_result> writev(int fd, std::vector<buffer_slice> slices,
                                    std::uint64_t file_offset);
  // fdatasync (data_only) or fsync: the durability point for writes completed before it.
  asio::awaitable<io_result> fsync(int fd, bool data_only = true);

  // A free buffer of the registered pool (design note 8) if one is free and `size` fits in it,
  // else null (the caller then uses an ordinary buffer). Its size() is the pool's buffer size;
  // data() is aligned to 4096 bytes, enough for O_DIRECT. It returns to the pool when the last
  // reference goes, and may outlive the ring (it is then ordinary memory).
  std::shared_ptr<aligned_buffer> acquire_registered_buffer(std::size_t size);

  ring_stats stats() const;

 private:
  std::shared_ptr<detail::ring_state> state_;
};

}  // namespace larder::io
