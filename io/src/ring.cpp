#include "larder/io/ring.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <new>
#include <string>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <system_error>
#include <type_traits>
#include <unistd.h>
#include <utility>
#include <vector>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <liburing.h>

#include <larder/runtime/log.hpp>

#include "registered_buffer_pool.hpp"

namespace larder::io {
namespace detail {
namespace {

enum class op_code { read, write, readv, writev, fsync };

// What the caller asked for; validated and turned into an SQE by the ring.
struct op_request {
  static op_request transfer(op_code code, int fd, std::shared_ptr<aligned_buffer> buffer,
                             std::size_t buffer_offset, std::size_t length,
                             std::uint64_t file_offset) {
    op_request r;
    r.code = code;
    r.fd = fd;
    r.file_offset = file_offset;
    r.buffer = std::move(buffer);
    r.buffer_offset = buffer_offset;
    r.length = length;
    return r;
  }
  static op_request vector(op_code code, int fd, std::vector<buffer_slice> slices,
                           std::uint64_t file_offset) {
    op_request r;
    r.code = code;
    r.fd = fd;
    r.file_offset = file_offset;
    r.slices = std::move(slices);
    return r;
  }

  op_code code = op_code::read;
  int fd = -1;
  std::uint64_t file_offset = 0;
  std::shared_ptr<aligned_buffer> buffer;  // read, write
  std::size_t buffer_offset = 0;
  std::size_t length = 0;
  std::vector<buffer_slice> slices;  // readv, writev
  bool data_only = true;             // fsync
};

std::error_code system_error_code(int error) {
  return {error, std::system_category()};
}

const io_result cancelled_result{0, system_error_code(ECANCELED)};

// user_data of the SQEs that cancel another operation; operations use their own address.
constexpr std::uint64_t cancel_tag = 0;

bool slice_in_range(const std::shared_ptr<aligned_buffer>& buffer, std::size_t offset,
                    std::size_t length) {
  return buffer != nullptr && offset <= buffer->size() && length <= buffer->size() - offset;
}

}  // namespace

// One operation from start to completion. The ring owns it through self_ from start() until its
// CQE (or its cancellation while queued); a cancellation slot handler only holds a weak_ptr.
class ring_operation {
 public:
  explicit ring_operation(op_request request) : request_(std::move(request)) {}
  virtual ~ring_operation() = default;
  ring_operation(const ring_operation&) = delete;
  ring_operation& operator=(const ring_operation&) = delete;

  // Hands `result` to the waiting handler, called exactly once, without ring_state's lock. Posted,
  // unless `from_event_loop` (design note 4): then dispatched, so that it may run at once.
  virtual void complete(io_result result, bool from_event_loop) = 0;

  // Drops the references to the operation's buffers once the kernel is done with them, before
  // the handler is posted: the awaiting coroutine may resume on another thread at once, and it
  // should find itself the buffers' last owner (the disk tier recycles a region buffer only then).
  void release_buffers() noexcept {
    request_.buffer.reset();
    request_.slices.clear();
    iov_.clear();
  }

  // Checks the ranges and builds the iovec array. Returns the error the operation completes with
  // without reaching the kernel, or an empty code.
  std::error_code validate() {
    switch (request_.code) {
      case op_code::read:
      case op_code::write:
        // The SQE's length field has 32 bits.
        if (!slice_in_range(request_.buffer, request_.buffer_offset, request_.length) ||
            request_.length > std::numeric_limits<std::uint32_t>::max()) {
          return system_error_code(EINVAL);
        }
        break;
      case op_code::readv:
      case op_code::writev:
        iov_.reserve(request_.slices.size());
        for (const auto& s : request_.slices) {
          if (!slice_in_range(s.buffer, s.offset, s.length)) return system_error_code(EINVAL);
          iov_.push_back({s.buffer->data() + s.offset, s.length});
        }
        break;
      case op_code::fsync:
        break;
    }
    return {};
  }

