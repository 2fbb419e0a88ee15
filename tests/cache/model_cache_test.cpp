// model_cache on real safetensors files through the real io_uring ring: tensor bytes round-trip
// exactly, cold loads read only the tensor's aligned range in bounded chunks, the cache tiers
// and single flight serve repeated and concurrent requests, replaced files are never served
// stale, errors name the file and tensor, and mmap views outlive everything that made them.
#include "larder/cache/model_cache.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "larder/cache/model/safetensors_file.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/runtime.hpp"
#include "larder/runtime/when_all.hpp"
#include "scratch_directory.hpp"

namespace larder {
namespace {

using model::tensor_dtype;
using ::testing::HasSubstr;

// Forwards to a ring, recording every read and the most reads it ever had in flight at once.
class recording_file_io final : public io::file_io {
 public:
  struct read_record {
    std::uint64_t offset;
    std::size_t length;
  };

  explicit recording_file_io(io::file_io& inner) : inner_(inner) {}

  asio::awaitable<io::io_result> read_at(int fd, std::shared_ptr<io::aligned_buffer> buffer,
                                         std::size_t buffer_offset, std::size_t length,
                                         std::uint64_t file_offset) override {
    {
      std::lock_guard lock(mu_);
      reads_.push_back({file_offset, length});
    }
    const std::size_t now = in_flight_.fetch_add(1) + 1;
    std::size_t seen = max_in_flight_.load();
    while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
    }
    const io::io_result r =
        co_await inner_.read_at(fd, std::move(buffer), buffer_offset, length, file_offset);
    in_flight_.fetch_sub(1);
    co_return r;
  }
  asio::awaitable<io::io_result> write_at(int fd, std::shared_ptr<io::aligned_buffer> buffer,
                                          std::size_t buffer_offset, std::size_t length,
                                          std::uint64_t file_offset) override {
    co_return co_await inner_.write_at(fd, std::move(buffer), buffer_offset, length, file_offset);
  }
  asio::awaitable<io::io_result> fsync(int fd, bool data_only) override {
    co_return co_await inner_.fsync(fd, data_only);
  }

  std::vector<read_record> reads() const {
    std::lock_guard lock(mu_);
    return reads_;
  }
  std::size_t max_in_flight() const { return max_in_flight_.load(); }
  void reset() {
    std::lock_guard lock(mu_);
    reads_.clear();
    max_in_flight_ = 0;
  }

 private:
  io::file_io& inner_;
  mutable std::mutex mu_;
  std::vector<read_record> reads_;  // guarded by mu_
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::size_t> max_in_flight_{0};
};

// Bytes that differ between tensors and between versions of a file.
std::vector<std::byte> pattern(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> out(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : out) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<std::byte>(x >> 24);
  }
  return out;
}

struct tensor_spec {
  std::string name;
  tensor_dtype dtype;
  std::vector<std::uint64_t> shape;
};

constexpr std::size_t small_read = 64 << 10;

class model_cache_test : public ::testing::Test {
 protected:
  // Writes `specs` with bytes from pattern(seed + index) and remembers them in expected_.
  std::filesystem::path write_model(const std::string& file, const std::vector<tensor_spec>& specs,
                                    std::uint32_t seed = 0) {
    std::vector<std::vector<std::byte>> bytes;
    std::vector<model::tensor_to_write> tensors;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const auto size = *model::tensor_byte_size(specs[i].dtype, specs[i].shape);
      bytes.push_back(
          pattern(static_cast<std::size_t>(size), seed + static_cast<std::uint32_t>(i)));
    }
    for (std::size_t i = 0; i < specs.size(); ++i) {
      tensors.push_back({specs[i].name, specs[i].dtype, specs[i].shape, bytes[i]});
      expected_[specs[i].name] = bytes[i];
    }
    const auto path = scratch_.path() / file;
    model::write_safetensors(path, tensors, {{"format", "pt"}});
    return path;
  }

  static std::vector<tensor_spec> mixed_specs() {
    return {
        {"embed", tensor_dtype::F16, {37, 11}},
        {"layer.0.weight", tensor_dtype::F32, {128, 97}},  // 49,664 B
        {"layer.0.bias", tensor_dtype::F64, {97}},
        {"mask", tensor_dtype::BOOL, {5}},
        {"empty", tensor_dtype::BF16, {0, 7}},
        {"big", tensor_dtype::I8, {5 * small_read + 123}},  // several reads of small_read
        {"scale", tensor_dtype::F32, {}},
    };
  }

  std::string bytes_of(const blob& b) const { return std::string(b.view()); }
  std::string expected(const std::string& name) const {
    const auto& v = expected_.at(name);
    return std::string(reinterpret_cast<const char*>(v.data()), v.size());
  }

  std::unique_ptr<cache_manager> make_cache() {
    memory_tier_options memory;
    memory.capacity_bytes = 64 << 20;
    return std::make_unique<cache_manager>(rt_.executor(), std::move(memory));
  }

  testing::scratch_directory scratch_;
  runtime rt_{{.threads = 2}};
  io::ring ring_{rt_.executor()};
  io::ring_file_io ring_io_{ring_};
  recording_file_io io_{ring_io_};
  std::map<std::string, std::vector<std::byte>> expected_;
};

