// format_fields: reading and writing the fixed-width integer fields of larder's stored formats
// (disk entries, region headers, remote-tier manifests) at any byte offset.
//
// Fields are little-endian, the machines' own order (entry_format.hpp asserts it), and at offsets
// that need not be aligned, so they are copied, never cast in place.
#pragma once

#include <cstddef>
#include <cstring>

namespace larder::disk {

template <typename T>
void put_field(std::byte* at, T value) noexcept {
  std::memcpy(at, &value, sizeof(T));
}

template <typename T>
T get_field(const std::byte* at) noexcept {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

}  // namespace larder::disk