  // Fills `sqe`. Returns whether the operation is a read into one of `pool`'s registered
  // buffers (design note 8), sent as READ_FIXED.
  bool prepare(io_uring_sqe* sqe, const registered_buffer_pool* pool) {
    const op_request& r = request_;
    bool fixed = false;
    switch (r.code) {
      case op_code::read:
        if (const int index = pool != nullptr ? pool->index_of(r.buffer.get()) : -1; index >= 0) {
          io_uring_prep_read_fixed(sqe, r.fd, r.buffer->data() + r.buffer_offset,
                                   static_cast<unsigned>(r.length), r.file_offset, index);
          fixed = true;
        } else {
          io_uring_prep_read(sqe, r.fd, r.buffer->data() + r.buffer_offset,
                             static_cast<unsigned>(r.length), r.file_offset);
        }
        break;
      case op_code::write:
        io_uring_prep_write(sqe, r.fd, r.buffer->data() + r.buffer_offset,
                            static_cast<unsigned>(r.length), r.file_offset);
        break;
      case op_code::readv:
        io_uring_prep_readv(sqe, r.fd, iov_.data(), static_cast<unsigned>(iov_.size()),
                            r.file_offset);
        break;
      case op_code::writev:
        io_uring_prep_writev(sqe, r.fd, iov_.data(), static_cast<unsigned>(iov_.size()),
                             r.file_offset);
        break;
      case op_code::fsync:
        io_uring_prep_fsync(sqe, r.fd, r.data_only ? IORING_FSYNC_DATASYNC : 0);
        break;
    }
    io_uring_sqe_set_data(sqe, this);
    return fixed;
  }

  // Cancellation types this operation honours (design note 5).
  asio::cancellation_type cancellable_by() const {
    const bool writes = request_.code == op_code::write || request_.code == op_code::writev;
    return writes ? asio::cancellation_type::terminal
                  : asio::cancellation_type::terminal | asio::cancellation_type::partial |
                        asio::cancellation_type::total;
  }

  // The fields below are guarded by ring_state::mu_ until state_ is done; from then on they
  // belong to whoever holds the list of finished operations the operation is linked into.
  enum class state { created, queued, submitted, done };
  state state_ = state::created;
  bool cancel_requested_ = false;
  // Links in ring_state's queued_ or submitted_ list, or in a list of finished operations.
  ring_operation* prev_ = nullptr;
  ring_operation* next_ = nullptr;
  std::shared_ptr<ring_operation> self_;
  io_result result_;

 private:
  op_request request_;
  std::vector<iovec> iov_;
};

class ring_state;

namespace {

template <typename Handler>
class ring_operation_for final : public ring_operation {
 public:
  ring_operation_for(op_request request, Handler handler, const asio::any_io_executor& fallback)
      : ring_operation(std::move(request)),
        handler_(std::move(handler)),
        work_(asio::prefer(asio::get_associated_executor(handler_, fallback),
                           asio::execution::outstanding_work.tracked)) {}

  void complete(io_result result, bool from_event_loop) override {
    if (from_event_loop) {
      asio::dispatch(work_, asio::append(std::move(handler_), result));
    } else {
      asio::post(work_, asio::append(std::move(handler_), result));
    }
  }

 private:
  Handler handler_;
  // The handler's executor, counting this operation as outstanding work until it is destroyed.
  std::decay_t<decltype(asio::prefer(
      std::declval<asio::associated_executor_t<Handler, asio::any_io_executor>>(),
      asio::execution::outstanding_work.tracked))>
      work_;
};

// A list threaded through the operations themselves: linking and unlinking never allocate.
class operation_list {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  ring_operation* front() const noexcept { return head_; }

  void push_back(ring_operation* op) noexcept {
    op->prev_ = tail_;
    op->next_ = nullptr;
    (tail_ != nullptr ? tail_->next_ : head_) = op;
    tail_ = op;
    ++size_;
  }
  void push_front(ring_operation* op) noexcept {
    op->prev_ = nullptr;
    op->next_ = head_;
    (head_ != nullptr ? head_->prev_ : tail_) = op;
    head_ = op;
    ++size_;
  }
  ring_operation* pop_front() noexcept {
    ring_operation* op = head_;
    if (op != nullptr) erase(op);
    return op;
  }
  void erase(ring_operation* op) noexcept {
    (op->prev_ != nullptr ? op->prev_->next_ : head_) = op->next_;
    (op->next_ != nullptr ? op->next_->prev_ : tail_) = op->prev_;
    op->prev_ = op->next_ = nullptr;
    --size_;
  }

