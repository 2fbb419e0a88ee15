#include <larder/config/cache_config.hpp>

#include "ascii_text.hpp"

namespace larder {

std::string_view to_string(memory_policy p) noexcept {
  switch (p) {
    case memory_policy::lru:
      return "lru";
    case memory_policy::fifo:
      return "fifo";
    case memory_policy::s3fifo:
      return "s3fifo";
    case memory_policy::sieve:
      return "sieve";
    case memory_policy::wtinylfu:
      return "wtinylfu";
  }
  return "unknown";
}

std::string_view to_string(cleanup_policy p) noexcept {
  switch (p) {
    case cleanup_policy::lru:
      return "lru";
    case cleanup_policy::fifo:
      return "fifo";
    case cleanup_policy::time:
      return "time";
    case cleanup_policy::size:
      return "size";
  }
  return "unknown";
}

std::string_view to_string(remote_use u) noexcept {
  switch (u) {
    case remote_use::read_write:
      return "read_write";
    case remote_use::read_only:
      return "read_only";
    case remote_use::off:
      return "off";
  }
  return "unknown";
}

std::optional<remote_use> parse_remote_use(std::string_view name) noexcept {
  for (const remote_use u : {remote_use::read_write, remote_use::read_only, remote_use::off}) {
    if (equals_ignoring_case(name, to_string(u))) return u;
  }
  return std::nullopt;
}

std::string_view to_string(large_value_policy p) noexcept {
  switch (p) {
    case large_value_policy::chunk:
      return "chunk";
    case large_value_policy::skip:
      return "skip";
  }
  return "unknown";
}

std::optional<large_value_policy> parse_large_value_policy(std::string_view name) noexcept {
  for (const large_value_policy p : {large_value_policy::chunk, large_value_policy::skip}) {
    if (equals_ignoring_case(name, to_string(p))) return p;
  }
  return std::nullopt;
}

std::optional<memory_policy> parse_memory_policy(std::string_view name) noexcept {
  for (const memory_policy p : all_memory_policies) {
    if (equals_ignoring_case(name, to_string(p))) return p;
  }
  return std::nullopt;
}

std::optional<cleanup_policy> parse_cleanup_policy(std::string_view name) noexcept {
  for (const cleanup_policy p :
       {cleanup_policy::lru, cleanup_policy::fifo, cleanup_policy::time, cleanup_policy::size}) {
    if (equals_ignoring_case(name, to_string(p))) return p;
  }
  return std::nullopt;
}

}  // namespace larder
