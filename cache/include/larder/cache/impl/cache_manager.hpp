// Template bodies of cache_manager; include <larder/cache/cache_manager.hpp> instead.
#pragma once

#include <utility>

namespace larder {

template <typename Loader>
asio::awaitable<blob> cache_manager::get_or_load(std::string_view key, Loader loader,
                                                 put_options options) {
  if (auto hit = memory_.get(key)) co_return std::move(*hit);
  loaded_value shared =
      co_await loads_.run(key, [&] { return load_and_store(key, loader, options); });
  if (!shared.from_loader) hits_below_memory_.fetch_add(1, std::memory_order_relaxed);
  co_return std::move(shared.value);
}

template <typename Loader>
asio::awaitable<cache_manager::loaded_value> cache_manager::load_and_store(std::string_view key,
                                                                           Loader& loader,
                                                                           put_options options) {
  // A flight for this key may have finished between our miss and becoming the leader.
  if (auto hit = memory_.peek(key)) co_return loaded_value{std::move(*hit)};
  if (disk_ || remote_) {
    if (auto from_below = co_await read_lower_tiers_and_promote(key)) {
      co_return loaded_value{std::move(*from_below)};
    }
  }
  load_count_.fetch_add(1, std::memory_order_relaxed);
  blob value = co_await loader();
  // A put of this key while the loader ran is newer than what the loader read: keep it.
  options.keep_existing = true;
  // Not stored in memory because a newer put got there first: that put went to disk too. Not
  // stored for any other reason (too large, not admitted): the disk may still keep it.
  if (memory_.put(key, value, options) || !memory_.contains(key)) {
    co_await store_on_disk(key, value, options);
    publish_remote(key, value, options);
  }
  co_return loaded_value{std::move(value), true};
}

template <typename T>
asio::awaitable<std::optional<T>> cache_manager::get_as(std::string_view key) {
  auto value = co_await get(key);
  if (!value) co_return std::nullopt;
  co_return codec<T>::decode(*value);
}

template <typename T>
asio::awaitable<bool> cache_manager::put_as(std::string_view key, const T& value,
                                            put_options options) {
  co_return co_await put(key, codec<T>::encode(value), options);
}

}  // namespace larder