 private:
  ring_operation* head_ = nullptr;
  ring_operation* tail_ = nullptr;
  std::size_t size_ = 0;
};

// The ring whose eventfd handler is resuming a coroutine on this thread (design note 4): an
// operation that coroutine starts is submitted by that handler, not by a posted task.
thread_local const ring_state* resuming_on_this_thread = nullptr;

}  // namespace

class ring_state : public std::enable_shared_from_this<ring_state> {
 public:
  ring_state(asio::any_io_executor ex, const ring_options& options)
      : executor_(std::move(ex)),
        eventfd_(executor_),
        max_batch_(std::max(options.max_batch, 1u)),
        retry_timer_(executor_) {
    const unsigned entries = options.entries;
    if (int r = io_uring_queue_init(entries, &uring_, 0); r < 0) {
      throw std::system_error(
          system_error_code(-r),
          "larder::io::ring: io_uring_queue_init(" + std::to_string(entries) +
              " entries) failed (io_uring disabled by sysctl kernel.io_uring_disabled or a "
              "seccomp profile, RLIMIT_MEMLOCK too low, or a bad entry count)");
    }
    uring_open_ = true;
    try {
      eventfd_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (eventfd_fd_ < 0) {
        throw std::system_error(system_error_code(errno), "larder::io::ring: eventfd failed");
      }
      eventfd_.assign(eventfd_fd_);
      if (int r = io_uring_register_eventfd(&uring_, eventfd_fd_); r < 0) {
        throw std::system_error(system_error_code(-r),
                                "larder::io::ring: io_uring_register_eventfd failed");
      }
    } catch (...) {
      // A constructor that throws runs no destructor.
      io_uring_queue_exit(&uring_);
      throw;
    }
    capacity_ = std::min(uring_.sq.ring_entries, uring_.cq.ring_entries / 2);
    register_buffers(options);
  }

  ~ring_state() {
    if (uring_open_) io_uring_queue_exit(&uring_);
  }

  ring_state(const ring_state&) = delete;
  ring_state& operator=(const ring_state&) = delete;

  const asio::any_io_executor& executor() const noexcept { return executor_; }

  std::shared_ptr<aligned_buffer> acquire_registered_buffer(std::size_t size) {
    return pool_ != nullptr ? pool_->acquire(size) : nullptr;
  }

  // Waits for the next eventfd signal. Only one wait is ever pending: the handler re-arms.
  void arm() {
    eventfd_.async_wait(asio::posix::descriptor_base::wait_read,
                        [self = shared_from_this()](const boost::system::error_code& ec) {
                          self->on_completions_ready(ec);
                        });
  }

  void start(std::shared_ptr<ring_operation> op) {
    const std::error_code invalid = op->validate();
    operation_list finished;
    {
      std::lock_guard lock(mu_);
      ring_operation& o = *op;
      o.self_ = std::move(op);
      if (invalid) {
        finish_locked(o, {0, invalid}, finished);
      } else if (closing_) {
        // An awaitable created before the ring was destroyed and awaited after it.
        finish_locked(o, cancelled_result, finished);
      } else if (queued_.empty() && has_room_locked() && submit_one_locked(o)) {
        if (io_uring_sq_ready(&uring_) >= max_batch_) {
          submit_locked(&finished);
        } else if (resuming_on_this_thread != this) {
          request_submit_locked();
        }
      } else {
        o.state_ = ring_operation::state::queued;
        queued_.push_back(&o);
      }
    }
    deliver(finished);
  }

  void cancel(ring_operation& op) {
    operation_list finished;
    {
      std::lock_guard lock(mu_);
      if (closing_) return;  // shutdown() cancels everything itself
      if (op.state_ == ring_operation::state::queued) {
        queued_.erase(&op);
        finish_locked(op, cancelled_result, finished);
      } else if (op.state_ == ring_operation::state::submitted && !op.cancel_requested_ &&
                 submit_cancel_locked(op)) {
        request_submit_locked();
      }
    }
    deliver(finished);
  }

  void shutdown() {
    operation_list finished;
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      while (ring_operation* op = queued_.pop_front())
        finish_locked(*op, cancelled_result, finished);
      reap_locked(finished);
      while (!submitted_.empty() || pending_cancels_ > 0) {
        // A cancel request that found no SQE (the kernel refusing submissions) is tried again.
        for (ring_operation* op = submitted_.front(); op != nullptr; op = op->next_) {
          if (!op->cancel_requested_) submit_cancel_locked(*op);
        }
        // Submits what is still in the SQ (the cancel requests), waits for at least one CQE.
        const int r = io_uring_submit_and_wait(&uring_, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
          // Cannot happen with a valid ring. Not knowing when the kernel is done with the
          // buffers, the only safe course is to keep them: the operations and the ring leak.
          log().critical(
              "io ring: waiting for completions at shutdown failed ({}); leaking {} "
              "operations and their buffers",
              std::strerror(-r), submitted_.size());
          uring_open_ = false;
          break;
        }
        reap_locked(finished);
      }
      if (uring_open_) io_uring_queue_exit(&uring_);
      uring_open_ = false;
    }
    deliver(finished);
    // Wakes the pending eventfd wait so that its handler sees closing_ and releases this state.
    ::eventfd_write(eventfd_fd_, 1);
  }

