// redis_client: routing by hash slot over per-node pools of redis_connections.
//
// 1. The parts. slot_map (which node serves which slot), redis_node_pool (one node's
//    connections and reconnect backoff), and this file: the request loop with its redirections,
//    and the slot-map refresh.
//
// 2. A request. execute() looks up the node of the key's slot, takes a connection from that
//    node's pool and sends the command. An error reply MOVED <slot> <host:port> patches the map
//    for that slot, schedules a refresh (the whole map is probably stale: a slot rarely moves
//    alone) and retries at the named node. ASK <slot> <host:port> retries once at the named node
//    with ASKING written right before the command on the same connection, without touching the
//    map: the slot is being migrated and still belongs to its old node. Any other error reply
//    (CLUSTERDOWN, TRYAGAIN, WRONGTYPE) goes to the caller. A failed connection is handed back
//    to its pool (which then backs off the node) and schedules a refresh too: when a master
//    dies, a failover moves its slots to a replica, and only a new map says where.
//
// 3. The refresh. At most one runs at a time. A refresh asked for while one runs is remembered
//    and runs after it, once however many were asked for; and no two start closer together than
//    reconnect_backoff_min, so a node failing every request does not turn into a stream of
//    CLUSTER SLOTS. A refresh asks the nodes of the current map, then the seeds, until one
//    answers. It runs detached on the executor and keeps the state alive until it ends; close()
//    stops further ones.
//
// 4. Concurrency. mu_ guards the map, the pools' index and the refresh flags; counters are
//    atomics; each pool guards itself, and redis_connection runs on its own strand. No lock is
//    held across a suspension.
#include "larder/cache/remote/redis_client.hpp"

#include <atomic>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <larder/cache/remote/key_slot.hpp>

#include "remote/redis_node_pool.hpp"
#include "remote/slot_map.hpp"

namespace larder {
namespace {

std::string name_of(const redis_node_address& node) {
  return node.host + ":" + std::to_string(node.port);
}

// A MOVED or ASK error reply: "MOVED 3999 127.0.0.1:6381". Redis 7 leaves the host out
// (":6381") when it does not know the node's address; it is then the host we asked.
struct redirection {
  bool ask = false;
  redis_node_address node;
};

std::optional<redirection> parse_redirection(std::string_view reply,
                                             const redis_node_address& asked) {
  redirection r;
  if (reply.starts_with("MOVED ")) {
    reply.remove_prefix(6);
  } else if (reply.starts_with("ASK ")) {
    reply.remove_prefix(4);
    r.ask = true;
  } else {
    return std::nullopt;
  }
  const std::size_t space = reply.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view address = reply.substr(space + 1);
  const std::size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  int port = 0;
  try {
    port = std::stoi(std::string(address.substr(colon + 1)));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (port <= 0 || port > UINT16_MAX) return std::nullopt;
  r.node.host = colon == 0 ? asked.host : std::string(address.substr(0, colon));
  r.node.port = static_cast<std::uint16_t>(port);
  return r;
}

}  // namespace

class redis_client::state : public std::enable_shared_from_this<state> {
 public:
  state(asio::any_io_executor executor, redis_client_options options)
      : executor_(std::move(executor)),
        options_(std::move(options)),
        map_(slot_map::standalone(redis_node_address{})) {}

  // Learns the map from the first seed that answers.
  asio::awaitable<void> start() {
    const auto self = shared_from_this();
    std::string last_failure = "no seeds given";
    for (const redis_node_address& seed : options_.seeds) {
      try {
        slot_map map = co_await fetch_slot_map(pool_of(seed));
        std::lock_guard lock(mu_);
        map_ = std::move(map);
        co_return;
      } catch (const std::system_error& e) {
        if (e.code() == std::errc::permission_denied) throw;
        last_failure = e.what();
      } catch (const std::exception& e) {
        last_failure = "redis " + name_of(seed) + ": " + e.what();
      }
    }
    throw std::system_error(std::make_error_code(std::errc::connection_refused),
                            "redis: no seed answered; the last one: " + last_failure);
  }

