// `larder warm` as an operator runs it, a subprocess on a real cache directory; then what a
// training job that embeds larder sees in the next process: the same configuration, the dataset
// streamed through dataset_cache, every sample from the disk tier and none from the source.
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <span>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "larder/cache/cache_manager.hpp"
#include "larder/cache/dataset_cache.hpp"
#include "larder/cache/model/safetensors_file.hpp"
#include "larder/cache/model_cache.hpp"
#include "larder/config/config_loader.hpp"
#include "larder/io/ring.hpp"
#include "larder/runtime/runtime.hpp"
#include "larder_command.hpp"
#include "scratch_directory.hpp"

namespace larder {
namespace {

namespace fs = std::filesystem;

using testing::command_result;
using testing::run_larder;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Binary bytes (zeros included) of a size that differs per sample and is no multiple of a block.
std::string sample_bytes(std::size_t index, std::size_t size) {
  std::mt19937 rng(static_cast<unsigned>(index));
  std::string bytes(size, '\0');
  for (char& c : bytes)
    c = static_cast<char>(rng() % 256);
  return bytes;
}

std::string file_sample(std::size_t index) {
  return sample_bytes(index, 1000 + 733 * index);
}

constexpr std::size_t file_samples = 24;

class LarderWarm : public ::testing::Test {
 protected:
  void SetUp() override {
    for (std::size_t i = 0; i < file_samples; ++i)
      scratch_.write(fs::path("train") / fmt::format("{:03}.bin", i), file_sample(i));
    config_ = scratch_.write("larder.yaml", fmt::format("cache:\n"
                                                        "  memory:\n"
                                                        "    size: 100\n"
                                                        "  disk:\n"
                                                        "    size: 200\n"
                                                        "    path: {}\n",
                                                        (scratch_.path() / "cache").string()));
  }

  fs::path dataset() const { return scratch_.path() / "train"; }

  command_result warm(const std::string& source, const std::string& prefix = "") {
    return run_larder("warm --config " + config_.string() + " " + source, prefix);
  }

  // What a training job finds in the next process: the source's reads counted, the dataset
  // streamed in a shuffled order through a cache opened on the same configuration.
  struct training_view {
    std::map<std::size_t, std::string> samples;
    int source_reads = 0;
    std::uint64_t loads = 0;
    std::uint64_t disk_hits = 0;
    bool recorded_complete = false;  // get_dataset() knows the dataset, all of it cached
  };

  training_view stream_as_a_training_job(dataset_source source) {
    std::atomic<int> reads{0};
    source.read = [read = source.read, &reads](std::size_t i) {
      ++reads;
      return read(i);
    };
    auto cache = rt_.run(cache_manager::open(rt_.executor(), load_config_file(config_)));
    dataset_cache datasets(*cache);
    training_view view;
    auto stream = datasets.stream_dataset(
        source, {}, {.batch_size = 5, .prefetch = 2, .shuffle = true, .seed = 3});
    while (auto batch = rt_.run(stream->next())) {
      for (std::size_t i = 0; i < batch->samples.size(); ++i)
        view.samples[batch->indices[i]] = std::string(batch->samples[i].view());
    }
    const cache_metrics stats = cache->metrics();
    view.loads = stats.loads;
    view.disk_hits = stats.disk->hits;
    const auto recorded = rt_.run(datasets.get_dataset(dataset_cache::fingerprint(source)));
    view.recorded_complete = recorded && recorded->complete();
    view.source_reads = reads;
    rt_.run(cache->close());
    return view;
  }

  testing::scratch_directory scratch_;
  fs::path config_;
  runtime rt_{{.threads = 2}};
  io::ring ring_{rt_.executor()};
  io::ring_file_io file_io_{ring_};
};

TEST_F(LarderWarm, ATrainingJobThenFindsEverySampleInTheDiskTierAndReadsNothingFromTheSource) {
  const auto r = warm(dataset().string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "warmed 24 samples: 24 read from the source")) << r.output;
  EXPECT_TRUE(contains(r.output, "already cached 0; could not be read 0")) << r.output;

