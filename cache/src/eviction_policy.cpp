#include "larder/cache/eviction_policy.hpp"

#include <stdexcept>

#include "larder/cache/fifo_policy.hpp"
#include "larder/cache/lru_policy.hpp"

namespace larder {

std::unique_ptr<eviction_policy> make_eviction_policy(memory_policy kind) {
  switch (kind) {
    case memory_policy::lru:
      return std::make_unique<lru_policy>();
    case memory_policy::fifo:
      return std::make_unique<fifo_policy>();
  }
  throw std::invalid_argument("unknown memory policy");
}

}  // namespace larder