TEST_F(model_cache_test, every_tensor_round_trips_exactly) {
  const auto path = write_model("model.safetensors", mixed_specs());
  auto cache = make_cache();
  model_cache models(*cache, io_, {.max_read_bytes = small_read});
  const model_handle model = rt_.run(models.load(path));

  EXPECT_EQ(model.path(), path);
  EXPECT_EQ(model.metadata().at("format"), "pt");
  ASSERT_EQ(model.tensors().size(), mixed_specs().size());
  for (const tensor_spec& spec : mixed_specs()) {
    const tensor_view t = rt_.run(models.tensor(model, spec.name));
    EXPECT_EQ(t.name, spec.name);
    EXPECT_EQ(t.dtype, spec.dtype) << spec.name;
    EXPECT_EQ(t.shape, spec.shape) << spec.name;
    EXPECT_EQ(bytes_of(t.bytes), expected(spec.name)) << spec.name;
  }
  EXPECT_TRUE(rt_.run(models.tensor(model, "empty")).bytes.empty());
}

// An independent writer (python3 with only struct and json): no padding, so the data buffer and
// every tensor start unaligned, and the JSON lists tensors out of offset order.
constexpr std::string_view python_writer = R"(
import json, struct, sys
data = bytes(i % 256 for i in range(10240))
header = {
    "d": {"dtype": "U8", "shape": [5233], "data_offsets": [5007, 10240]},
    "a": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]},
    "c": {"dtype": "I16", "shape": [2], "data_offsets": [5003, 5007]},
    "b": {"dtype": "U8", "shape": [5000], "data_offsets": [3, 5003]},
}
text = json.dumps(header).encode('utf-8')
with open(sys.argv[1], 'wb') as f:
    f.write(struct.pack('<Q', len(text)) + text + data)
)";

TEST_F(model_cache_test, reads_unaligned_tensors_of_an_independent_writer_exactly) {
  const auto script = scratch_.write("writer.py", python_writer);
  const auto path = scratch_.path() / "python.safetensors";
  ASSERT_EQ(std::system(("python3 " + script.string() + " " + path.string()).c_str()), 0);
  auto cache = make_cache();
  model_cache models(*cache, io_, {.max_read_bytes = 4096});
  const model_handle model = rt_.run(models.load(path));
  ASSERT_NE(model.header().data_offset % 8, 0u) << "the test needs an unaligned data buffer";
  for (const tensor_view& t : rt_.run(models.load_all(model))) {
    const model::tensor_info& info = *model.header().find(t.name);
    ASSERT_EQ(t.bytes.size(), info.byte_size()) << t.name;
    for (std::size_t k = 0; k < t.bytes.size(); ++k) {
      ASSERT_EQ(std::to_integer<std::uint64_t>(t.bytes.data()[k]), (info.begin + k) % 256)
          << t.name << " byte " << k;
    }
  }
}

TEST_F(model_cache_test, load_all_returns_every_tensor_in_name_order) {
  const auto path = write_model("model.safetensors", mixed_specs());
  auto cache = make_cache();
  model_cache models(*cache, io_, {.max_read_bytes = small_read, .parallel_reads = 3});
  const model_handle model = rt_.run(models.load(path));
  const std::vector<tensor_view> all = rt_.run(models.load_all(model));
  ASSERT_EQ(all.size(), model.tensors().size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].name, model.tensors()[i].name);
    EXPECT_EQ(bytes_of(all[i].bytes), expected(all[i].name)) << all[i].name;
  }
}

