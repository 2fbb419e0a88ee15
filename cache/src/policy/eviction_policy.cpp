#include "larder/cache/policy/eviction_policy.hpp"

#include <stdexcept>

#include "larder/cache/policy/fifo_policy.hpp"
#include "larder/cache/policy/lru_policy.hpp"
#include "larder/cache/policy/s3fifo_policy.hpp"
#include "larder/cache/policy/sieve_policy.hpp"
#include "larder/cache/policy/wtinylfu_policy.hpp"

namespace larder {

std::unique_ptr<eviction_policy> make_eviction_policy(memory_policy kind) {
  switch (kind) {
    case memory_policy::lru:
      return std::make_unique<lru_policy>();
    case memory_policy::fifo:
      return std::make_unique<fifo_policy>();
    case memory_policy::s3fifo:
      return std::make_unique<s3fifo_policy>();
    case memory_policy::sieve:
      return std::make_unique<sieve_policy>();
    case memory_policy::wtinylfu:
      return std::make_unique<wtinylfu_policy>();
  }
  throw std::invalid_argument("unknown memory policy");
}

}  // namespace larder
