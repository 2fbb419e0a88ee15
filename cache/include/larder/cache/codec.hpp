// codec<T>: how a user type becomes a blob and back, for cache_manager's get_as / put_as.
//
// larder stores bytes; typed access is this thin layer on top. Provided: std::string, and any
// trivially copyable T or std::vector<T> of trivially copyable T (bytes as in memory: the same
// program, or one with the same ABI, reads them back). For other types, specialise:
//
//   template <> struct larder::codec<my_type> {
//     static larder::blob encode(const my_type&);
//     static my_type decode(const larder::blob&);   // throws codec_error on bad bytes
//   };
#pragma once

#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <larder/cache/blob.hpp>

namespace larder {

// Thrown by decode() when the bytes cannot be a value of the requested type.
class codec_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename T>
struct codec {
  static_assert(std::is_trivially_copyable_v<T>,
                "larder::codec<T> has no default for this type; specialise larder::codec<T>");
  static blob encode(const T& value) {
    return blob::copy_of(std::as_bytes(std::span<const T, 1>(&value, 1)));
  }
  static T decode(const blob& b) {
    if (b.size() != sizeof(T)) {
      throw codec_error("larder::codec: value has " + std::to_string(b.size()) +
                        " bytes, the type needs " + std::to_string(sizeof(T)));
    }
    T value;
    std::memcpy(&value, b.data(), sizeof(T));
    return value;
  }
};

template <>
struct codec<std::string> {
  static blob encode(const std::string& value) { return blob::copy_of(value); }
  static std::string decode(const blob& b) { return std::string(b.view()); }
};

template <typename T>
requires std::is_trivially_copyable_v<T>
struct codec<std::vector<T>> {
  static blob encode(const std::vector<T>& value) {
    return blob::copy_of(std::as_bytes(std::span<const T>(value)));
  }
  static std::vector<T> decode(const blob& b) {
    if (b.size() % sizeof(T) != 0) {
      throw codec_error("larder::codec: value has " + std::to_string(b.size()) +
                        " bytes, not a whole number of " + std::to_string(sizeof(T)) +
                        "-byte elements");
    }
    std::vector<T> out(b.size() / sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), b.data(), b.size());
    return out;
  }
};

}  // namespace larder
