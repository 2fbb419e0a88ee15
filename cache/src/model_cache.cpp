#include "larder/cache/model_cache.hpp"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <functional>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/stat.h>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "key_hash.hpp"
#include "larder/io/aligned_buffer.hpp"
#include "larder/io/file.hpp"
#include "larder/runtime/when_all.hpp"

namespace larder {
namespace detail {

// A read-only mapping of a whole file, unmapped with the last handle or view that shares it.
// Files written by write_safetensors are replaced by rename, never truncated, so the mapped inode
// keeps its length and a view never touches a page past its end (which would raise SIGBUS).
struct file_mapping {
  file_mapping(const std::byte* d, std::size_t n) noexcept : data(d), size(n) {}
  file_mapping(const file_mapping&) = delete;
  file_mapping& operator=(const file_mapping&) = delete;
  ~file_mapping() { ::munmap(const_cast<std::byte*>(data), size); }

  const std::byte* data;
  std::size_t size;
};

struct model_state {
  std::filesystem::path path;
  model_fingerprint fingerprint;
  model::safetensors_header header;
  std::string key_prefix;  // "model/<fingerprint>/"
  // The descriptor the fingerprint was taken from: reads see that inode even after the path has
  // been replaced, so a handle never mixes two versions of a file.
  io::file file;
  std::shared_ptr<const file_mapping> mapping;  // with use_mmap only
};

}  // namespace detail

namespace {

// Bytes of the first read of a file: most headers fit, so load() usually reads once.
constexpr std::size_t first_read_bytes = 64 << 10;

using io::round_up;

std::uint64_t read_le64(std::span<const std::byte> bytes) {
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | std::to_integer<std::uint64_t>(bytes[static_cast<std::size_t>(i)]);
  return n;
}

using indexed_job = std::function<asio::awaitable<void>(std::size_t index)>;

asio::awaitable<void> drain_jobs(std::shared_ptr<const indexed_job> job,
                                 std::shared_ptr<std::atomic<std::size_t>> next, std::size_t n) {
  for (std::size_t i = next->fetch_add(1); i < n; i = next->fetch_add(1))
    co_await (*job)(i);
}

// Runs job(0) ... job(n - 1) on the caller's executor, at most `limit` at a time: `limit` workers
// take the next index until none is left.
asio::awaitable<void> run_bounded(std::size_t n, std::size_t limit, indexed_job job) {
  auto shared_job = std::make_shared<const indexed_job>(std::move(job));
  auto next = std::make_shared<std::atomic<std::size_t>>(0);
  std::vector<asio::awaitable<void>> workers;
  for (std::size_t w = 0; w < std::min(n, limit); ++w)
    workers.push_back(drain_jobs(shared_job, next, n));
  co_await when_all(std::move(workers));
}

// Reads until at least `needed` of the `length` bytes at `file_offset` are in the buffer: a read
// may stop short, and only the end of the file may leave the rest of the aligned chunk unread.
asio::awaitable<void> read_chunk(io::file_io& io, int fd,
                                 std::shared_ptr<io::aligned_buffer> buffer, std::size_t at,
                                 std::size_t length, std::size_t needed, std::uint64_t file_offset,
                                 std::string what) {
  std::size_t got = 0;
  while (got < needed) {
    const io::io_result r =
        co_await io.read_at(fd, buffer, at + got, length - got, file_offset + got);
    if (!r.ok()) throw std::system_error(r.error, what);
    if (r.bytes == 0) {
      throw model::safetensors_error(
          fmt::format("{}: the file ends at byte {}; it was truncated after it was loaded", what,
                      file_offset + got));
    }
    got += r.bytes;
  }
}

struct aligned_read {
  std::shared_ptr<io::aligned_buffer> buffer;
  std::size_t skip = 0;  // where the asked-for bytes start in the buffer
};

// Reads [offset, offset + length) of `file`: O_DIRECT needs aligned buffers, offsets and lengths,
// so it reads the aligned range covering it, in chunks of at most `max_read` bytes, `parallel` at
// a time. REQUIRES: length > 0.
asio::awaitable<aligned_read> read_range(io::file_io& io, const io::file& file,
                                         std::uint64_t offset, std::size_t length,
                                         std::size_t max_read, std::size_t parallel,
                                         std::string what) {
  // At least 64 bytes even for buffered files: tensors then start cache-line aligned in memory
  // whenever they do in the file.
  const std::size_t align = std::max<std::size_t>(file.required_alignment(), 64);
  const std::uint64_t first = offset / align * align;
  const auto skip = static_cast<std::size_t>(offset - first);
  const std::size_t needed = skip + length;
  const std::size_t total = round_up(needed, align);
  const std::size_t chunk = std::max(align, max_read / align * align);
  auto buffer = std::make_shared<io::aligned_buffer>(total, align);
  const int fd = file.fd();
  // Named, not a temporary in the co_await: GCC 12 destroys a lambda temporary's captures twice
  // when its full expression holds a co_await (it crashed here, as in warm_command.cpp).
  indexed_job read_one = [&io, fd, buffer, first, total, needed, chunk, what](std::size_t i) {
    const std::size_t at = i * chunk;
    const std::size_t length = std::min(chunk, total - at);
    return read_chunk(io, fd, buffer, at, length, std::min(length, needed - std::min(needed, at)),
                      first + at, what);
  };
  co_await run_bounded((total + chunk - 1) / chunk, parallel, std::move(read_one));
  co_return aligned_read{std::move(buffer), skip};
}

asio::awaitable<blob> read_tensor(io::file_io& io, std::shared_ptr<const detail::model_state> state,
                                  model::tensor_info info, std::size_t max_read,
                                  std::size_t parallel) {
  const auto length = static_cast<std::size_t>(info.byte_size());
  std::string what = fmt::format("{}: tensor \"{}\"", state->path.string(), info.name);
  aligned_read r = co_await read_range(io, state->file, state->header.data_offset + info.begin,
                                       length, max_read, parallel, std::move(what));
  const std::span<const std::byte> bytes(r.buffer->data() + r.skip, length);
  // The memory tier charges a value's size, not its buffer's: a small tensor in a mostly empty
  // aligned buffer (4 bytes in 4 KiB) is copied out rather than kept with hidden slack.
  if (r.buffer->size() > 2 * length) co_return blob::copy_of(bytes);
  co_return blob::adopt(bytes, std::shared_ptr<const void>(std::move(r.buffer)));
}

std::shared_ptr<const detail::file_mapping> map_file(int fd, std::size_t size,
                                                     const std::filesystem::path& path) {
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) {
    throw std::system_error(errno, std::generic_category(), "mmap " + path.string());
  }
  return std::make_shared<const detail::file_mapping>(static_cast<const std::byte*>(data), size);
}

asio::awaitable<void> store_tensor(asio::awaitable<tensor_view> task,
                                   std::shared_ptr<std::vector<tensor_view>> out, std::size_t i) {
  (*out)[i] = co_await std::move(task);
}

}  // namespace

