// safetensors: the header of a safetensors weights file, parsed and validated as strictly as the
// reference implementation (huggingface/safetensors, safetensors/src/tensor.rs) validates it.
//
// A safetensors file is an 8-byte little-endian length N, N bytes of JSON that map each tensor
// name to {dtype, shape, data_offsets} (plus an optional string-to-string "__metadata__"), then
// the data buffer, where every tensor occupies [begin, end) relative to the buffer's start.
// parse_safetensors_header() turns the first 8 + N bytes into a safetensors_header, or throws
// safetensors_error naming the file and, where one is to blame, the tensor. Whatever the bytes, it
// reads nothing outside the span it is given and never crashes: files come from the network.
//
// Ownership: everything returned is a plain value that owns its strings and vectors; nothing
// refers back to the input bytes. The file-level helpers (reading a header from a path, writing a
// file atomically) are in safetensors_file.hpp.
//
// Thread safety: the functions are pure and may run concurrently. A safetensors_header is a value
// type: distinct objects are independent, a shared one may be read from any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace larder::model {

// Every dtype of the reference implementation, in its order (increasing alignment), which the
// writer relies on to lay tensors out aligned. The enumerators are spelled as in the file, not in
// snake_case: the names are the format's vocabulary, and `bool` is a keyword anyway.
enum class tensor_dtype : std::uint8_t {
  BOOL,
  F4,       // 4-bit float (OCP microscaling E2M1); two elements per byte
  F6_E2M3,  // 6-bit floats (OCP microscaling); four elements per three bytes
  F6_E3M2,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  F8_E8M0,  // 8-bit exponent-only scale (OCP microscaling)
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  C64,  // complex of two F32 parts
  F64,
  I64,
  U64,
};

// Bits per element: 4 and 6 for the sub-byte floats, 8 * bytes for the others.
std::uint32_t bit_size(tensor_dtype dtype) noexcept;
// The name the file uses ("F32", "BF16", ...).
std::string_view to_string(tensor_dtype dtype) noexcept;
// The dtype whose file name is exactly `name` (case matters, as in the reference).
std::optional<tensor_dtype> parse_tensor_dtype(std::string_view name) noexcept;
// Bytes a tensor of this dtype and shape occupies, or nullopt when the count overflows 64 bits or
// is not a whole number of bytes (an odd number of F4 elements, say). An empty shape is a scalar.
std::optional<std::uint64_t> tensor_byte_size(tensor_dtype dtype,
                                              std::span<const std::uint64_t> shape) noexcept;

// The reference refuses larger headers (100 MB, decimal), as a bound on what a hostile file can
// make a reader allocate.
inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;

struct tensor_info {
  std::string name;
  tensor_dtype dtype = tensor_dtype::U8;
  std::vector<std::uint64_t> shape;
  // Byte offsets relative to the start of the data buffer (file offset data_offset), end exclusive.
  std::uint64_t begin = 0;
  std::uint64_t end = 0;

  std::uint64_t byte_size() const noexcept { return end - begin; }
  friend bool operator==(const tensor_info&, const tensor_info&) = default;
};

struct safetensors_header {
  std::uint64_t header_bytes = 0;  // N, the JSON's length including its padding
  std::uint64_t data_offset = 0;   // 8 + N: where the data buffer starts in the file
  // Sorted by name, so that find() is a binary search; a reader that wants file order (to
  // coalesce reads) sorts by begin. After validation the data ranges tile the buffer exactly.
  std::vector<tensor_info> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__"; empty when the file has none

  // The tensor called `name`, or nullptr. REQUIRES: tensors sorted by name, as parsed.
  const tensor_info* find(std::string_view name) const noexcept;
  // Length of the data buffer: the end of the last tensor.
  std::uint64_t data_bytes() const noexcept;
};

// A file that is not a valid safetensors file. what() starts with the file name and names the
// tensor at fault where there is one.
class safetensors_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and validates the header of a file of `file_size` bytes whose first bytes are
// `first_bytes`, reporting errors against `file_name`. Rejects, as the reference does: a file
// shorter than 8 bytes; N over safetensors_max_header_bytes; 8 + N past the end of the file; a
// header that is not UTF-8 JSON (trailing spaces, tabs and newlines are allowed: the reference
// pads with spaces); a tensor entry that lacks dtype, shape or data_offsets (other keys are
// ignored, as serde ignores them), has an unknown dtype, a shape that is not a list of
// non-negative integers, or data_offsets that are not two of them; shape x dtype overflowing 64
// bits or not matching the offsets; offsets that do not tile the data buffer from 0 without gaps
// or overlaps; data that does not end exactly at the end of the file; a "__metadata__" that is not
// an object of strings. Stricter than the reference, on purpose: the header must start with '{'
// (the reference defines that error but has not switched it on yet), duplicate keys anywhere are
// refused (serde keeps the last one silently: two parsers could disagree on a file), and nesting
// deeper than 128 levels is refused outright (serde's recursion limit, as a hard rule).
// REQUIRES: first_bytes holds the first min(file_size, 8 + N) bytes of the file; more is ignored.
// Throws std::invalid_argument if it holds fewer.
safetensors_header parse_safetensors_header(std::span<const std::byte> first_bytes,
                                            std::uint64_t file_size, std::string_view file_name);

// The first 8 + N bytes of a file holding `tensors` in this order (offsets as given) and
// `metadata`: the length, then the JSON the reference writes ("__metadata__" first, keys in the
// reference's order), padded with spaces to a multiple of 8 so the data buffer starts aligned.
// Throws std::invalid_argument if a string is not valid UTF-8 or the header would exceed
// safetensors_max_header_bytes. Does not validate the layout: parse the result to do that.
std::string serialize_safetensors_header(std::span<const tensor_info> tensors,
                                         const std::map<std::string, std::string>& metadata);

}  // namespace larder::model