  ring_stats stats() const {
    std::lock_guard lock(mu_);
    ring_stats s = stats_;
    s.in_flight = submitted_.size();
    s.queued = queued_.size();
    s.registered_buffers = pool_ != nullptr ? pool_->count() : 0;
    return s;
  }

 private:
  void on_completions_ready(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) log().error("io ring: waiting on the eventfd failed: {}", ec.message());
    eventfd_t ignored = 0;
    ::eventfd_read(eventfd_fd_, &ignored);  // EAGAIN when already drained is fine
    operation_list finished;
    bool alone = false;
    {
      std::lock_guard lock(mu_);
      if (!collect_locked(finished)) return;
      alone = finished.size() == 1 && submitted_.empty() && queued_.empty();
    }
    // Re-armed before any coroutine resumes here: one may run long before it suspends, and the
    // completions of other threads' operations must not wait for it.
    arm();
    if (alone) {
      // The only operation in flight resumes its coroutine here if its executor allows it, and
      // the operation it starts next joins the submit below (design note 4).
      struct resumption {
        ring_state& ring;
        explicit resumption(ring_state& r) : ring(r) { resuming_on_this_thread = &r; }
        resumption(const resumption&) = delete;
        resumption& operator=(const resumption&) = delete;
        ~resumption() {
          resuming_on_this_thread = nullptr;
          // An exception out of the handler would skip the submit below: a task submits instead.
          // (Asio's awaitables keep a coroutine's own exceptions to its completion handler, which
          // co_spawn posts after a resumption like this one; this is for any that do escape.)
          if (std::uncaught_exceptions() > 0) {
            std::lock_guard lock(ring.mu_);
            ring.request_submit_locked();
          }
        }
      } scope(*this);
      deliver(finished, true);
    } else {
      deliver(finished);
    }
    // Submits what the resumed coroutines started. And Asio's epoll reactor is edge-triggered and
    // forgets an edge that comes while no wait is queued, so a CQE posted between the reap above
    // and arm() would sit until some later completion: reap once more now that the wait is queued.
    process_completions();
  }

  // Reaps every CQE, refills from the FIFO, submits and delivers; nothing once closing.
  void process_completions() {
    operation_list finished;
    {
      std::lock_guard lock(mu_);
      if (!collect_locked(finished)) return;
    }
    deliver(finished);
  }

  // Reaps every CQE into `finished`, refills from the FIFO and submits. False once closing.
  bool collect_locked(operation_list& finished) {
    if (closing_) return false;
    reap_locked(finished);
    refill_locked();
    submit_locked(&finished);
    return true;
  }

  void on_submit() {
    operation_list finished;
    {
      std::lock_guard lock(mu_);
      submit_posted_ = false;
      if (!closing_) submit_locked(&finished);
    }
    deliver(finished);
  }

  bool has_room_locked() const { return submitted_.size() + pending_cancels_ < capacity_; }

  io_uring_sqe* get_sqe_locked() {
    io_uring_sqe* sqe = io_uring_get_sqe(&uring_);
    if (sqe == nullptr) {
      // The SQ is full of prepared entries: hand them over to free it.
      submit_locked();
      sqe = io_uring_get_sqe(&uring_);
    }
    return sqe;
  }

  bool submit_one_locked(ring_operation& op) {
    io_uring_sqe* sqe = get_sqe_locked();
    if (sqe == nullptr) return false;
    if (op.prepare(sqe, pool_.get())) ++stats_.fixed_reads;
    op.state_ = ring_operation::state::submitted;
    submitted_.push_back(&op);
    stats_.max_in_flight = std::max<std::uint64_t>(stats_.max_in_flight, submitted_.size());
    return true;
  }

  bool submit_cancel_locked(ring_operation& op) {
    io_uring_sqe* sqe = get_sqe_locked();
    if (sqe == nullptr) return false;
    io_uring_prep_cancel(sqe, &op, 0);
    io_uring_sqe_set_data64(sqe, cancel_tag);
    op.cancel_requested_ = true;
    ++pending_cancels_;
    return true;
  }

  // Batching (design note 2): one submit task per batch.
  void request_submit_locked() {
    if (submit_posted_) return;
    submit_posted_ = true;
    asio::post(executor_, [self = shared_from_this()] { self->on_submit(); });
  }