  // Sends `args` to the node of `slot`, following redirections (see 2).
  asio::awaitable<redis_reply> execute(std::vector<std::string> args, std::uint16_t slot) {
    const auto self = shared_from_this();
    requests_.fetch_add(1, std::memory_order_relaxed);
    std::optional<redis_node_address> target;  // where a redirection sends the next attempt
    bool asking = false;
    for (int redirections = 0;; ++redirections) {
      std::shared_ptr<redis_node_pool> pool;
      std::shared_ptr<redis_connection> connection;
      std::exception_ptr failure;
      std::string error_reply;
      try {
        pool = target ? pool_of(*target) : pool_of_slot(slot);
        connection = co_await pool->acquire();
        std::vector<std::string> attempt = args;
        if (asking) {
          std::vector<std::string> asking_command{"ASKING"};
          std::vector<std::vector<std::string>> sequence;
          sequence.push_back(std::move(asking_command));
          sequence.push_back(std::move(attempt));
          co_return co_await connection->command_sequence(std::move(sequence));
        }
        co_return co_await connection->command(std::move(attempt));
      } catch (const redis_error& e) {
        error_reply = e.what();
        failure = std::current_exception();
      } catch (const std::system_error& e) {
        failure = std::current_exception();
        if (e.code() == std::errc::timed_out) timeouts_.fetch_add(1, std::memory_order_relaxed);
        if (connection != nullptr && e.code() != std::errc::operation_canceled)
          pool->discard(connection);
        if (e.code() != std::errc::operation_canceled && e.code() != std::errc::permission_denied)
          schedule_refresh();
      } catch (...) {
        failure = std::current_exception();
      }
      const std::optional<redirection> redirect =
          error_reply.empty() ? std::nullopt : parse_redirection(error_reply, pool->address());
      if (!redirect) {
        failed_requests_.fetch_add(1, std::memory_order_relaxed);
        std::rethrow_exception(failure);
      }
      if (redirections >= options_.max_redirections) {
        failed_requests_.fetch_add(1, std::memory_order_relaxed);
        throw std::system_error(std::make_error_code(std::errc::protocol_error),
                                "redis: more than " + std::to_string(options_.max_redirections) +
                                    " redirections for slot " + std::to_string(slot) +
                                    "; the last: " + error_reply);
      }
      if (redirect->ask) {
        ask_redirections_.fetch_add(1, std::memory_order_relaxed);
      } else {
        moved_redirections_.fetch_add(1, std::memory_order_relaxed);
        {
          std::lock_guard lock(mu_);
          map_.assign(slot, redirect->node);
        }
        schedule_refresh();
      }
      target = redirect->node;
      asking = redirect->ask;
    }
  }

  redis_client_stats stats() const {
    redis_client_stats s;
    s.requests = requests_.load(std::memory_order_relaxed);
    s.failed_requests = failed_requests_.load(std::memory_order_relaxed);
    s.timeouts = timeouts_.load(std::memory_order_relaxed);
    s.moved_redirections = moved_redirections_.load(std::memory_order_relaxed);
    s.ask_redirections = ask_redirections_.load(std::memory_order_relaxed);
    s.slot_map_refreshes = slot_map_refreshes_.load(std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    for (const auto& [name, pool] : pools_) {
      s.connects += pool->connects();
      s.connect_failures += pool->connect_failures();
    }
    s.nodes = map_.nodes().size();
    s.cluster = map_.cluster();
    return s;
  }

  void close() {
    std::map<std::string, std::shared_ptr<redis_node_pool>> pools;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      pools = pools_;
    }
    for (const auto& [name, pool] : pools)
      pool->close();
  }

 private:
  // The pool of `node`, created on first use.
  std::shared_ptr<redis_node_pool> pool_of(const redis_node_address& node) {
    std::lock_guard lock(mu_);
    return pool_of_locked(node);
  }

  // REQUIRES: mu_ held.
  std::shared_ptr<redis_node_pool> pool_of_locked(const redis_node_address& node) {
    auto& pool = pools_[name_of(node)];
    if (pool == nullptr) {
      pool = std::make_shared<redis_node_pool>(executor_, node, options_);
      if (closed_) pool->close();
    }
    return pool;
  }

  std::shared_ptr<redis_node_pool> pool_of_slot(std::uint16_t slot) {
    std::lock_guard lock(mu_);
    const std::optional<redis_node_address> owner = map_.owner(slot);
    if (!owner) {
      throw std::system_error(std::make_error_code(std::errc::host_unreachable),
                              "redis: no node serves slot " + std::to_string(slot));
    }
    return pool_of_locked(*owner);
  }

  // CLUSTER SLOTS of the node of `pool`; a standalone server owns every slot.
  asio::awaitable<slot_map> fetch_slot_map(std::shared_ptr<redis_node_pool> pool) {
    std::shared_ptr<redis_connection> connection = co_await pool->acquire();
    redis_reply reply;
    bool standalone = false;
    try {
      std::vector<std::string> cluster_slots{"CLUSTER", "SLOTS"};
      reply = co_await connection->command(std::move(cluster_slots));
    } catch (const redis_error& e) {
      if (std::string_view(e.what()).find("cluster support disabled") == std::string_view::npos)
        throw;
      standalone = true;
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::operation_canceled) pool->discard(connection);
      throw;
    }
    if (standalone) co_return slot_map::standalone(pool->address());
    co_return slot_map::from_cluster_slots(reply, pool->address());
  }

  // See 3.
  void schedule_refresh() {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      if (refreshing_) {
        refresh_again_ = true;
        return;
      }
      refreshing_ = true;
    }
    // No cancellation slot: see redis_connection.cpp on Boost 1.81's co_spawn.
    asio::co_spawn(executor_, refresh_loop(shared_from_this()), asio::detached);
  }