std::string model_fingerprint::to_string() const {
  return fmt::format("{:x}-{:x}-{:x}-{:016x}", size, static_cast<std::uint64_t>(mtime_ns), inode,
                     header_hash);
}

const std::filesystem::path& model_handle::path() const noexcept {
  assert(state_ != nullptr);
  return state_->path;
}
const model_fingerprint& model_handle::fingerprint() const noexcept {
  assert(state_ != nullptr);
  return state_->fingerprint;
}
const model::safetensors_header& model_handle::header() const noexcept {
  assert(state_ != nullptr);
  return state_->header;
}

model_cache_options model_cache_options::from_config(const cache_config& config) {
  model_cache_options options;
  options.use_mmap = config.disk.use_mmap;
  return options;
}

model_cache::model_cache(cache_manager& cache, io::file_io& file_io, model_cache_options options)
    : cache_(cache), io_(file_io), options_(options) {
  if (options_.max_read_bytes == 0 || options_.parallel_reads == 0) {
    throw std::invalid_argument("model_cache: max_read_bytes and parallel_reads must be > 0");
  }
}

asio::awaitable<model_handle> model_cache::load(std::filesystem::path path) {
  auto state = std::make_shared<detail::model_state>();
  state->path = std::move(path);
  const std::string name = state->path.string();
  state->file = io::file::open(state->path);
  struct stat info {};
  if (::fstat(state->file.fd(), &info) != 0) {
    throw std::system_error(errno, std::generic_category(), "fstat " + name);
  }
  const auto file_size = static_cast<std::uint64_t>(info.st_size);
  // The parser names a file too short to hold the header length.
  if (file_size < 8) model::parse_safetensors_header({}, file_size, name);

  const std::string what = name + ": header";
  const auto first = static_cast<std::size_t>(std::min<std::uint64_t>(file_size, first_read_bytes));
  aligned_read head = co_await read_range(io_, state->file, 0, first, options_.max_read_bytes,
                                          options_.parallel_reads, what);
  std::span<const std::byte> bytes(head.buffer->data(), first);
  const std::uint64_t n = read_le64(bytes);
  // A length past the limit or the file is refused by the parser from the first 8 bytes alone.
  if (n <= model::safetensors_max_header_bytes && 8 + n <= file_size && 8 + n > first) {
    head = co_await read_range(io_, state->file, 0, static_cast<std::size_t>(8 + n),
                               options_.max_read_bytes, options_.parallel_reads, what);
    bytes = std::span<const std::byte>(head.buffer->data(), static_cast<std::size_t>(8 + n));
  }
  state->header = model::parse_safetensors_header(bytes, file_size, name);

  state->fingerprint = {
      .size = file_size,
      .mtime_ns = std::int64_t{info.st_mtim.tv_sec} * 1'000'000'000 + info.st_mtim.tv_nsec,
      .inode = static_cast<std::uint64_t>(info.st_ino),
      .header_hash = XXH3_64bits(bytes.data(), static_cast<std::size_t>(state->header.data_offset)),
  };
  state->key_prefix = "model/" + state->fingerprint.to_string() + "/";
  if (options_.use_mmap) {
    state->mapping = map_file(state->file.fd(), static_cast<std::size_t>(file_size), state->path);
  }
  co_return model_handle(std::move(state));
}

