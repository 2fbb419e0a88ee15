#include "larder/cache/cache_manager.hpp"

#include "larder/runtime/log.hpp"

namespace larder {

cache_manager::cache_manager(executor_type executor, const cache_config& config)
    : cache_manager(std::move(executor), memory_tier_options::from_config(config)) {}

cache_manager::cache_manager(executor_type executor, memory_tier_options memory)
    : executor_(std::move(executor)), memory_(std::move(memory)) {
  log().info("cache: memory tier {} MB, policy {}, {} shard(s), high-water {} MB",
             memory_.capacity_bytes() / 1000000, to_string(memory_.policy()), memory_.shard_count(),
             memory_.high_water_bytes() / 1000000);
}

asio::awaitable<std::optional<blob>> cache_manager::get(std::string_view key) {
  co_return memory_.get(key);
}

asio::awaitable<bool> cache_manager::put(std::string_view key, blob value, put_options options) {
  co_return memory_.put(key, std::move(value), options);
}

asio::awaitable<bool> cache_manager::remove(std::string_view key) {
  co_return memory_.erase(key);
}

asio::awaitable<void> cache_manager::clear() {
  memory_.clear();
  co_return;
}

cache_stats cache_manager::stats() const {
  cache_stats out;
  out.memory = memory_.stats();
  out.loads = load_count_.load(std::memory_order_relaxed);
  out.coalesced_loads = loads_.coalesced();
  return out;
}

}  // namespace larder
