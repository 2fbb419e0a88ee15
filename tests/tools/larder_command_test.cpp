// Runs the built `larder` binary as a subprocess and checks its output and exit codes.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace {

struct command_result {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

command_result run_with_environment(const std::string& environment, const std::string& arguments) {
  const std::string command =
      environment + " " + std::string(LARDER_COMMAND) + " " + arguments + " 2>&1";
  command_result result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), chunk.size(), pipe) != nullptr)
    result.output += chunk.data();
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

command_result run(const std::string& arguments) {
  return run_with_environment("", arguments);
}

std::filesystem::path write_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("larder_command_test_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path) << text;
  return path;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(LarderCommand, HelpListsTheCommandsAndExitsZero) {
  auto r = run("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "demo")) << r.output;
  EXPECT_TRUE(contains(r.output, "config")) << r.output;
}

TEST(LarderCommand, NoCommandOrAnUnknownOneIsAUsageError) {
  EXPECT_EQ(run("").exit_code, 2);
  EXPECT_EQ(run("frobnicate").exit_code, 2);
  EXPECT_EQ(run("demo --samples 0").exit_code, 2);
}

TEST(LarderCommand, DemoStreamsLaterEpochsFromMemoryAndRemovesItsTemporaryDirectory) {
  auto r =
      run("demo --memory-only --samples 64 --sample-bytes 4096 --epochs 2 --batch-size 8 "
          "--load-latency-us 100 --compute-us 100");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "epoch 1: 8 steps")) << r.output;
  EXPECT_TRUE(contains(r.output, "memory 0.0%, disk 0, source 64")) << r.output;
  EXPECT_TRUE(contains(r.output, "memory 100.0%, disk 0, source 0")) << r.output;
  EXPECT_TRUE(contains(r.output, "epoch 1 again, cold, without prefetch")) << r.output;
  EXPECT_TRUE(contains(r.output, "summary: epoch 1 read 64 samples from the source")) << r.output;
  // "... in /tmp/larder-demo-XXXXXX (temporary)": gone once the demo has finished.
  const auto at = r.output.find("larder-demo-");
  ASSERT_NE(at, std::string::npos) << r.output;
  const auto start = r.output.rfind(' ', at) + 1;
  const std::string dir = r.output.substr(start, r.output.find(' ', at) - start);
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}

// With --dir, a second run finds every sample in the disk tier: nothing from the source.
TEST(LarderCommand, DemoSecondRunReadsFromTheDiskTier) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("larder_command_test_" + std::to_string(::getpid()) + "_disk");
  const auto config =
      write_file("disk.yaml", "cache:\n  memory:\n    size: 100\n  disk:\n    size: 200\n");
  const std::string args = "demo --config " + config.string() + " --dir " + dir.string() +
                           " --samples 64 --sample-bytes 4096 --epochs 1 --batch-size 8 "
                           "--load-latency-us 100 --compute-us 100";
  auto first = run(args);
  EXPECT_EQ(first.exit_code, 0) << first.output;
  EXPECT_TRUE(contains(first.output, "disk 0, source 64")) << first.output;
  auto second = run(args);
  EXPECT_EQ(second.exit_code, 0) << second.output;
  // The samples, and those of the comparison epoch, under their own keys.
  EXPECT_TRUE(contains(second.output, "disk tier holds 128 entries from earlier runs"))
      << second.output;
  EXPECT_TRUE(contains(second.output, "epoch 1: 8 steps")) << second.output;
  EXPECT_TRUE(contains(second.output, "memory 0.0%, disk 64, source 0")) << second.output;
  std::filesystem::remove_all(dir);
  std::filesystem::remove(config);
}

TEST(LarderCommand, DemoRefusesABadConfigurationNamingTheKey) {
  const auto bad = write_file("bad.yaml", "cache:\n  memory:\n    size: 4XB\n");
  auto r = run("demo --config " + bad.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "cache.memory.size: \"4XB\" is not a size")) << r.output;
  std::filesystem::remove(bad);
}

TEST(LarderCommand, ConfigShowsResolvedSettingsWithEnvironmentOverrides) {
  const auto file = write_file("ok.toml", "[cache]\nmemory_size = \"2GB\"\npolicy = \"fifo\"\n");
  auto r = run("config --config " + file.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "size 2000.0 MB, policy fifo")) << r.output;
  r = run_with_environment("CACHE_MEMORY_SIZE=512MiB CACHE_POLICY=lru",
                           "config --config " + file.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "size 536.9 MB, policy lru")) << r.output;
  std::filesystem::remove(file);
}

TEST(LarderCommand, ConfigShowsTheResourceFloors) {
  const auto file =
      write_file("floors.yaml", "cache:\n  resources: {min_free_disk: 2GB, check_interval: 1m}\n");
  auto r = run("config --config " + file.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(
      r.output,
      "cache.resources: min_available_memory 536.9 MB, min_free_disk 2000.0 MB, check every 60 s"))
      << r.output;
  std::filesystem::remove(file);
}

TEST(LarderCommand, ConfigPrintsTheDefaultTemplate) {
  auto r = run("config --print-default");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(contains(r.output, "cache:\n  memory:\n    size: 1000")) << r.output;
}

TEST(LarderCommand, ConfigRejectsAnUnknownKey) {
  const auto file = write_file("typo.yaml", "cache:\n  memroy:\n    size: 10\n");
  auto r = run("config --config " + file.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "cache.memroy")) << r.output;
  std::filesystem::remove(file);
}

}  // namespace