  const auto view = stream_as_a_training_job(directory_dataset(file_io_, dataset()));
  EXPECT_EQ(view.source_reads, 0);
  EXPECT_EQ(view.loads, 0u);
  EXPECT_EQ(view.disk_hits, file_samples);
  EXPECT_TRUE(view.recorded_complete);
  ASSERT_EQ(view.samples.size(), file_samples);
  for (std::size_t i = 0; i < file_samples; ++i)
    EXPECT_EQ(view.samples.at(i), file_sample(i)) << i;
}

// The second run finds every sample on disk and reads none; a trailing slash, as a shell
// completes the directory, names the same dataset.
TEST_F(LarderWarm, WarmingTwiceReadsNothingTheSecondTime) {
  ASSERT_EQ(warm(dataset().string()).exit_code, 0);
  const auto r = warm(dataset().string() + "/");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "warmed 24 samples: 0 read from the source, 0.0 MB")) << r.output;
  EXPECT_TRUE(contains(r.output, "already cached 24")) << r.output;
  // Nothing written either: no superseded value in the directory.
  const auto stat = run_larder("stat " + (scratch_.path() / "cache").string());
  EXPECT_TRUE(contains(stat.output, "dead: 0 entries")) << stat.output;
}

TEST_F(LarderWarm, ARecordFileIsWarmedRecordByRecordWithRecordBytes) {
  std::string records;
  for (std::size_t i = 0; i < 10; ++i)
    records += sample_bytes(i, 4096);
  records += "a short last record";
  const fs::path file = scratch_.write("train.bin", records);
  const auto r = run_larder("warm --config " + config_.string() + " --record-bytes 4096 " +
                            file.string() + " --parallel 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "warmed 11 samples: 11 read from the source")) << r.output;

  const auto view = stream_as_a_training_job(record_file_dataset(file_io_, file, 4096));
  EXPECT_EQ(view.source_reads, 0);
  EXPECT_EQ(view.loads, 0u);
  ASSERT_EQ(view.samples.size(), 11u);
  for (std::size_t i = 0; i < 10; ++i)
    EXPECT_EQ(view.samples.at(i), sample_bytes(i, 4096)) << i;
  EXPECT_EQ(view.samples.at(10), "a short last record");
}

TEST_F(LarderWarm, ASampleThatCannotBeReadIsNamedAndTheOthersAreCached) {
  // Root reads a file of mode 000 anyway: as root the command runs without the capabilities
  // that let it (setpriv, util-linux).
  std::string prefix;
  if (::geteuid() == 0) {
    prefix = "setpriv --bounding-set -dac_override,-dac_read_search";
    if (std::system((prefix + " true >/dev/null 2>&1").c_str()) != 0)
      GTEST_SKIP() << "as root, and setpriv cannot drop the capability to read any file";
  }
  const fs::path unreadable = dataset() / "005.bin";
  fs::permissions(unreadable, fs::perms::none);
  const auto r = warm(dataset().string(), prefix);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "cannot read 005.bin")) << r.output;
  EXPECT_TRUE(contains(r.output, "23 read from the source")) << r.output;
  EXPECT_TRUE(contains(r.output, "1 samples could not be read")) << r.output;

  // Changing the mode leaves the modification times, and so the dataset's identity, as they were.
  fs::permissions(unreadable, fs::perms::owner_read | fs::perms::owner_write);
  const auto view = stream_as_a_training_job(directory_dataset(file_io_, dataset()));
  EXPECT_EQ(view.source_reads, 1);
  EXPECT_EQ(view.loads, 1u);
  EXPECT_FALSE(view.recorded_complete);  // a partial warm records no dataset
  ASSERT_EQ(view.samples.size(), file_samples);
  for (std::size_t i = 0; i < file_samples; ++i)
    EXPECT_EQ(view.samples.at(i), file_sample(i)) << i;
}

// The disk tier evicts the first samples to store the last: the job would read them from the
// source, and warm says so.
TEST_F(LarderWarm, ADatasetLargerThanDiskSizeIsReported) {
  for (std::size_t i = 0; i < 100; ++i)
    scratch_.write(fs::path("large") / fmt::format("{:03}.bin", i), sample_bytes(i, 1 << 20));
  const fs::path small =
      scratch_.write("small.yaml", fmt::format("cache:\n  disk:\n    size: 70\n    path: {}\n",
                                               (scratch_.path() / "small").string()));
  const auto r =
      run_larder("warm --config " + small.string() + " " + (scratch_.path() / "large").string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "100 read from the source")) << r.output;
  EXPECT_TRUE(contains(r.output, "does not fit disk.size (70.0 MB)")) << r.output;
}

