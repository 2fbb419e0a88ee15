#include "larder/scheduler/prefetcher.hpp"

#include <cassert>
#include <utility>

#include <spdlog/fmt/fmt.h>

#include <larder/runtime/log.hpp>

#include "describe_exception.hpp"

namespace larder {
namespace {

std::string failure_message(const std::string& key, std::size_t item, std::size_t batch,
                            const std::exception_ptr& cause) {
  assert(cause);
  if (key.empty()) {
    return fmt::format("larder::prefetcher: fetching item {} (batch {}) failed: {}", item, batch,
                       detail::describe(cause));
  }
  return fmt::format("larder::prefetcher: fetching key '{}' (item {}, batch {}) failed: {}", key,
                     item, batch, detail::describe(cause));
}

}  // namespace

prefetch_error::prefetch_error(std::string key, std::size_t item, std::size_t batch,
                               std::exception_ptr cause)
    : std::runtime_error(failure_message(key, item, batch, cause)),
      key_(std::move(key)),
      item_(item),
      batch_(batch),
      cause_(std::move(cause)) {}

namespace detail {

void log_escaped_fetch_error(const std::exception_ptr& error) noexcept {
  try {
    log().critical("prefetcher: a fetch coroutine failed outside its fetch: {}",
                   detail::describe(error));
  } catch (...) {
    // Logging itself failed; there is nobody left to tell.
  }
}

}  // namespace detail
}  // namespace larder
