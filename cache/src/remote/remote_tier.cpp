// remote_tier: design notes in the header. Here:
//
// 1. State. Everything a background task needs lives in `state`, held by shared_ptr: the
//    handle, every publish in flight and the reconnect loop each own a reference.
// 2. The client. It is a shared_ptr swapped in under mu_ once a connect succeeds; a request takes
//    a copy, so the client outlives every request made on it.
// 3. The breaker. Every request that the breaker allowed reports its outcome to it exactly once;
//    the checks that can refuse a publish without asking the server (size, requests in flight)
//    come before allow(), so a half-open probe is never lost.
#include "larder/cache/remote/remote_tier.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <mutex>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "larder/runtime/log.hpp"
#include "remote/circuit_breaker.hpp"
#include "remote/remote_value.hpp"

namespace larder {
namespace {

std::int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Redis expiries are whole milliseconds; a TTL below one still expires.
std::chrono::milliseconds redis_ttl(std::chrono::nanoseconds ttl) {
  if (ttl.count() <= 0) return std::chrono::milliseconds(0);
  return std::max(std::chrono::milliseconds(1), std::chrono::ceil<std::chrono::milliseconds>(ttl));
}

redis_node_address parse_node(const std::string& node) {
  // The configuration reader has checked "host:port" and "[v6]:port".
  const auto colon = node.rfind(':');
  redis_node_address out;
  out.host = node.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  out.port = static_cast<std::uint16_t>(std::stoul(node.substr(colon + 1)));
  return out;
}

bool is_timeout(const std::exception& e) {
  const auto* error = dynamic_cast<const std::system_error*>(&e);
  return error != nullptr && error->code() == std::errc::timed_out;
}

}  // namespace

remote_tier_options remote_tier_options::from_config(const cache_config& config,
                                                     std::string cache_name, remote_use use) {
  const remote_config& r = config.remote;
  remote_tier_options out;
  out.client.seeds.clear();
  for (const std::string& node : r.nodes)
    out.client.seeds.push_back(parse_node(node));
  if (!r.user.empty()) out.client.user = r.user;
  if (!r.password.empty()) out.client.password = r.password;
  out.client.request_timeout = r.request_timeout;
  out.client.connect_timeout = r.connect_timeout;
  out.client.connections_per_node = r.connections_per_node;
  if (r.tls.enabled) {
    redis_tls tls;
    tls.ca_file = r.tls.ca_file.string();
    tls.cert_file = r.tls.cert_file.string();
    tls.key_file = r.tls.key_file.string();
    if (!r.tls.server_name.empty()) tls.server_name = r.tls.server_name;
    tls.verify_peer = r.tls.verify_peer;
    out.client.tls = std::move(tls);
  }
  out.key_prefix = r.key_prefix;
  out.cache_name = std::move(cache_name);
  out.use = use;
  out.compression = config.memory.compression;
  out.chunk_size = r.chunk_size;
  out.large_values = r.large_values;
  out.max_value_size = r.max_value_size;
  out.breaker_failures = r.breaker_failures;
  out.breaker_open_for = r.breaker_open_for;
  return out;
}

class remote_tier::state : public std::enable_shared_from_this<state> {
 public:
  state(asio::any_io_executor executor, remote_tier_options options)
      : executor_(std::move(executor)),
        strand_(asio::make_strand(executor_)),
        reconnect_timer_(strand_),
        options_(std::move(options)),
        breaker_({.failure_threshold = options_.breaker_failures,
                  .open_for = options_.breaker_open_for}) {}

  const remote_tier_options& options() const { return options_; }

  std::shared_ptr<redis_client> client() const {
    std::lock_guard lock(mu_);
    return client_;
  }

  // Tries once; on success the tier is connected. Throws what redis_client::connect throws.
  asio::awaitable<void> connect() {
    std::shared_ptr<redis_client> c = co_await redis_client::connect(executor_, options_.client);
    std::lock_guard lock(mu_);
    if (closing_) {
      c->close();
      co_return;
    }
    client_ = std::move(c);
  }

  // Keeps trying to connect, with backoff, until it succeeds or the tier closes.
  static asio::awaitable<void> reconnect(std::shared_ptr<state> self) {
    auto backoff =
        std::max(self->options_.client.reconnect_backoff_min, std::chrono::milliseconds(1));
    for (;;) {
      self->reconnect_timer_.expires_after(backoff);
      boost::system::error_code ignored;
      co_await self->reconnect_timer_.async_wait(
          asio::redirect_error(asio::use_awaitable, ignored));
      if (self->closing()) co_return;
      try {
        co_await self->connect();
        log().info("remote tier {}: connected", self->options_.cache_name);
        co_return;
      } catch (const std::exception& e) {
        log().debug("remote tier {}: still unreachable: {}", self->options_.cache_name, e.what());
      }
      backoff = std::min(backoff * 2, self->options_.client.reconnect_backoff_max);
    }
  }