TEST_F(model_cache_test, a_cold_load_reads_only_the_aligned_range_in_chunks) {
  const auto path = write_model("model.safetensors", mixed_specs());
  auto cache = make_cache();
  model_cache models(*cache, io_, {.max_read_bytes = small_read});
  const model_handle model = rt_.run(models.load(path));
  io_.reset();

  const model::tensor_info& big = *model.header().find("big");
  rt_.run(models.tensor(model, "big"));
  const auto reads = io_.reads();
  ASSERT_GE(reads.size(), big.byte_size() / small_read + 1);
  std::uint64_t lowest = UINT64_MAX;
  std::uint64_t highest = 0;
  for (const auto& r : reads) {
    EXPECT_LE(r.length, small_read);
    lowest = std::min(lowest, r.offset);
    highest = std::max(highest, r.offset + r.length);
  }
  const std::uint64_t begin = model.header().data_offset + big.begin;
  const std::uint64_t end = model.header().data_offset + big.end;
  // Alignment (at most 4096 on any common device) is the only slack.
  EXPECT_LE(lowest, begin);
  EXPECT_LT(begin - lowest, 4096u);
  EXPECT_GE(highest, end);
  EXPECT_LT(highest - end, 4096u);
}

TEST_F(model_cache_test, reads_in_flight_stay_within_parallel_reads) {
  std::vector<tensor_spec> specs;
  for (int i = 0; i < 12; ++i)
    specs.push_back({"t" + std::to_string(i), tensor_dtype::U8, {3 * small_read}});
  const auto path = write_model("model.safetensors", specs);
  auto cache = make_cache();
  model_cache models(*cache, io_, {.max_read_bytes = small_read, .parallel_reads = 4});
  const model_handle model = rt_.run(models.load(path));
  io_.reset();
  const auto all = rt_.run(models.load_all(model));
  for (const auto& t : all)
    EXPECT_EQ(bytes_of(t.bytes), expected(t.name)) << t.name;
  EXPECT_GE(io_.reads().size(), 36u);
  EXPECT_LE(io_.max_in_flight(), 4u);
  EXPECT_GT(io_.max_in_flight(), 1u) << "reads were not issued concurrently";
}

TEST_F(model_cache_test, a_second_access_hits_memory_without_reading_the_file) {
  const auto path = write_model("model.safetensors", mixed_specs());
  auto cache = make_cache();
  model_cache models(*cache, io_);
  const model_handle model = rt_.run(models.load(path));
  const tensor_view first = rt_.run(models.tensor(model, "layer.0.weight"));
  const auto reads = io_.reads().size();
  const auto hits = cache->metrics().memory.hits;

  const tensor_view second = rt_.run(models.tensor(model, "layer.0.weight"));
  EXPECT_EQ(second.bytes.data(), first.bytes.data()) << "the cached blob, not a copy";
  EXPECT_EQ(io_.reads().size(), reads);
  const auto m = cache->metrics();
  EXPECT_EQ(m.loads, 1u);
  EXPECT_GT(m.memory.hits, hits);
  EXPECT_TRUE(cache->contains("model/" + model.fingerprint().to_string() + "/layer.0.weight"));
}

TEST_F(model_cache_test, concurrent_requests_for_one_tensor_share_one_load) {
  const auto path = write_model("model.safetensors", mixed_specs());
  auto cache = make_cache();
  model_cache models(*cache, io_, {.max_read_bytes = small_read});
  const model_handle model = rt_.run(models.load(path));
  constexpr int callers = 8;
  const auto views = rt_.run([&]() -> asio::awaitable<std::vector<tensor_view>> {
    std::vector<asio::awaitable<tensor_view>> calls;
    for (int i = 0; i < callers; ++i)
      calls.push_back(models.tensor(model, "big"));
    co_return co_await when_all(std::move(calls));
  }());
  for (const auto& v : views)
    EXPECT_EQ(bytes_of(v.bytes), expected("big"));
  const auto m = cache->metrics();
  EXPECT_EQ(m.loads, 1u);
  EXPECT_EQ(m.coalesced_loads, callers - 1u);
}

