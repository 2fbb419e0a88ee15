// safetensors_file: safetensors files on disk. read_safetensors_header() reads and validates the
// header of a file (and nothing after it); write_safetensors() writes a whole file atomically, for
// tests and for caching converted weights.
//
// Both are synchronous set-up calls that block on the file system; ModelCache's cold loads of
// tensor bytes go through io_uring instead. Errors are exceptions: std::system_error (naming the
// file) for what the operating system refuses, safetensors_error for a file that is not valid,
// std::invalid_argument for tensors that cannot be written as given.
//
// Durability: when write_safetensors() returns, the file and its name survive a crash, and a
// reader at any moment sees either the previous file at that path or the whole new one, never a
// part: the bytes go to a temporary file in the same directory, are fsynced, and are renamed over
// the path, and then the directory is fsynced.
//
// Thread safety: both functions may run concurrently from any threads. Two writers of one path
// race as rename() does: one of the two complete files wins.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <larder/cache/model/safetensors.hpp>

namespace larder::model {

// Reads the first 8 bytes, then the N bytes of header they announce (after checking N against the
// limit and the file size, so a hostile length allocates nothing), and parses them. Never reads
// the data buffer.
safetensors_header read_safetensors_header(const std::filesystem::path& path);

// One tensor to write. `bytes` is borrowed for the duration of the call and must hold exactly
// tensor_byte_size(dtype, shape) bytes, little-endian, C order, as the format requires.
struct tensor_to_write {
  std::string name;
  tensor_dtype dtype = tensor_dtype::U8;
  std::vector<std::uint64_t> shape;
  std::span<const std::byte> bytes;
};

// Writes `tensors` and `metadata` to `path` as the reference writer lays a file out: tensors in
// order of decreasing dtype alignment, then by name, so every tensor starts aligned to its element
// size; header padded with spaces to a multiple of 8. Throws std::invalid_argument, before
// touching the file system, for a duplicate or reserved ("__metadata__") name or a byte count that
// does not match the shape.
void write_safetensors(const std::filesystem::path& path, std::span<const tensor_to_write> tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace larder::model