  bool closing() const {
    std::lock_guard lock(mu_);
    return closing_;
  }

  // Marks the tier closing and hands back the client to close.
  std::shared_ptr<redis_client> begin_close() {
    std::shared_ptr<redis_client> c;
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      c = std::move(client_);
    }
    asio::post(strand_, [self = shared_from_this()] { self->reconnect_timer_.cancel(); });
    return c;
  }

  bool allow() { return breaker_.allow(std::chrono::steady_clock::now()); }

  void succeeded() {
    if (breaker_.record_success() == remote::circuit_breaker::transition::closed) {
      log().info("remote tier {}: the server answers again; asking it again", options_.cache_name);
    }
  }

  void failed(const std::exception& e) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    if (is_timeout(e)) timeouts_.fetch_add(1, std::memory_order_relaxed);
    const auto t = breaker_.record_failure(std::chrono::steady_clock::now());
    if (t == remote::circuit_breaker::transition::opened) {
      log().warn(
          "remote tier {}: {} failed request(s) in a row (last: {}); not asking for {} ms, local "
          "misses go to the loader",
          options_.cache_name, options_.breaker_failures, e.what(),
          options_.breaker_open_for.count());
    }
  }

  // Publishes at most max_publishes_in_flight at a time; false when that many run already.
  bool start_publish() {
    if (publishing_.fetch_add(1, std::memory_order_relaxed) < options_.max_publishes_in_flight) {
      return true;
    }
    publishing_.fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  void end_publish() { publishing_.fetch_sub(1, std::memory_order_release); }
  std::size_t publishing() const { return publishing_.load(std::memory_order_acquire); }

  static asio::awaitable<void> publish(std::shared_ptr<state> self,
                                       std::shared_ptr<redis_client> client, std::string key,
                                       blob value, std::chrono::nanoseconds ttl) {
    const remote_tier_options& o = self->options_;
    try {
      const std::int64_t expires = ttl.count() > 0 ? unix_now_ns() + ttl.count() : 0;
      const disk::compression_settings compression{.enabled = o.compression};
      const std::vector<std::byte> encoded =
          remote::encode_value(key, value.bytes(), expires, compression);
      const std::string rkey = remote::remote_key(o.key_prefix, o.cache_name, key);
      const std::chrono::milliseconds px = redis_ttl(ttl);
      const std::span<const std::byte> whole(encoded);
      if (encoded.size() <= o.chunk_size) {
        co_await client->set(rkey, whole, px);
      } else {
        const auto chunk_size = static_cast<std::uint32_t>(o.chunk_size);
        const std::uint32_t chunks = remote::chunk_count(encoded.size(), chunk_size);
        // Chunks first: a reader that finds the manifest finds them (remote_value.hpp).
        for (std::uint32_t i = 0; i < chunks; ++i) {
          const std::string ckey = remote::chunk_key(rkey, i + 1);
          const std::span<const std::byte> chunk = remote::chunk_of(whole, chunk_size, i);
          co_await client->set(ckey, chunk, px);
        }
        const std::vector<std::byte> manifest = remote::encode_manifest(
            {.chunks = chunks, .chunk_size = chunk_size, .total_size = encoded.size()});
        const std::span<const std::byte> manifest_bytes(manifest);
        co_await client->set(rkey, manifest_bytes, px);
        self->chunked_publishes_.fetch_add(1, std::memory_order_relaxed);
      }
      self->publishes_.fetch_add(1, std::memory_order_relaxed);
      self->published_bytes_.fetch_add(encoded.size(), std::memory_order_relaxed);
      self->succeeded();
    } catch (const std::exception& e) {
      self->failed(e);
    }
    self->end_publish();
  }

  // The stored bytes under rkey, chunks put together; nullopt when absent. A manifest whose
  // chunks are missing or do not add up gives bytes that fail verification.
  static asio::awaitable<std::optional<std::vector<std::byte>>> read_stored(redis_client& client,
                                                                            std::string rkey) {
    std::optional<blob> head = co_await client.get(rkey);
    if (!head) co_return std::nullopt;
    const std::optional<remote::chunk_manifest> manifest = remote::decode_manifest(head->bytes());
    if (!manifest) {
      co_return std::vector<std::byte>(head->bytes().begin(), head->bytes().end());
    }
    std::vector<std::string> keys;
    keys.reserve(manifest->chunks);
    for (std::uint32_t i = 1; i <= manifest->chunks; ++i)
      keys.push_back(remote::chunk_key(rkey, i));
    const std::span<const std::string> chunk_keys(keys);
    const std::vector<std::optional<blob>> parts = co_await client.mget(chunk_keys);
    std::vector<std::byte> out;
    out.reserve(manifest->total_size);
    for (const std::optional<blob>& part : parts) {
      if (!part || out.size() + part->size() > manifest->total_size) {
        out.clear();
        break;
      }
      out.insert(out.end(), part->bytes().begin(), part->bytes().end());
    }
    co_return out;
  }

  remote_tier_stats stats() const {
    remote_tier_stats s;
    s.lookups = lookups_.load(std::memory_order_relaxed);
    s.hits = hits_.load(std::memory_order_relaxed);
    s.misses = misses_.load(std::memory_order_relaxed);
    s.errors = errors_.load(std::memory_order_relaxed);
    s.timeouts = timeouts_.load(std::memory_order_relaxed);
    s.refused = breaker_.refused();
    s.breaker_opened = breaker_.opened();
    s.breaker_open = breaker_.current() != remote::circuit_breaker::state::closed;
    s.corrupt_values = corrupt_.load(std::memory_order_relaxed);
    s.other_key_values = other_key_.load(std::memory_order_relaxed);
    s.read_bytes = read_bytes_.load(std::memory_order_relaxed);
    s.publishes = publishes_.load(std::memory_order_relaxed);
    s.chunked_publishes = chunked_publishes_.load(std::memory_order_relaxed);
    s.published_bytes = published_bytes_.load(std::memory_order_relaxed);
    s.skipped_large = skipped_large_.load(std::memory_order_relaxed);
    s.dropped = dropped_.load(std::memory_order_relaxed);
    s.get_latency = get_latency_.summary();
    if (const auto c = client()) {
      s.connected = true;
      s.client = c->stats();
    }
    return s;
  }

  asio::any_io_executor executor_;
  asio::strand<asio::any_io_executor> strand_;
  // Used on strand_ only.
  asio::steady_timer reconnect_timer_;
  const remote_tier_options options_;
  remote::circuit_breaker breaker_;

  std::atomic<std::uint64_t> lookups_{0};
  std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> misses_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::uint64_t> timeouts_{0};
  std::atomic<std::uint64_t> corrupt_{0};
  std::atomic<std::uint64_t> other_key_{0};
  std::atomic<std::uint64_t> read_bytes_{0};
  std::atomic<std::uint64_t> publishes_{0};
  std::atomic<std::uint64_t> chunked_publishes_{0};
  std::atomic<std::uint64_t> published_bytes_{0};
  std::atomic<std::uint64_t> skipped_large_{0};
  std::atomic<std::uint64_t> dropped_{0};
  latency_histogram get_latency_;

 private:
  std::atomic<std::size_t> publishing_{0};
  mutable std::mutex mu_;
  // mu_ protects the fields below.
  std::shared_ptr<redis_client> client_;
  bool closing_ = false;
};