asio::awaitable<tensor_view> model_cache::tensor(model_handle model, std::string name) {
  co_return co_await tensor_with(std::move(model), std::move(name), options_.parallel_reads);
}

asio::awaitable<tensor_view> model_cache::tensor_with(model_handle model, std::string name,
                                                      std::size_t chunk_reads) {
  assert(model.state_ != nullptr);
  const std::shared_ptr<const detail::model_state>& state = model.state_;
  const model::tensor_info* info = state->header.find(name);
  if (info == nullptr) {
    throw std::out_of_range(fmt::format("{}: no tensor named \"{}\"", state->path.string(), name));
  }
  tensor_view view{name, info->dtype, info->shape, {}};
  if (info->byte_size() == 0) co_return view;
  const std::string key = state->key_prefix + name;
  if (state->mapping) {
    if (auto hit = cache_.try_get(key)) {
      view.bytes = std::move(*hit);
    } else {
      const std::byte* begin = state->mapping->data + state->header.data_offset + info->begin;
      view.bytes = blob::adopt({begin, static_cast<std::size_t>(info->byte_size())},
                               std::shared_ptr<const void>(state->mapping));
    }
    co_return view;
  }
  // Named for GCC 12, as in read_range.
  auto read = [&io = io_, state, tensor = *info, max_read = options_.max_read_bytes, chunk_reads] {
    return read_tensor(io, state, tensor, max_read, chunk_reads);
  };
  view.bytes = co_await cache_.get_or_load(key, std::move(read));
  co_return view;
}

asio::awaitable<std::vector<tensor_view>> model_cache::tensors(model_handle model,
                                                               std::vector<std::string> names) {
  const std::size_t n = names.size();
  const std::size_t at_once = std::min(n, options_.parallel_reads);
  if (n == 0) co_return std::vector<tensor_view>{};
  // Tensors loaded at once times chunks each stays within parallel_reads.
  const std::size_t chunk_reads = std::max<std::size_t>(1, options_.parallel_reads / at_once);
  auto out = std::make_shared<std::vector<tensor_view>>(n);
  auto shared_names = std::make_shared<const std::vector<std::string>>(std::move(names));
  indexed_job load_one = [this, model, out, shared_names, chunk_reads](std::size_t i) {
    return store_tensor(tensor_with(model, (*shared_names)[i], chunk_reads), out, i);
  };
  co_await run_bounded(n, at_once, std::move(load_one));
  co_return std::move(*out);
}

asio::awaitable<std::vector<tensor_view>> model_cache::load_all(model_handle model) {
  std::vector<std::string> names;
  names.reserve(model.tensors().size());
  for (const model::tensor_info& t : model.tensors())
    names.push_back(t.name);
  co_return co_await tensors(std::move(model), std::move(names));
}

}  // namespace larder