TEST_F(model_cache_test, concurrent_loads_from_two_threads_agree) {
  const auto path = write_model("model.safetensors", mixed_specs());
  auto cache = make_cache();
  model_cache models(*cache, io_, {.max_read_bytes = small_read, .parallel_reads = 4});
  std::atomic<int> wrong{0};
  auto reader = [&] {
    for (int round = 0; round < 5; ++round) {
      const model_handle model = rt_.run(models.load(path));
      for (const auto& t : rt_.run(models.load_all(model)))
        if (bytes_of(t.bytes) != expected(t.name)) wrong.fetch_add(1);
    }
  };
  std::thread a(reader);
  std::thread b(reader);
  a.join();
  b.join();
  EXPECT_EQ(wrong.load(), 0);
  // One load per tensor with bytes: everything after that came from memory or shared a load.
  EXPECT_EQ(cache->metrics().loads, mixed_specs().size() - 1);
}

TEST_F(model_cache_test, a_replaced_file_is_never_served_stale) {
  const auto specs = mixed_specs();
  const auto path = write_model("model.safetensors", specs, 1);
  const std::string old_bytes = expected("layer.0.weight");
  auto cache = make_cache();
  model_cache models(*cache, io_);
  const model_handle old_model = rt_.run(models.load(path));
  EXPECT_EQ(bytes_of(rt_.run(models.tensor(old_model, "layer.0.weight")).bytes), old_bytes);

  // Same names, shapes and size: only the bytes differ.
  write_model("model.safetensors", specs, 100);
  ASSERT_NE(expected("layer.0.weight"), old_bytes);
  const model_handle new_model = rt_.run(models.load(path));
  EXPECT_NE(new_model.fingerprint(), old_model.fingerprint());
  EXPECT_EQ(bytes_of(rt_.run(models.tensor(new_model, "layer.0.weight")).bytes),
            expected("layer.0.weight"));
  // The old handle still reads the file it was loaded from.
  EXPECT_EQ(bytes_of(rt_.run(models.tensor(old_model, "layer.0.weight")).bytes), old_bytes);
}

TEST_F(model_cache_test, an_unknown_tensor_is_out_of_range_naming_file_and_tensor) {
  const auto path = write_model("model.safetensors", mixed_specs());
  auto cache = make_cache();
  model_cache models(*cache, io_);
  const model_handle model = rt_.run(models.load(path));
  try {
    rt_.run(models.tensor(model, "no.such.tensor"));
    FAIL() << "no exception";
  } catch (const std::out_of_range& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
    EXPECT_THAT(e.what(), HasSubstr("no.such.tensor"));
  }
  EXPECT_THROW(rt_.run(models.tensors(model, {"embed", "missing"})), std::out_of_range);
}

TEST_F(model_cache_test, a_malformed_or_missing_file_is_an_error_naming_it) {
  auto cache = make_cache();
  model_cache models(*cache, io_);
  const auto expect_error_naming = [&](const std::filesystem::path& path, auto error_type) {
    try {
      rt_.run(models.load(path));
      ADD_FAILURE() << "no exception for " << path;
    } catch (const decltype(error_type)& e) {
      EXPECT_THAT(e.what(), HasSubstr(path.string()));
    }
  };
  expect_error_naming(scratch_.write("short.safetensors", "abc"), model::safetensors_error(""));
  // A header length of 2^40 in a 16-byte file.
  expect_error_naming(
      scratch_.write("huge.safetensors", std::string("\0\0\0\0\0\1\0\0{}      ", 16)),
      model::safetensors_error(""));
  expect_error_naming(
      scratch_.write("json.safetensors", std::string("\x08\0\0\0\0\0\0\0{\"a\":1 }", 16)),
      model::safetensors_error(""));
  expect_error_naming(
      scratch_.path() / "missing.safetensors",
      std::system_error(std::make_error_code(std::errc::no_such_file_or_directory)));
}