TEST_F(LarderWarm, ACacheInUseByAnotherProcessIsRefusedNamingIt) {
  auto cache = rt_.run(cache_manager::open(rt_.executor(), load_config_file(config_)));
  const auto r = warm(dataset().string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(
      contains(r.output, "in use by another cache (process " + std::to_string(::getpid()) + ")"))
      << r.output;
  rt_.run(cache->close());
}

TEST_F(LarderWarm, AMissingSourceOrConfigurationIsAUsageErrorNamingIt) {
  const fs::path absent = scratch_.path() / "absent";
  auto r = warm(absent.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "source " + absent.string())) << r.output;

  r = run_larder("warm --config " + (scratch_.path() / "absent.yaml").string() + " " +
                 dataset().string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "absent.yaml")) << r.output;

  const fs::path bad = scratch_.write("bad.yaml", "cache:\n  memory:\n    size: 4XB\n");
  r = run_larder("warm --config " + bad.string() + " " + dataset().string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "cache.memory.size: \"4XB\" is not a size")) << r.output;

  EXPECT_EQ(run_larder("warm " + dataset().string()).exit_code, 2);  // no --config
  EXPECT_FALSE(fs::exists(scratch_.path() / "cache"));               // nothing was opened
}

// A model file: every tensor lands in the disk tier under model_cache's keys, so a job that
// loads the model through model_cache reads no tensor from the file.
TEST_F(LarderWarm, AModelFileIsWarmedTensorByTensorForModelCache) {
  std::vector<std::string> bytes{sample_bytes(1, 4 * 3 * 5), sample_bytes(2, 2 * 7), ""};
  const std::vector<model::tensor_to_write> tensors{
      {"encoder.weight", model::tensor_dtype::F32, {3, 5}, std::as_bytes(std::span(bytes[0]))},
      {"encoder.bias", model::tensor_dtype::F16, {7}, std::as_bytes(std::span(bytes[1]))},
      {"empty", model::tensor_dtype::F32, {0, 4}, std::as_bytes(std::span(bytes[2]))}};
  const fs::path file = scratch_.path() / "model.safetensors";
  model::write_safetensors(file, tensors, {{"format", "pt"}});

  auto r = warm(file.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "warmed 3 tensors: 2 read from the file")) << r.output;
  r = warm(file.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "warmed 3 tensors: 0 read from the file")) << r.output;
  EXPECT_TRUE(contains(r.output, "already cached 2")) << r.output;

  auto cache = rt_.run(cache_manager::open(rt_.executor(), load_config_file(config_)));
  {
    model_cache models(*cache, file_io_);
    const model_handle handle = rt_.run(models.load(file));
    const std::vector<tensor_view> all = rt_.run(models.load_all(handle));
    ASSERT_EQ(all.size(), 3u);
    std::map<std::string, std::string> got;
    for (const tensor_view& t : all)
      got[t.name] = std::string(t.bytes.view());
    EXPECT_EQ(got.at("encoder.weight"), bytes[0]);
    EXPECT_EQ(got.at("encoder.bias"), bytes[1]);
    EXPECT_EQ(got.at("empty"), "");
  }
  const cache_metrics m = cache->metrics();
  EXPECT_EQ(m.loads, 0u);  // no tensor read from the file: all from the disk tier
  EXPECT_EQ(m.disk->hits, 2u);  // the empty tensor needs no cache
  rt_.run(cache->close());
}

// A file is a dataset only as records, or else a safetensors model.
TEST_F(LarderWarm, AFileWithoutRecordBytesOrADirectoryWithThemIsAUsageError) {
  const fs::path model = scratch_.write("model.safetensors", "not a dataset");
  auto r = warm(model.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "is not a safetensors model file")) << r.output;
  EXPECT_TRUE(contains(r.output, "pass --record-bytes N")) << r.output;

  r = warm("--record-bytes 4096 " + dataset().string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "is a directory")) << r.output;
}

TEST(LarderWarmHelp, DescribesTheSourcesTheKeysAndTheExitCodes) {
  auto r = run_larder("warm --help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const std::string text :
       {"--record-bytes", "--parallel", "already in the disk tier are not read again",
        "ds/<fingerprint>/<index>", "Exit codes: 0", "in use by another process",
        "larder warm --config larder.yaml /data/train"})
    EXPECT_TRUE(contains(r.output, text)) << text << "\n" << r.output;
  r = run_larder("--help");
  EXPECT_TRUE(contains(r.output, "warm")) << r.output;
}

}  // namespace
}  // namespace larder