asio::awaitable<std::unique_ptr<remote_tier>> remote_tier::open(asio::any_io_executor executor,
                                                                remote_tier_options options) {
  auto s = std::make_shared<state>(executor, std::move(options));
  const remote_tier_options& o = s->options();
  try {
    co_await s->connect();
    const redis_client_stats c = s->client()->stats();
    log().info("remote tier {}: {} with {} node(s), keys {}:{}:*, {}", o.cache_name,
               c.cluster ? "Redis Cluster" : "standalone Redis", c.nodes, o.key_prefix,
               o.cache_name, to_string(o.use));
  } catch (const std::system_error& e) {
    // Credentials the server refuses will not start working by retrying.
    if (e.code() == std::errc::permission_denied) throw;
    log().warn(
        "remote tier {}: no node answers ({}); running without it and reconnecting in the "
        "background",
        o.cache_name, e.what());
    asio::co_spawn(s->strand_, state::reconnect(s), asio::detached);
  }
  co_return std::unique_ptr<remote_tier>(new remote_tier(std::move(s)));
}

remote_tier::remote_tier(std::shared_ptr<state> state) : state_(std::move(state)) {}

remote_tier::~remote_tier() {
  if (auto c = state_->begin_close()) c->close();
}

remote_use remote_tier::use() const noexcept {
  return state_->options().use;
}

