// entry_checksum: the xxh3-64 checksum that guards every disk-tier entry (entry_format.hpp).
//
// Kept in its own file because it calls libxxhash's runtime-dispatched XXH3 (AVX2 / AVX-512 where
// the CPU has them), while key hashing (key_hash.hpp) inlines the portable SSE2 code: keys are
// short and inlining wins there, values are kilobytes and vector width wins. Both compute the
// same XXH3 function, so the choice never changes what is on disk.
//
// A pure function: safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace larder::disk {

// xxh3-64 over the first 24 bytes of `header`, then `key`, then `stored`.
std::uint64_t entry_checksum(const std::byte* header, std::string_view key,
                             std::span<const std::byte> stored) noexcept;

}  // namespace larder::disk