  // Hands the SQ to the kernel. With `finished`, also reaps the CQEs ready by then: entering the
  // kernel runs the task work that posts completions of this thread's earlier requests, and
  // taking them now, rather than at the next eventfd wakeup, keeps the device's queue full:
  // otherwise completions gather while this thread is busy and come back as one wave, and the
  // device idles while the wave is worked through.
  void submit_locked(operation_list* finished = nullptr) {
    if (io_uring_sq_ready(&uring_) == 0) return;
    int r = 0;
    do {
      r = io_uring_submit(&uring_);
    } while (r == -EINTR);
    ++stats_.submit_calls;
    if (r > 0) stats_.sqes_submitted += static_cast<unsigned>(r);
    if (finished != nullptr) reap_locked(*finished);
    // The kernel takes no SQE only when short of memory (EAGAIN) or similar; the entries stay in
    // the SQ. Retry after a pause rather than spin.
    if (io_uring_sq_ready(&uring_) > 0) schedule_retry_locked(r < 0 ? -r : EAGAIN);
  }

  void schedule_retry_locked(int error) {
    if (retry_armed_) return;
    retry_armed_ = true;
    log().warn("io ring: io_uring_submit left requests unsubmitted ({}); retrying",
               std::strerror(error));
    // 1 ms: long enough not to spin on a kernel short of memory, short next to a disk's latency.
    retry_timer_.expires_after(std::chrono::milliseconds(1));
    retry_timer_.async_wait([self = shared_from_this()](const boost::system::error_code&) {
      std::lock_guard lock(self->mu_);
      self->retry_armed_ = false;
      if (self->closing_) return;
      self->submit_locked();
      self->refill_locked();
      self->submit_locked();
    });
  }

  void refill_locked() {
    while (!queued_.empty() && has_room_locked()) {
      ring_operation* op = queued_.pop_front();
      if (!submit_one_locked(*op)) {
        // Keep FIFO order; the retry timer submits and refills later.
        queued_.push_front(op);
        return;
      }
    }
  }

  void reap_locked(operation_list& finished) {
    // 64: a stack array per peek; any size works, larger only saves a few calls per burst.
    io_uring_cqe* cqes[64];
    while (unsigned n = io_uring_peek_batch_cqe(&uring_, cqes, 64)) {
      for (unsigned i = 0; i < n; ++i)
        complete_locked(io_uring_cqe_get_data64(cqes[i]), cqes[i]->res, finished);
      io_uring_cq_advance(&uring_, n);
    }
  }

  void complete_locked(std::uint64_t user_data, int res, operation_list& finished) {
    if (user_data == cancel_tag) {
      --pending_cancels_;
      return;
    }
    auto* op = reinterpret_cast<ring_operation*>(static_cast<std::uintptr_t>(user_data));
    submitted_.erase(op);
    io_result result;
    if (res >= 0) {
      result.bytes = static_cast<std::size_t>(res);
    } else {
      // Work the kernel had already started on a worker thread is interrupted, not cancelled.
      const bool cancelled = op->cancel_requested_ && (res == -EINTR || res == -ECANCELED);
      result.error = system_error_code(cancelled ? ECANCELED : -res);
    }
    finish_locked(*op, result, finished);
  }

  // Marks `op` done; its handler is posted by deliver(), after the lock is released, so that
  // neither the post nor the release of the buffers (whose deleters are the caller's) runs under
  // it.
  void finish_locked(ring_operation& op, const io_result& result, operation_list& finished) {
    op.state_ = ring_operation::state::done;
    op.result_ = result;
    ++stats_.completions;
    finished.push_back(&op);
  }

  static void deliver(operation_list& finished, bool from_event_loop = false) {
    while (ring_operation* op = finished.pop_front()) {
      const std::shared_ptr<ring_operation> release = std::move(op->self_);
      op->release_buffers();
      op->complete(op->result_, from_event_loop);
    }
  }

  // Design note 8. Best effort: a ring without the pool works the same, pinning pages per read.
  void register_buffers(const ring_options& options) {
    if (options.registered_buffers == 0 || options.registered_buffer_size == 0) return;
    try {
      auto pool = std::make_shared<registered_buffer_pool>(options.registered_buffers,
                                                           options.registered_buffer_size);
      const std::vector<iovec> iov = pool->iovecs();
      if (int r = io_uring_register_buffers(&uring_, iov.data(), static_cast<unsigned>(iov.size()));
          r < 0) {
        log().info(
            "io ring: the kernel refused {} registered read buffers of {} bytes ({}; "
            "RLIMIT_MEMLOCK?); reads pin their buffers one by one instead",
            options.registered_buffers, options.registered_buffer_size, std::strerror(-r));
        return;
      }
      pool_ = std::move(pool);
    } catch (const std::bad_alloc&) {
      log().info("io ring: no memory for the registered read buffers; reads pin their buffers");
    }
  }