TEST_F(model_cache_test, a_header_larger_than_the_first_read_is_read_whole) {
  std::vector<tensor_spec> specs;
  for (int i = 0; i < 2000; ++i)  // ~100 KB of JSON
    specs.push_back(
        {"a.rather.long.tensor.name.number." + std::to_string(i), tensor_dtype::F32, {3}});
  const auto path = write_model("model.safetensors", specs);
  auto cache = make_cache();
  model_cache models(*cache, io_);
  const model_handle model = rt_.run(models.load(path));
  ASSERT_GT(model.header().data_offset, 64u << 10);
  EXPECT_EQ(model.tensors().size(), specs.size());
  const std::string& name = specs[1234].name;
  EXPECT_EQ(bytes_of(rt_.run(models.tensor(model, name)).bytes), expected(name));
}

TEST_F(model_cache_test, tensors_come_back_from_the_disk_tier_without_reading_the_model) {
  const auto path = write_model("model.safetensors", mixed_specs());
  cache_config config;
  config.memory.size_bytes = 64 << 20;
  config.disk.path = scratch_.path() / "cache";
  config.disk.size_bytes = 64 << 20;
  auto cache = rt_.run(
      cache_manager::open(rt_.executor(), config, {.region_size = 4 << 20, .file_io = &ring_io_}));
  model_cache models(*cache, io_);
  const model_handle model = rt_.run(models.load(path));
  rt_.run(models.tensor(model, "layer.0.weight"));
  rt_.run(cache->clear());  // memory only: the disk tier keeps its copy
  const auto reads = io_.reads().size();

  EXPECT_EQ(bytes_of(rt_.run(models.tensor(model, "layer.0.weight")).bytes),
            expected("layer.0.weight"));
  EXPECT_EQ(io_.reads().size(), reads);
  const auto m = cache->metrics();
  EXPECT_EQ(m.loads, 1u);
  ASSERT_TRUE(m.disk);
  EXPECT_EQ(m.disk->hits, 1u);
  rt_.run(cache->close());
}

TEST_F(model_cache_test, mmap_views_outlive_the_handle_and_the_model_cache) {
  const auto path = write_model("model.safetensors", mixed_specs());
  auto cache = make_cache();
  std::vector<tensor_view> views;
  {
    model_cache models(*cache, io_, {.use_mmap = true});
    const model_handle model = rt_.run(models.load(path));
    io_.reset();
    views = rt_.run(models.load_all(model));
    EXPECT_TRUE(io_.reads().empty()) << "mmap views read nothing through io_uring";
  }
  // Handle and model_cache are gone; only the views hold the mapping (ASan builds would report a
  // read of unmapped memory here).
  ASSERT_EQ(views.size(), mixed_specs().size());
  for (const auto& t : views)
    EXPECT_EQ(bytes_of(t.bytes), expected(t.name)) << t.name;
  const auto m = cache->metrics();
  EXPECT_EQ(m.loads, 0u);
  EXPECT_EQ(m.memory_usage, 0u) << "mmap views are not copied into the memory tier";
}

TEST_F(model_cache_test, mmap_still_serves_a_tensor_already_in_memory) {
  const auto path = write_model("model.safetensors", mixed_specs());
  auto cache = make_cache();
  model_cache reader(*cache, io_);
  const tensor_view read = rt_.run(reader.tensor(rt_.run(reader.load(path)), "embed"));
  model_cache mapper(*cache, io_, {.use_mmap = true});
  const tensor_view mapped = rt_.run(mapper.tensor(rt_.run(mapper.load(path)), "embed"));
  EXPECT_EQ(mapped.bytes.data(), read.bytes.data());
}

TEST_F(model_cache_test, options_must_allow_reads) {
  auto cache = make_cache();
  EXPECT_THROW(model_cache(*cache, io_, {.max_read_bytes = 0}), std::invalid_argument);
  EXPECT_THROW(model_cache(*cache, io_, {.parallel_reads = 0}), std::invalid_argument);
}

TEST(ModelCacheOptions, UseMmapComesFromTheConfiguration) {
  cache_config config;
  EXPECT_FALSE(model_cache_options::from_config(config).use_mmap);
  config.disk.use_mmap = true;
  const model_cache_options options = model_cache_options::from_config(config);
  EXPECT_TRUE(options.use_mmap);
  EXPECT_EQ(options.max_read_bytes, model_cache_options{}.max_read_bytes);
  EXPECT_EQ(options.parallel_reads, model_cache_options{}.parallel_reads);
}

}  // namespace
}  // namespace larder
