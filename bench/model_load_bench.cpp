// model_load_bench: loading every tensor of a safetensors file cold, through model_cache's
// io_uring path, against model_cache with use_mmap (each page touched), against a plain pread()
// per tensor, with fio's sequential O_DIRECT read of the same file as the limit (issue 8: target
// >= 90 % of fio). Also the warm path: a tensor() answered by the memory tier.
//
// Usage: model_load_bench [--file PATH] [--size-mib N] [--tensor-mib M] [--repeat N] [--no-fio]
// The file (default /tmp/larder-model-bench.safetensors, 4096 MiB) holds pairs of an F16 weight
// of M MiB (default 64) and a small F32 bias, random bytes, and is regenerated unless it already
// holds exactly that layout. Before every cold run the file's pages are dropped from the page
// cache (fdatasync + POSIX_FADV_DONTNEED), so each method reads from the device. Each figure is
// the median of --repeat runs (default 3), the methods interleaved so that a noisy neighbour
// hurts them alike.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fcntl.h>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <larder/cache/cache_manager.hpp>
#include <larder/cache/model/safetensors.hpp>
#include <larder/cache/model/safetensors_file.hpp>
#include <larder/cache/model_cache.hpp>
#include <larder/io/ring.hpp>

#include "bench_arguments.hpp"
#include "fio_job.hpp"

namespace {

namespace asio = larder::asio;
namespace model = larder::model;
using clock_type = std::chrono::steady_clock;

struct options {
  std::filesystem::path file = "/tmp/larder-model-bench.safetensors";
  std::uint64_t size = std::uint64_t{4096} << 20;
  std::uint64_t tensor_bytes = std::uint64_t{64} << 20;
  unsigned repeat = 3;
  bool fio = true;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--file" && i + 1 < argc) {
      o.file = argv[++i];
    } else if (arg == "--size-mib") {
      o.size = larder::bench::number_after(i, argc, argv) << 20;
    } else if (arg == "--tensor-mib") {
      o.tensor_bytes = larder::bench::number_after(i, argc, argv) << 20;
    } else if (arg == "--repeat") {
      o.repeat = static_cast<unsigned>(larder::bench::number_after(i, argc, argv));
    } else if (arg == "--no-fio") {
      o.fio = false;
    } else {
      throw std::invalid_argument(std::string("unknown argument ") + std::string(arg) +
                                  "; use --file PATH, --size-mib N, --tensor-mib M, --repeat N, "
                                  "--no-fio");
    }
  }
  if (o.repeat == 0 || o.size == 0 || o.tensor_bytes == 0) {
    throw std::invalid_argument("--size-mib, --tensor-mib and --repeat must be at least 1");
  }
  return o;
}

// Weights and biases in file order, offsets tiling the data buffer.
std::vector<model::tensor_info> layout(const options& o) {
  constexpr std::uint64_t bias_elements = 4096;
  std::vector<model::tensor_info> tensors;
  std::uint64_t offset = 0;
  for (int layer = 0; offset < o.size; ++layer) {
    char name[64];
    std::snprintf(name, sizeof name, "layers.%04d.weight", layer);
    tensors.push_back({name,
                       model::tensor_dtype::F16,
                       {o.tensor_bytes / 2},
                       offset,
                       offset + o.tensor_bytes / 2 * 2});
    offset = tensors.back().end;
    std::snprintf(name, sizeof name, "layers.%04d.bias", layer);
    tensors.push_back(
        {name, model::tensor_dtype::F32, {bias_elements}, offset, offset + bias_elements * 4});
    offset = tensors.back().end;
  }
  return tensors;
}