  asio::any_io_executor executor_;
  // Touched only by the constructor, the wait chain (one handler at a time) and the destructor.
  asio::posix::stream_descriptor eventfd_;
  int eventfd_fd_ = -1;
  const unsigned max_batch_;

  // mu_ protects the fields below, the SQ and CQ, and every operation's state fields.
  mutable std::mutex mu_;
  io_uring uring_{};
  bool uring_open_ = false;
  unsigned capacity_ = 0;
  operation_list queued_;
  operation_list submitted_;
  std::size_t pending_cancels_ = 0;  // cancel SQEs whose CQE has not arrived
  bool submit_posted_ = false;
  bool retry_armed_ = false;
  bool closing_ = false;
  asio::steady_timer retry_timer_;
  ring_stats stats_;
  // Set by the constructor, then only read; buffers may outlive the ring (design note 8).
  std::shared_ptr<registered_buffer_pool> pool_;
};

namespace {

asio::awaitable<io_result> start_operation(const std::shared_ptr<ring_state>& state,
                                           op_request request) {
  return asio::async_initiate<const asio::use_awaitable_t<>, void(io_result)>(
      [state](auto handler, op_request request) {
        auto slot = asio::get_associated_cancellation_slot(handler);
        auto op = std::make_shared<ring_operation_for<decltype(handler)>>(
            std::move(request), std::move(handler), state->executor());
        if (slot.is_connected()) {
          slot.assign([weak_state = std::weak_ptr<ring_state>(state),
                       weak_op = std::weak_ptr<ring_operation>(op)](asio::cancellation_type type) {
            auto op = weak_op.lock();
            auto state = weak_state.lock();
            if (op == nullptr || state == nullptr) return;
            if ((type & op->cancellable_by()) == asio::cancellation_type::none) return;
            state->cancel(*op);
          });
        }
        state->start(std::move(op));
      },
      asio::use_awaitable, std::move(request));
}

}  // namespace
}  // namespace detail

ring::ring(executor_type ex, ring_options options)
    : state_(std::make_shared<detail::ring_state>(std::move(ex), options)) {
  state_->arm();
}

ring::~ring() {
  state_->shutdown();
}

ring::executor_type ring::get_executor() const noexcept {
  return state_->executor();
}

asio::awaitable<io_result> ring::read_at(int fd, std::shared_ptr<aligned_buffer> buffer,
                                         std::size_t buffer_offset, std::size_t length,
                                         std::uint64_t file_offset) {
  return detail::start_operation(
      state_, detail::op_request::transfer(detail::op_code::read, fd, std::move(buffer),
                                           buffer_offset, length, file_offset));
}

asio::awaitable<io_result> ring::write_at(int fd, std::shared_ptr<aligned_buffer> buffer,
                                          std::size_t buffer_offset, std::size_t length,
                                          std::uint64_t file_offset) {
  return detail::start_operation(
      state_, detail::op_request::transfer(detail::op_code::write, fd, std::move(buffer),
                                           buffer_offset, length, file_offset));
}

asio::awaitable<io_result> ring::readv(int fd, std::vector<buffer_slice> slices,
                                       std::uint64_t file_offset) {
  return detail::start_operation(
      state_,
      detail::op_request::vector(detail::op_code::readv, fd, std::move(slices), file_offset));
}

asio::awaitable<io_result> ring::writev(int fd, std::vector<buffer_slice> slices,
                                        std::uint64_t file_offset) {
  return detail::start_operation(
      state_,
      detail::op_request::vector(detail::op_code::writev, fd, std::move(slices), file_offset));
}

asio::awaitable<io_result> ring::fsync(int fd, bool data_only) {
  detail::op_request request;
  request.code = detail::op_code::fsync;
  request.fd = fd;
  request.data_only = data_only;
  return detail::start_operation(state_, std::move(request));
}

std::shared_ptr<aligned_buffer> ring::acquire_registered_buffer(std::size_t size) {
  return state_->acquire_registered_buffer(size);
}

ring_stats ring::stats() const {
  return state_->stats();
}

}  // namespace larder::io
