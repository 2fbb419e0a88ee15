#include "larder/cache/dataset_source.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "larder/io/aligned_buffer.hpp"
#include "larder/io/file.hpp"

namespace larder {
namespace {

namespace fs = std::filesystem;

using io::round_up;

// Reads `length` bytes at `offset` of `f` into a blob, through io. O_DIRECT needs an aligned
// offset, length and buffer: the read covers the aligned range and the blob views its middle.
asio::awaitable<blob> read_range(io::file_io& io, const io::file& f, std::uint64_t offset,
                                 std::size_t length, const std::string& what, std::size_t index) {
  const std::size_t align = std::max<std::size_t>(f.required_alignment(), 16);
  const std::uint64_t first = offset / align * align;
  const std::size_t span = round_up(static_cast<std::size_t>(offset - first) + length, align);
  auto buffer = std::make_shared<io::aligned_buffer>(std::max(span, align), align);
  const io::io_result r = co_await io.read_at(f.fd(), buffer, 0, span, first);
  if (!r.ok())
    throw dataset_error(fmt::format("{}: read failed: {}", what, r.error.message()), index);
  const std::size_t skip = static_cast<std::size_t>(offset - first);
  if (r.bytes < skip + length) {
    throw dataset_error(fmt::format("{}: short read ({} of {} bytes)", what,
                                    r.bytes > skip ? r.bytes - skip : 0, length),
                        index);
  }
  co_return blob::adopt(std::span<const std::byte>(buffer->data() + skip, length),
                        std::shared_ptr<const void>(buffer));
}

// The reads are coroutines with their own copies of what they use, not coroutine lambdas: a
// lambda's captures live in the std::function, which may go before the read finishes.
asio::awaitable<blob> read_sample_file(io::file_io& io, fs::path path, std::uint64_t size,
                                       std::string dir, std::size_t i) {
  const std::string what =
      fmt::format("dataset {} sample {} ({})", dir, i, path.filename().string());
  io::file opened;
  try {
    opened = io::file::open(path);
  } catch (const std::system_error& e) {
    throw dataset_error(fmt::format("{}: {}", what, e.code().message()), i);
  }
  co_return co_await read_range(io, opened, 0, static_cast<std::size_t>(size), what, i);
}

asio::awaitable<blob> read_record(io::file_io& io, std::shared_ptr<io::file> opened,
                                  std::uint64_t size, std::size_t record_bytes, std::string path,
                                  std::size_t i) {
  const std::uint64_t offset = std::uint64_t{i} * record_bytes;
  const std::string what = fmt::format("dataset {} record {}", path, i);
  if (offset >= size) throw dataset_error(what + ": past the end of the file", i);
  const auto length =
      static_cast<std::size_t>(std::min<std::uint64_t>(record_bytes, size - offset));
  co_return co_await read_range(io, *opened, offset, length, what, i);
}

}  // namespace

dataset_source directory_dataset(io::file_io& io, const fs::path& directory) {
  struct sample_file {
    fs::path path;
    std::uint64_t size;
  };
  auto files = std::make_shared<std::vector<sample_file>>();
  std::uint64_t total = 0;
  fs::file_time_type newest{};
  for (const auto& item : fs::directory_iterator(directory)) {
    if (!item.is_regular_file()) continue;
    files->push_back({item.path(), item.file_size()});
    total += item.file_size();
    newest = std::max(newest, item.last_write_time());
  }
  std::sort(files->begin(), files->end(),
            [](const auto& a, const auto& b) { return a.path.filename() < b.path.filename(); });
  dataset_source s;
  s.id = fmt::format("dir:{}:{}:{}:{}", fs::absolute(directory).lexically_normal().string(),
                     files->size(), total, newest.time_since_epoch().count());
  s.size = files->size();
  s.total_bytes_hint = total;
  s.sample_name = [files](std::size_t i) { return files->at(i).path.filename().string(); };
  s.read = [&io, files, dir = directory.string()](std::size_t i) {
    return read_sample_file(io, files->at(i).path, files->at(i).size, dir, i);
  };
  return s;
}

dataset_source record_file_dataset(io::file_io& io, const fs::path& file,
                                   std::size_t record_bytes) {
  if (record_bytes == 0)
    throw std::invalid_argument("record_file_dataset: record_bytes must be > 0");
  auto opened = std::make_shared<io::file>(io::file::open(file));
  const std::uint64_t size = opened->size();
  dataset_source s;
  s.size = static_cast<std::size_t>((size + record_bytes - 1) / record_bytes);
  s.total_bytes_hint = size;
  s.id = fmt::format("records:{}:{}:{}:{}", fs::absolute(file).lexically_normal().string(),
                     record_bytes, size, fs::last_write_time(file).time_since_epoch().count());
  s.sample_name = [](std::size_t i) { return fmt::format("record {}", i); };
  s.read = [&io, opened, size, record_bytes, path = file.string()](std::size_t i) {
    return read_record(io, opened, size, record_bytes, path, i);
  };
  return s;
}

dataset_source callback_dataset(std::string id, std::size_t size,
                                std::function<asio::awaitable<blob>(std::size_t index)> read) {
  dataset_source s;
  s.id = "callback:" + std::move(id);
  s.size = size;
  s.read = std::move(read);
  s.sample_name = [](std::size_t i) { return fmt::format("sample {}", i); };
  return s;
}

}  // namespace larder