void drop_page_cache(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::system_category(), file.string());
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// Random bytes, not a sparse file: reading a hole costs the device nothing.
void prepare_file(const options& o) {
  const auto tensors = layout(o);
  const std::string header = model::serialize_safetensors_header(tensors, {{"format", "pt"}});
  const std::uint64_t file_size = header.size() + tensors.back().end;
  std::error_code ec;
  if (std::filesystem::file_size(o.file, ec) == file_size && !ec) {
    try {
      if (model::read_safetensors_header(o.file).tensors.size() == tensors.size()) {
        std::printf("reusing %s\n", o.file.c_str());
        return;
      }
    } catch (const std::exception&) {
      // Not our layout: written again below.
    }
  }
  std::printf("writing %llu MiB of random tensors to %s\n",
              static_cast<unsigned long long>(file_size >> 20), o.file.c_str());
  const int fd = ::open(o.file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::system_error(errno, std::system_category(), o.file.string());
  if (::write(fd, header.data(), header.size()) != static_cast<ssize_t>(header.size())) {
    throw std::system_error(errno, std::system_category(), "writing " + o.file.string());
  }
  constexpr std::size_t chunk = 4 << 20;
  std::vector<std::uint64_t> words(chunk / sizeof(std::uint64_t));
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (std::uint64_t done = 0; done < tensors.back().end; done += chunk) {
    for (auto& w : words) {
      x ^= x >> 12;
      x ^= x << 25;
      x ^= x >> 27;
      w = x * 0x2545F4914F6CDD1DULL;
    }
    const auto n =
        static_cast<std::size_t>(std::min<std::uint64_t>(chunk, tensors.back().end - done));
    if (::write(fd, words.data(), n) != static_cast<ssize_t>(n)) {
      throw std::system_error(errno, std::system_category(), "writing " + o.file.string());
    }
  }
  ::fdatasync(fd);
  ::close(fd);
  model::read_safetensors_header(o.file);  // validates what was written
}

// Runs `task` on `ctx` to its end. The ring keeps a wait on its eventfd queued, so the context
// never runs out of work by itself: the completion stops it.
template <typename T>
T run(asio::io_context& ctx, asio::awaitable<T> task) {
  std::optional<T> result;
  std::exception_ptr error;
  asio::co_spawn(ctx, std::move(task), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) result = std::move(value);
    ctx.stop();
  });
  ctx.restart();
  ctx.run();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

