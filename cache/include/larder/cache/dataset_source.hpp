// dataset_source: a dataset as larder reads it: a fixed number of samples, each read
// asynchronously by its index, and an identity that changes when the data does.
//
// Three kinds:
// - directory_dataset: one sample per regular file of a directory (sorted by name), read whole
//   through io_uring (file_io) with O_DIRECT where the filesystem allows it;
// - record_file_dataset: fixed-size records packed in one large file (the last may be short);
// - callback_dataset: any async function of the index (a network store, a generator).
// A read that fails throws dataset_error, whose message names the dataset and the sample.
//
// The identity (`id`) is part of every cached sample's key (dataset_cache): for files it holds
// the path, the sample count, the total size and the newest modification time, so replacing
// the data never serves stale samples.
//
// Plain value: copy freely; `read` may be called concurrently from any thread. File-backed
// sources need their file_io to outlive them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

#include <larder/cache/blob.hpp>
#include <larder/io/file_io.hpp>
#include <larder/runtime/asio.hpp>

namespace larder {

// A sample could not be read; what() names the dataset and the sample.
class dataset_error : public std::runtime_error {
 public:
  dataset_error(std::string message, std::size_t index)
      : std::runtime_error(std::move(message)), index_(index) {}
  std::size_t index() const noexcept { return index_; }

 private:
  std::size_t index_;
};

struct dataset_source {
  std::string id;
  std::size_t size = 0;                // samples
  std::uint64_t total_bytes_hint = 0;  // all samples' bytes, when known (0: unknown)
  std::function<asio::awaitable<blob>(std::size_t index)> read;
  // A short name of sample `index` for messages (a file name, a record number).
  std::function<std::string(std::size_t index)> sample_name;
};

// Throws std::filesystem::filesystem_error when the directory cannot be listed.
dataset_source directory_dataset(io::file_io& io, const std::filesystem::path& directory);

// REQUIRES: record_bytes > 0. Throws std::system_error when the file cannot be opened.
dataset_source record_file_dataset(io::file_io& io, const std::filesystem::path& file,
                                   std::size_t record_bytes);

dataset_source callback_dataset(std::string id, std::size_t size,
                                std::function<asio::awaitable<blob>(std::size_t index)> read);

}  // namespace larder
