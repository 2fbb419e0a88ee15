// Runs the built `larder` binary as a subprocess and checks its output and exit codes.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

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
  while (std::fgets(chunk.data(), chunk.size(), pipe) != nullptr) result.output += chunk.data();
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

command_result run(const std::string& arguments) { return run_with_environment("", arguments); }

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

TEST(LarderCommand, DemoServesLaterEpochsFromMemory) {
  auto r = run("demo --memory-only --samples 64 --sample-bytes 4096 --epochs 2 --batch-size 8 "
               "--load-latency-us 100 --compute-us 100");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "epoch 1: 8 steps")) << r.output;
  EXPECT_TRUE(contains(r.output, "memory hit rate 0.0%, 0 from disk, 64 loads from storage"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "memory hit rate 100.0%, 0 from disk, 0 loads from storage"))
      << r.output;
}

// With the disk tier, a second run finds every sample on disk: no loads from storage at all.
TEST(LarderCommand, DemoSecondRunReadsFromTheDiskTier) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("larder_command_test_" + std::to_string(::getpid()) + "_disk");
  const auto config = write_file(
      "disk.yaml", "cache:\n  memory:\n    size: 100\n  disk:\n    size: 200\n    path: " +
                       dir.string() + "\n");
  const std::string args = "demo --config " + config.string() +
                           " --samples 64 --sample-bytes 4096 --epochs 1 --batch-size 8 "
                           "--load-latency-us 100 --compute-us 100";
  auto first = run(args);
  EXPECT_EQ(first.exit_code, 0) << first.output;
  EXPECT_TRUE(contains(first.output, "0 from disk, 64 loads from storage")) << first.output;
  auto second = run(args);
  EXPECT_EQ(second.exit_code, 0) << second.output;
  EXPECT_TRUE(contains(second.output, "(64 entries from earlier runs)")) << second.output;
  EXPECT_TRUE(contains(second.output, "64 from disk, 0 loads from storage")) << second.output;
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
  const auto file = write_file(
      "floors.yaml", "cache:\n  resources: {min_free_disk: 2GB, check_interval: 1m}\n");
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