// Every tensor through model_cache in groups, so that no more than one group is held at once;
// returns the bytes loaded.
asio::awaitable<std::uint64_t> load_everything(larder::model_cache& models,
                                               std::filesystem::path file, bool touch) {
  const larder::model_handle handle = co_await models.load(file);
  std::vector<std::string> names;
  for (const auto& t : handle.tensors())
    names.push_back(t.name);
  constexpr std::size_t group = 16;
  std::uint64_t bytes = 0;
  volatile std::uint8_t sink = 0;
  for (std::size_t i = 0; i < names.size(); i += group) {
    std::vector<std::string> some(
        names.begin() + static_cast<std::ptrdiff_t>(i),
        names.begin() + static_cast<std::ptrdiff_t>(std::min(names.size(), i + group)));
    const std::vector<larder::tensor_view> loaded =
        co_await models.tensors(handle, std::move(some));
    for (const auto& t : loaded) {
      bytes += t.bytes.size();
      // A mapping reads nothing until touched: one byte per page brings every page in.
      if (touch) {
        for (std::size_t at = 0; at < t.bytes.size(); at += 4096)
          sink = sink + std::to_integer<std::uint8_t>(t.bytes.data()[at]);
      }
    }
  }
  co_return bytes;
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double measure_model_cache(const options& o, bool use_mmap) {
  drop_page_cache(o.file);
  asio::io_context ctx(1);
  larder::io::ring ring(ctx.get_executor());
  larder::io::ring_file_io file_io(ring);
  // A memory tier too small to keep the weights: every load below is a cold read.
  larder::memory_tier_options memory;
  memory.capacity_bytes = 1 << 20;
  larder::cache_manager cache(ctx.get_executor(), std::move(memory));
  larder::model_cache models(cache, file_io, {.use_mmap = use_mmap});
  const auto start = clock_type::now();
  const std::uint64_t bytes = run(ctx, load_everything(models, o.file, use_mmap));
  return static_cast<double>(bytes) / seconds_since(start);
}

double measure_pread(const options& o) {
  drop_page_cache(o.file);
  const auto start = clock_type::now();
  const model::safetensors_header header = model::read_safetensors_header(o.file);
  const int fd = ::open(o.file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::system_category(), o.file.string());
  std::vector<std::byte> buffer;
  std::uint64_t bytes = 0;
  for (const auto& t : header.tensors) {
    buffer.resize(static_cast<std::size_t>(t.byte_size()));
    std::size_t done = 0;
    while (done < buffer.size()) {
      const ssize_t got = ::pread(fd, buffer.data() + done, buffer.size() - done,
                                  static_cast<off_t>(header.data_offset + t.begin + done));
      if (got <= 0) throw std::system_error(errno, std::system_category(), "pread");
      done += static_cast<std::size_t>(got);
    }
    bytes += done;
  }
  ::close(fd);
  return static_cast<double>(bytes) / seconds_since(start);
}

// fio's arguments (without the output format run_fio adds).
std::string fio_command(const options& o) {
  return "--name=x --filename=" + o.file.string() +
         " --ioengine=io_uring --direct=1 --rw=read --bs=8M --iodepth=16";
}

std::optional<double> measure_fio(const options& o) {
  drop_page_cache(o.file);
  const auto figures = larder::bench::run_fio(fio_command(o), "read");
  if (!figures) return std::nullopt;
  return figures->bytes_per_second;
}

// ns per tensor() of a tensor the memory tier holds.
double measure_warm(const options& o) {
  asio::io_context ctx(1);
  larder::io::ring ring(ctx.get_executor());
  larder::io::ring_file_io file_io(ring);
  larder::memory_tier_options memory;
  memory.capacity_bytes = 256 << 20;
  larder::cache_manager cache(ctx.get_executor(), std::move(memory));
  larder::model_cache models(cache, file_io);
  constexpr int calls = 200'000;
  return run(ctx, [&]() -> asio::awaitable<double> {
    const larder::model_handle handle = co_await models.load(o.file);
    const std::string name = "layers.0000.bias";
    co_await models.tensor(handle, name);
    const auto start = clock_type::now();
    for (int i = 0; i < calls; ++i)
      co_await models.tensor(handle, name);
    co_return seconds_since(start) * 1e9 / calls;
  }());
}

double median(std::vector<double> runs) {
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    const options o = parse(argc, argv);
    prepare_file(o);
    const bool fio = o.fio && std::system("command -v fio >/dev/null 2>&1") == 0;
    if (o.fio && !fio) std::printf("fio not on PATH: no fio row\n");
    if (fio) std::printf("fio runs as: fio %s\n", fio_command(o).c_str());
    std::vector<double> ring_runs, mmap_runs, pread_runs, fio_runs;
    for (unsigned r = 0; r < o.repeat; ++r) {
      ring_runs.push_back(measure_model_cache(o, false));
      mmap_runs.push_back(measure_model_cache(o, true));
      pread_runs.push_back(measure_pread(o));
      if (fio) {
        if (auto bw = measure_fio(o)) fio_runs.push_back(*bw);
      }
    }
    const double limit = fio_runs.empty() ? 0 : median(fio_runs);
    std::printf("%-32s %10s %8s\n", "cold load of every tensor", "MB/s", "vs fio");
    const auto row = [&](const char* what, double bw) {
      if (limit > 0) {
        std::printf("%-32s %10.0f %8.2f\n", what, bw / 1e6, bw / limit);
      } else {
        std::printf("%-32s %10.0f %8s\n", what, bw / 1e6, "-");
      }
    };
    row("model_cache (io_uring, O_DIRECT)", median(ring_runs));
    row("model_cache use_mmap + touch", median(mmap_runs));
    row("pread per tensor", median(pread_runs));
    if (limit > 0) row("fio sequential read (limit)", limit);
    std::printf("warm tensor() from the memory tier: %.0f ns\n", measure_warm(o));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "model_load_bench: %s\n", e.what());
    return 1;
  }
}
