// redis_node_pool: the connections redis_client keeps to one node, and the node's reconnect
// backoff.
//
// 1. A fixed number of slots, each empty or holding a redis_connection; acquire() takes them in
//    round robin, so concurrent requests spread over the connections and pipeline on each.
// 2. An empty slot is filled by connecting on the spot. Requests that find the slot already being
//    connected wait for that attempt and share its outcome, so a burst of requests opens one
//    connection per slot, not one each. A connection that failed (timeout, lost socket) is handed
//    back with discard(), which empties its slot: the next use of that slot reconnects.
// 3. Backoff. A failure (a failed connect or a discarded connection) opens a backoff window,
//    reconnect_backoff_min long, doubling with every failure after the window has passed up to
//    reconnect_backoff_max; a successful connect closes it and resets the length. Inside the
//    window, acquire() of an empty slot throws at once instead of connecting. Failures inside an
//    open window do not lengthen it: the connections of one dead node all fail at about the same
//    moment, and that is one failure of the node, not several.
//
// 4. Concurrency. mu_ guards the slots and the backoff, so the common case (a filled slot) takes
//    one lock and no hop. Filling a slot runs on strand_, which also guards each connect attempt's
//    outcome and its timer: waiters park on the timer and the attempt cancels it when it ends.
//
// Thread safety: every member may be called from any thread at once. Connections handed out stay
// valid as long as the caller holds them, even after close(). Held by shared_ptr: an attempt in
// progress keeps its pool alive.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <larder/cache/remote/redis_client.hpp>
#include <larder/cache/remote/redis_connection.hpp>
#include <larder/runtime/asio.hpp>

namespace larder {

class redis_node_pool : public std::enable_shared_from_this<redis_node_pool> {
 public:
  redis_node_pool(asio::any_io_executor executor, redis_node_address address,
                  const redis_client_options& options);
  redis_node_pool(const redis_node_pool&) = delete;
  redis_node_pool& operator=(const redis_node_pool&) = delete;

  // A connection to the node, opened now if its slot is empty. Throws std::system_error when
  // connecting fails (errc::permission_denied for a wrong user or password), at once inside a
  // backoff window, and errc::operation_canceled after close().
  asio::awaitable<std::shared_ptr<redis_connection>> acquire();
  // `connection` failed; the next use of its slot reconnects. Counts as a failure of the node.
  void discard(const std::shared_ptr<redis_connection>& connection);
  // Closes every connection; acquire() fails from now on. Idempotent.
  void close();

  const redis_node_address& address() const { return address_; }
  std::uint64_t connects() const { return connects_.load(std::memory_order_relaxed); }
  std::uint64_t connect_failures() const {
    return connect_failures_.load(std::memory_order_relaxed);
  }

 private:
  using clock = std::chrono::steady_clock;

  // One connect of one slot, and the requests waiting for it. On strand_.
  struct connect_attempt {
    explicit connect_attempt(asio::strand<asio::any_io_executor>& strand)
        : done_signal(strand, clock::time_point::max()) {}
    asio::steady_timer done_signal;  // cancelled when the attempt ends
    bool done = false;
    std::shared_ptr<redis_connection> connection;  // on success
    std::exception_ptr failure;                    // otherwise
  };

  // On strand_. Connects slot `slot`, or waits for the attempt already connecting it.
  asio::awaitable<std::shared_ptr<redis_connection>> fill(std::size_t slot);

  // REQUIRES: mu_ held.
  void record_failure_locked();
  std::system_error closed_error() const;

  const asio::any_io_executor executor_;
  asio::strand<asio::any_io_executor> strand_;
  const redis_node_address address_;
  const std::string name_;  // host:port, for messages
  const redis_endpoint endpoint_;
  const std::chrono::milliseconds backoff_min_;
  const std::chrono::milliseconds backoff_max_;
  std::atomic<std::uint64_t> connects_{0};
  std::atomic<std::uint64_t> connect_failures_{0};

  // mu_ protects the fields below.
  std::mutex mu_;
  std::vector<std::shared_ptr<redis_connection>> slots_;
  std::vector<std::shared_ptr<connect_attempt>> connecting_;  // per slot, while one runs
  std::size_t next_slot_ = 0;
  std::chrono::milliseconds backoff_{0};  // the current window's length; 0 after a success
  clock::time_point retry_at_{};          // the end of the current window
  bool closed_ = false;
};

}  // namespace larder