asio::awaitable<std::optional<remote_tier::found>> remote_tier::get(std::string_view key) {
  state& s = *state_;
  s.lookups_.fetch_add(1, std::memory_order_relaxed);
  const std::shared_ptr<redis_client> client = s.client();
  if (!client || !s.allow()) {
    s.misses_.fetch_add(1, std::memory_order_relaxed);
    co_return std::nullopt;
  }
  const remote_tier_options& o = s.options();
  const std::string rkey = remote::remote_key(o.key_prefix, o.cache_name, key);
  std::optional<std::vector<std::byte>> stored;
  const latency_timer timer;
  try {
    stored = co_await state::read_stored(*client, rkey);
    s.succeeded();
  } catch (const std::exception& e) {
    s.failed(e);
    s.misses_.fetch_add(1, std::memory_order_relaxed);
    co_return std::nullopt;
  }
  timer.record(s.get_latency_);
  if (!stored) {
    s.misses_.fetch_add(1, std::memory_order_relaxed);
    co_return std::nullopt;
  }
  const std::int64_t now = unix_now_ns();
  remote::decoded_value decoded = remote::decode_value(*stored, key, now);
  switch (decoded.outcome) {
    case remote::decode_outcome::value: {
      s.hits_.fetch_add(1, std::memory_order_relaxed);
      s.read_bytes_.fetch_add(stored->size(), std::memory_order_relaxed);
      found out{.value = std::move(*decoded.value)};
      if (decoded.expires_at_unix_ns != 0) {
        out.ttl = std::chrono::nanoseconds(decoded.expires_at_unix_ns - now);
      }
      co_return out;
    }
    case remote::decode_outcome::corrupt:
      s.corrupt_.fetch_add(1, std::memory_order_relaxed);
      log().warn("remote tier {}: the value under {} failed verification ({} bytes); a miss",
                 o.cache_name, rkey, stored->size());
      break;
    case remote::decode_outcome::other_key:
      s.other_key_.fetch_add(1, std::memory_order_relaxed);
      break;
    case remote::decode_outcome::expired:
      break;
  }
  s.misses_.fetch_add(1, std::memory_order_relaxed);
  co_return std::nullopt;
}

void remote_tier::publish(std::string_view key, blob value, std::chrono::nanoseconds ttl) {
  state& s = *state_;
  const remote_tier_options& o = s.options();
  if (o.use != remote_use::read_write) return;
  // Decided on the value's raw size: compression runs in the background.
  const std::size_t raw = disk::encoded_size(key.size(), value.size());
  if (value.size() > o.max_value_size || key.size() > disk::max_key_size ||
      (raw > o.chunk_size && o.large_values == large_value_policy::skip)) {
    s.skipped_large_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::shared_ptr<redis_client> client = s.client();
  if (!client || !s.start_publish()) {
    s.dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!s.allow()) {
    s.end_publish();
    s.dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  asio::co_spawn(s.executor_,
                 state::publish(state_, std::move(client), std::string(key), std::move(value), ttl),
                 asio::detached);
}

asio::awaitable<bool> remote_tier::erase(std::string_view key) {
  state& s = *state_;
  const std::shared_ptr<redis_client> client = s.client();
  if (!client || !s.allow()) co_return false;
  const remote_tier_options& o = s.options();
  const std::string rkey = remote::remote_key(o.key_prefix, o.cache_name, key);
  try {
    if (std::optional<blob> head = co_await client->get(rkey)) {
      if (const auto manifest = remote::decode_manifest(head->bytes())) {
        for (std::uint32_t i = 1; i <= manifest->chunks; ++i) {
          const std::string ckey = remote::chunk_key(rkey, i);
          co_await client->del(ckey);
        }
      }
    }
    const bool existed = co_await client->del(rkey);
    s.succeeded();
    co_return existed;
  } catch (const std::exception& e) {
    s.failed(e);
    co_return false;
  }
}

asio::awaitable<void> remote_tier::close() {
  const std::shared_ptr<redis_client> client = state_->begin_close();
  // Each publish ends within its requests' deadlines.
  asio::steady_timer poll(co_await asio::this_coro::executor);
  while (state_->publishing() > 0) {
    poll.expires_after(std::chrono::milliseconds(2));
    co_await poll.async_wait(asio::use_awaitable);
  }
  if (client) client->close();
}

remote_tier_stats remote_tier::stats() const {
  return state_->stats();
}

}  // namespace larder
