#include "disk/entry_checksum.hpp"

// The state type is only complete with static linking declarations; the ABI is that of the
// installed libxxhash, which this file links.
#define XXH_STATIC_LINKING_ONLY
#include <xxh_x86dispatch.h>

#include <xxhash.h>

namespace larder::disk {

std::uint64_t entry_checksum(const std::byte* header, std::string_view key,
                             std::span<const std::byte> stored) noexcept {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update_dispatch(&state, header, 24);
  XXH3_64bits_update_dispatch(&state, key.data(), key.size());
  XXH3_64bits_update_dispatch(&state, stored.data(), stored.size());
  return XXH3_64bits_digest(&state);
}

}  // namespace larder::disk
