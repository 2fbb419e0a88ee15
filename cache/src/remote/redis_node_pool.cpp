#include "remote/redis_node_pool.hpp"

#include <algorithm>
#include <cassert>
#include <system_error>
#include <utility>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace larder {
namespace {

redis_endpoint endpoint_of(const redis_node_address& address, const redis_client_options& options) {
  redis_endpoint e;
  e.host = address.host;
  e.port = address.port;
  e.user = options.user;
  e.password = options.password;
  e.tls = options.tls;
  e.connect_timeout = options.connect_timeout;
  e.request_timeout = options.request_timeout;
  return e;
}

}  // namespace

redis_node_pool::redis_node_pool(asio::any_io_executor executor, redis_node_address address,
                                 const redis_client_options& options)
    : executor_(std::move(executor)),
      strand_(asio::make_strand(executor_)),
      address_(std::move(address)),
      name_(address_.host + ":" + std::to_string(address_.port)),
      endpoint_(endpoint_of(address_, options)),
      backoff_min_(options.reconnect_backoff_min),
      backoff_max_(std::max(options.reconnect_backoff_max, options.reconnect_backoff_min)),
      slots_(std::max<std::size_t>(options.connections_per_node, 1)),
      connecting_(slots_.size()) {}

asio::awaitable<std::shared_ptr<redis_connection>> redis_node_pool::acquire() {
  std::size_t slot = 0;
  {
    std::lock_guard lock(mu_);
    if (closed_) throw closed_error();
    slot = next_slot_++ % slots_.size();
    if (slots_[slot] != nullptr) co_return slots_[slot];
  }
  // No cancellation slot: see redis_connection.cpp on Boost 1.81's co_spawn.
  co_return co_await asio::co_spawn(
      strand_, fill(slot),
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
}

asio::awaitable<std::shared_ptr<redis_connection>> redis_node_pool::fill(std::size_t slot) {
  const auto self = shared_from_this();
  std::shared_ptr<connect_attempt> attempt;
  bool mine = false;
  {
    std::lock_guard lock(mu_);
    if (closed_) throw closed_error();
    if (slots_[slot] != nullptr) co_return slots_[slot];
    if (connecting_[slot] != nullptr) {
      attempt = connecting_[slot];
    } else {
      const auto now = clock::now();
      if (now < retry_at_) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now);
        throw std::system_error(std::make_error_code(std::errc::connection_refused),
                                "redis " + name_ + ": node failed; next reconnect in " +
                                    std::to_string(left.count()) + " ms");
      }
      attempt = std::make_shared<connect_attempt>(strand_);
      connecting_[slot] = attempt;
      mine = true;
    }
  }
  if (!mine) {
    // Both this and the attempt's end run on strand_: `done` cannot change between the check
    // and the wait.
    if (!attempt->done) {
      boost::system::error_code ignored;
      co_await attempt->done_signal.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    assert(attempt->done);
    if (attempt->failure) std::rethrow_exception(attempt->failure);
    co_return attempt->connection;
  }

  std::shared_ptr<redis_connection> connection;
  try {
    connection = co_await redis_connection::connect(executor_, endpoint_);
  } catch (const std::system_error& e) {
    attempt->failure = std::current_exception();
    connect_failures_.fetch_add(1, std::memory_order_relaxed);
    // A wrong password is not the node failing; backing off would only hide the clear error.
    if (e.code() != std::errc::permission_denied) {
      std::lock_guard lock(mu_);
      record_failure_locked();
    }
  }
  if (connection != nullptr) connects_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    connecting_[slot].reset();
    if (connection != nullptr && closed_) {
      connection->close();
      connection.reset();
      attempt->failure = std::make_exception_ptr(closed_error());
    }
    if (connection != nullptr) {
      backoff_ = std::chrono::milliseconds(0);
      retry_at_ = clock::time_point{};
      slots_[slot] = connection;
    }
  }
  attempt->connection = connection;
  attempt->done = true;
  attempt->done_signal.cancel();
  if (attempt->failure) std::rethrow_exception(attempt->failure);
  co_return connection;
}

void redis_node_pool::discard(const std::shared_ptr<redis_connection>& connection) {
  assert(connection != nullptr);
  std::lock_guard lock(mu_);
  const auto it = std::find(slots_.begin(), slots_.end(), connection);
  if (it == slots_.end()) return;  // already replaced: its failure was counted then
  it->reset();
  record_failure_locked();
}

void redis_node_pool::close() {
  std::vector<std::shared_ptr<redis_connection>> connections;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    connections = slots_;
    std::fill(slots_.begin(), slots_.end(), nullptr);
  }
  for (const auto& c : connections)
    if (c != nullptr) c->close();
}

void redis_node_pool::record_failure_locked() {
  const auto now = clock::now();
  if (now < retry_at_) return;  // one failure per window (see 3)
  backoff_ = backoff_.count() == 0 ? backoff_min_ : std::min(backoff_ * 2, backoff_max_);
  retry_at_ = now + backoff_;
}

std::system_error redis_node_pool::closed_error() const {
  return std::system_error(std::make_error_code(std::errc::operation_canceled),
                           "redis " + name_ + ": client closed");
}

}  // namespace larder
