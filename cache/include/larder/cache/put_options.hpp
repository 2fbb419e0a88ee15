// put_options: per-entry settings given with a put.
#pragma once

#include <chrono>

namespace larder {

struct put_options {
  // Time to live from the moment of the put; zero means the entry never expires. An expired
  // entry is a miss and is dropped when next looked up or when expired entries are purged.
  std::chrono::nanoseconds ttl{0};
  // When the key is already present, keep its value and store nothing (memcached's `add`).
  bool keep_existing = false;
};

}  // namespace larder
