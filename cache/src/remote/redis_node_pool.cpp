#include "remote/redis_node_pool.hpp"

#include <algorithm>
#include <cassert>
#include <system_error>
#include <utility>

namespace larder {
namespace {

redis_endpoint endpoint_of(const redis_node_address& address, const redis_client_options& options) {
  redis_endpoint e;
  e.host = address.host;
  e.port = address.port;
  e.user = options.user;
  e.password = options.password;
  e.connect_timeout = options.connect_timeout;
  e.request_timeout = options.request_timeout;
  return e;
}

}  // namespace

redis_node_pool::redis_node_pool(asio::any_io_executor executor, redis_node_address address,
                                 const redis_client_options& options)
    : executor_(std::move(executor)),
      address_(std::move(address)),
      name_(address_.host + ":" + std::to_string(address_.port)),
      endpoint_(endpoint_of(address_, options)),
      backoff_min_(options.reconnect_backoff_min),
      backoff_max_(std::max(options.reconnect_backoff_max, options.reconnect_backoff_min)),
      slots_(std::max<std::size_t>(options.connections_per_node, 1)) {}

asio::awaitable<std::shared_ptr<redis_connection>> redis_node_pool::acquire() {
  std::size_t slot = 0;
  {
    std::lock_guard lock(mu_);
    if (closed_) {
      throw std::system_error(std::make_error_code(std::errc::operation_canceled),
                              "redis " + name_ + ": client closed");
    }
    slot = next_slot_++ % slots_.size();
    if (slots_[slot] != nullptr) co_return slots_[slot];
    const auto now = clock::now();
    if (now < retry_at_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now);
      throw std::system_error(std::make_error_code(std::errc::connection_refused),
                              "redis " + name_ + ": node failed; next reconnect in " +
                                  std::to_string(left.count()) + " ms");
    }
  }
  std::shared_ptr<redis_connection> connection;
  try {
    connection = co_await redis_connection::connect(executor_, endpoint_);
  } catch (const std::system_error& e) {
    connect_failures_.fetch_add(1, std::memory_order_relaxed);
    // A wrong password is not the node failing; backing off would only hide the clear error.
    if (e.code() != std::errc::permission_denied) {
      std::lock_guard lock(mu_);
      record_failure_locked();
    }
    throw;
  }
  connects_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  if (closed_) {
    connection->close();
    throw std::system_error(std::make_error_code(std::errc::operation_canceled),
                            "redis " + name_ + ": client closed");
  }
  backoff_ = std::chrono::milliseconds(0);
  retry_at_ = clock::time_point{};
  // Another request may have filled the slot meanwhile; this connection then serves only the
  // request that opened it and closes when that lets go of it.
  if (slots_[slot] == nullptr) slots_[slot] = connection;
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
    connections = std::exchange(slots_, std::vector<std::shared_ptr<redis_connection>>(1));
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

}  // namespace larder
