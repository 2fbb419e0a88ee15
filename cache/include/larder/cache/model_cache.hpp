// model_cache: model weights from safetensors files, each tensor cached on its own (the seed's
// ModelCache).
//
//   model_cache models(cache, file_io);
//   model_handle model = co_await models.load("weights.safetensors");
//   tensor_view w = co_await models.tensor(model, "layer.0.weight");   // w.bytes: a blob
//   std::vector<tensor_view> all = co_await models.load_all(model);
//
// load() opens the file, reads and validates its header through the file_io (io_uring) and
// fingerprints it: size, modification time (ns), inode and an xxh3 of the header bytes. Each
// tensor is cached in the cache_manager under "model/<fingerprint>/<tensor name>", so the memory
// and disk tiers keep tensors individually, concurrent requests of one tensor share one read
// (cache_manager::get_or_load), and a file replaced on disk gets a new fingerprint: its old
// tensors are never served for it. A file rewritten in place within one tick of the filesystem's
// timestamp clock, keeping its size and header, is not told apart; write files with
// write_safetensors (a new file renamed over the old one) as the cache expects.
//
// Cold reads. A tensor's bytes are read through the file_io from the descriptor the handle holds
// (O_DIRECT where the filesystem allows it): the aligned range covering the tensor, in chunks of
// max_read_bytes issued concurrently, into one aligned buffer that the returned blob views
// without a copy (a tensor smaller than half of that buffer is copied out, so that the memory
// tier's budget sees what it holds). With use_mmap the handle maps the file read-only instead, and
// a tensor is a zero-copy view of the mapping: served directly, not stored in the cache (the page
// cache is the cache, and copying into the memory tier would hold the bytes twice); a value already
// in the memory tier is still served from there. The mapping lives until the last handle and the
// last view of it are gone, so views may outlive the handle and the model_cache.
//
// Ownership: a model_handle shares the file's open descriptor (and mapping) with its copies and
// with reads in flight. A tensor_view owns its bytes through the blob.
//
// Errors: load() throws safetensors_error for a file that is not valid safetensors and
// std::system_error for what the operating system refuses, both naming the file. tensor() throws
// std::out_of_range naming the file and tensor for an unknown name, std::system_error or
// safetensors_error (file truncated since load()) naming both when the read fails; a failed load
// is not cached, and every caller sharing it gets the exception.
//
// Thread safety: every member function may be called concurrently from any thread. model_handle
// and tensor_view are values: copies may be used from any thread. The cache_manager and file_io
// must outlive the model_cache and every operation started on it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <larder/cache/blob.hpp>
#include <larder/cache/cache_manager.hpp>
#include <larder/cache/model/safetensors.hpp>
#include <larder/io/file_io.hpp>
#include <larder/runtime/asio.hpp>

namespace larder {

struct model_cache_options {
  // Serve tensors as views of a read-only mapping of the file instead of reading them.
  bool use_mmap = false;
  // Largest single read of a cold load. 8 MiB: large enough that a read's fixed cost vanishes,
  // small enough that a large tensor spreads over several requests in flight.
  std::size_t max_read_bytes = 8 << 20;
  // Most reads one call keeps in flight: tensor() reads that many chunks of a tensor at once;
  // tensors() shares the bound between the tensors it loads at once.
  std::size_t parallel_reads = 16;

  // The configuration's cache.disk.use_mmap (TOML [cache.disk] use_mmap); the rest default.
  static model_cache_options from_config(const cache_config& config);
};

// What identifies one version of a file's content in cache keys.
struct model_fingerprint {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t inode = 0;
  std::uint64_t header_hash = 0;  // xxh3-64 of the 8 + N header bytes

  // Hexadecimal, '-' separated: the middle of the cache keys.
  std::string to_string() const;
  friend bool operator==(const model_fingerprint&, const model_fingerprint&) = default;
};

struct tensor_view {
  std::string name;
  model::tensor_dtype dtype = model::tensor_dtype::U8;
  std::vector<std::uint64_t> shape;
  blob bytes;  // little-endian, C order, as in the file; empty for a tensor with no elements
};

namespace detail {
struct model_state;
}

// One loaded file. Cheap to copy (a shared pointer); the file stays open while a copy exists.
class model_handle {
 public:
  // An empty handle, to be assigned one from load(). REQUIRES of every other member: assigned.
  model_handle() noexcept = default;

  const std::filesystem::path& path() const noexcept;
  const model_fingerprint& fingerprint() const noexcept;
  const model::safetensors_header& header() const noexcept;
  // Sorted by name; each with dtype, shape and its offsets in the data buffer.
  const std::vector<model::tensor_info>& tensors() const noexcept { return header().tensors; }
  const std::map<std::string, std::string>& metadata() const noexcept { return header().metadata; }

 private:
  friend class model_cache;
  explicit model_handle(std::shared_ptr<const detail::model_state> state) noexcept
      : state_(std::move(state)) {}

  std::shared_ptr<const detail::model_state> state_;
};

class model_cache {
 public:
  // REQUIRES: max_read_bytes > 0 and parallel_reads > 0 (std::invalid_argument otherwise).
  model_cache(cache_manager& cache, io::file_io& file_io, model_cache_options options = {});

  const model_cache_options& options() const noexcept { return options_; }

  // Opens `path`, reads and validates its header, fingerprints it. Reads no tensor data.
  asio::awaitable<model_handle> load(std::filesystem::path path);

  // The tensor called `name` of `model`: from the cache, or read from the file and cached.
  // REQUIRES (for these three): `model` came from load().
  asio::awaitable<tensor_view> tensor(model_handle model, std::string name);

  // The tensors called `names`, in that order, with at most parallel_reads reads in flight.
  // Throws the first error after every read has finished.
  asio::awaitable<std::vector<tensor_view>> tensors(model_handle model,
                                                    std::vector<std::string> names);
  // Every tensor of `model`, in name order.
  asio::awaitable<std::vector<tensor_view>> load_all(model_handle model);

 private:
  asio::awaitable<tensor_view> tensor_with(model_handle model, std::string name,
                                           std::size_t chunk_reads);

  cache_manager& cache_;
  io::file_io& io_;
  model_cache_options options_;
};

}  // namespace larder