  static asio::awaitable<void> refresh_loop(std::shared_ptr<state> self) {
    for (;;) {
      const auto earliest = self->last_refresh_ + self->options_.reconnect_backoff_min;
      if (std::chrono::steady_clock::now() < earliest) {
        asio::steady_timer timer(self->executor_, earliest);
        boost::system::error_code ignored;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
      self->last_refresh_ = std::chrono::steady_clock::now();
      co_await self->refresh_once();
      std::lock_guard lock(self->mu_);
      if (!self->refresh_again_ || self->closed_) {
        self->refreshing_ = false;
        co_return;
      }
      self->refresh_again_ = false;
    }
  }

  asio::awaitable<void> refresh_once() {
    std::vector<redis_node_address> candidates;
    {
      std::lock_guard lock(mu_);
      candidates = map_.nodes();
    }
    candidates.insert(candidates.end(), options_.seeds.begin(), options_.seeds.end());
    for (const redis_node_address& node : candidates) {
      try {
        slot_map map = co_await fetch_slot_map(pool_of(node));
        std::lock_guard lock(mu_);
        map_ = std::move(map);
        slot_map_refreshes_.fetch_add(1, std::memory_order_relaxed);
        co_return;
      } catch (const std::exception&) {
        // The next node may answer; requests meanwhile route by the map as it is.
      }
    }
  }

  const asio::any_io_executor executor_;
  const redis_client_options options_;

  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> failed_requests_{0};
  std::atomic<std::uint64_t> timeouts_{0};
  std::atomic<std::uint64_t> moved_redirections_{0};
  std::atomic<std::uint64_t> ask_redirections_{0};
  std::atomic<std::uint64_t> slot_map_refreshes_{0};

  // Only the one running refresh_loop touches it (refreshing_ hands it from one to the next).
  std::chrono::steady_clock::time_point last_refresh_{};

  // mu_ protects the fields below.
  mutable std::mutex mu_;
  slot_map map_;
  std::map<std::string, std::shared_ptr<redis_node_pool>> pools_;  // by host:port
  bool refreshing_ = false;                                        // a refresh_loop runs
  bool refresh_again_ = false;  // a refresh was asked for while one ran
  bool closed_ = false;
};

asio::awaitable<std::unique_ptr<redis_client>> redis_client::connect(asio::any_io_executor executor,
                                                                     redis_client_options options) {
  auto s = std::make_shared<state>(std::move(executor), std::move(options));
  try {
    co_await s->start();
  } catch (...) {
    s->close();
    throw;
  }
  co_return std::unique_ptr<redis_client>(new redis_client(std::move(s)));
}

redis_client::redis_client(std::shared_ptr<state> state) : state_(std::move(state)) {}

redis_client::~redis_client() {
  close();
}

void redis_client::close() {
  state_->close();
}

redis_client_stats redis_client::stats() const {
  return state_->stats();
}

asio::awaitable<std::optional<blob>> redis_client::get(std::string_view key) {
  std::vector<std::string> args{"GET", std::string(key)};
  const std::uint16_t slot = key_slot(key);
  redis_reply reply = co_await state_->execute(std::move(args), slot);
  if (reply.type == redis_reply::kind::nil) co_return std::nullopt;
  co_return blob::copy_of(std::string_view(reply.text));
}

asio::awaitable<std::vector<std::optional<blob>>> redis_client::mget(
    std::span<const std::string> keys) {
  std::vector<std::optional<blob>> values;
  if (keys.empty()) co_return values;
  const std::uint16_t slot = key_slot(keys.front());
  std::vector<std::string> args{"MGET"};
  for (const std::string& key : keys) {
    if (key_slot(key) != slot) {
      throw std::invalid_argument("redis mget: \"" + key + "\" and \"" + keys.front() +
                                  "\" are in different hash slots; give them one {hash tag}");
    }
    args.push_back(key);
  }
  redis_reply reply = co_await state_->execute(std::move(args), slot);
  values.reserve(reply.elements.size());
  for (const redis_reply& element : reply.elements) {
    if (element.type == redis_reply::kind::nil) {
      values.emplace_back(std::nullopt);
    } else {
      values.emplace_back(blob::copy_of(std::string_view(element.text)));
    }
  }
  co_return values;
}

asio::awaitable<void> redis_client::set(std::string_view key, std::span<const std::byte> value,
                                        std::chrono::milliseconds ttl) {
  std::vector<std::string> args{
      "SET", std::string(key),
      std::string(reinterpret_cast<const char*>(value.data()), value.size())};
  if (ttl.count() > 0) {
    args.emplace_back("PX");
    args.push_back(std::to_string(ttl.count()));
  }
  const std::uint16_t slot = key_slot(key);
  co_await state_->execute(std::move(args), slot);
}

asio::awaitable<bool> redis_client::del(std::string_view key) {
  std::vector<std::string> args{"DEL", std::string(key)};
  const std::uint16_t slot = key_slot(key);
  const redis_reply reply = co_await state_->execute(std::move(args), slot);
  co_return reply.integer > 0;
}

}  // namespace larder
