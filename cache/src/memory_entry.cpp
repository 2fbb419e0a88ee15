#include "larder/cache/memory_entry.hpp"

#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

namespace larder {

memory_entry::owner memory_entry::create(std::string_view key, std::uint64_t hash, blob value) {
  if (key.size() > std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("larder: a cache key must be shorter than 4 GiB");
  }
  void* raw =
      ::operator new (sizeof(memory_entry) + key.size(), std::align_val_t{alignof(memory_entry)});
  auto* e = new (raw) memory_entry;
  e->hash = hash;
  e->value = std::move(value);
  e->key_size = static_cast<std::uint32_t>(key.size());
  // The key bytes live just past the struct, in the same allocation.
  if (!key.empty()) std::memcpy(reinterpret_cast<char*>(e + 1), key.data(), key.size());
  return owner(e);
}

void memory_entry::deleter::operator()(memory_entry* e) const noexcept {
  e->~memory_entry();
  ::operator delete (e, std::align_val_t{alignof(memory_entry)});
}

}  // namespace larder
