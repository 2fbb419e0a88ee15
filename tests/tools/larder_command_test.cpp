// Runs the built `larder` binary as a subprocess and checks its output and exit codes.
#include "larder_command.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "scratch_directory.hpp"

namespace {

using larder::testing::command_result;

command_result run_with_environment(const std::string& environment, const std::string& arguments) {
  return larder::testing::run_larder(arguments, environment);
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

TEST(LarderCommand, ConfigShowsTheMetricsEndpoint) {
  const auto file = write_file("metrics.toml", "[cache.metrics]\naddress = \"::1\"\nport = 0\n");
  auto r = run("config --config " + file.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "cache.metrics:  enabled true, address ::1, port 0")) << r.output;
  std::filesystem::remove(file);
}

TEST(LarderCommand, ConfigShowsTheRemoteTierButNeverItsPassword) {
  const auto file = write_file("remote.yaml",
                               "cache:\n  remote: {enabled: true, nodes: \"10.0.0.1:6379, "
                               "[::1]:7000\", user: trainer, password: hunter2-file, "
                               "request_timeout: 250ms}\ntraining_cache: {remote: read_only}\n");
  for (const char* environment : {"", "CACHE_REMOTE_PASSWORD=hunter2-env"}) {
    auto r = run_with_environment(environment, "config --config " + file.string());
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output,
                         "cache.remote:   enabled true, nodes 10.0.0.1:6379,[::1]:7000, user "
                         "trainer, password (set), key_prefix larder, mode read_write\n"))
        << r.output;
    EXPECT_TRUE(contains(r.output,
                         "request_timeout 250 ms, connect_timeout 1000 ms, connections_per_node "
                         "2, max_value_size 67108864 B, large_values chunk, chunk_size 1048576 B, "
                         "breaker after 5 failures for 5000 ms\n"))
        << r.output;
    EXPECT_TRUE(contains(r.output, "eviction s3fifo, remote read_write\n")) << r.output;
    EXPECT_TRUE(contains(r.output, "eviction sieve, remote read_only\n")) << r.output;
    EXPECT_TRUE(contains(r.output, "eviction s3fifo, remote off\n")) << r.output;
    EXPECT_FALSE(contains(r.output, "hunter2")) << r.output;
    EXPECT_TRUE(contains(r.output, "cache.remote.tls: off\n")) << r.output;
  }
  std::filesystem::remove(file);
}

TEST(LarderCommand, ConfigShowsTheRemoteTls) {
  const auto ca = write_file("ca.pem", "not checked here\n");
  const auto file = write_file(
      "tls.yaml", "cache:\n  remote:\n    enabled: true\n    tls: {enabled: true, ca_file: " +
                      ca.string() + ", server_name: redis.internal}\n");
  auto r = run("config --config " + file.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "cache.remote.tls: on, ca_file " + ca.string() +
                                     ", client certificate (none), server_name redis.internal, "
                                     "verify_peer true\n"))
      << r.output;
  std::filesystem::remove(file);
  std::filesystem::remove(ca);
}

TEST(LarderCommand, ConfigSaysThereIsNoPasswordWhenThereIsNone) {
  const auto file = write_file("no_password.toml", "[cache.remote]\nenabled = false\n");
  auto r = run("config --config " + file.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output,
                       "cache.remote:   enabled false, nodes 127.0.0.1:6379, user "
                       "(none), password (none), key_prefix larder"))
      << r.output;
  std::filesystem::remove(file);
}

TEST(LarderCommand, ConfigRefusesAMistypedPasswordWithoutShowingIt) {
  const auto file = write_file("bad_password.toml", "[cache.remote]\npassword = 918273645\n");
  auto r = run("config --config " + file.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.output, "cache.remote.password: is not a string (value not shown)"))
      << r.output;
  EXPECT_FALSE(contains(r.output, "918273645")) << r.output;
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

// A, B and C of 100, 200 and 100 bytes: A B A C B (the replay tests' worked example).
constexpr const char* small_trace =
    "timestamp,key,size\n1,A,100\n2,B,200\n3,A,100\n4,C,100\n5,B,200\n";

TEST(LarderReplay, CsvOutputHasTheHeaderAndARowPerPolicyAndSize) {
  larder::testing::scratch_directory scratch;
  const auto trace = scratch.write("t.csv", small_trace);
  auto r = run("replay " + trace.string() + " --policy lru,fifo --size 2,3 --ignore-size --csv");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output,
            "policy,size,requests,object_miss_ratio,byte_miss_ratio\n"
            "lru,2,5,0.800000,0.800000\n"
            "lru,3,5,0.600000,0.600000\n"
            "fifo,2,5,0.600000,0.600000\n"
            "fifo,3,5,0.600000,0.600000\n");
}

// 50% of a working set of 400 bytes: 200 bytes, room for B alone or for A and C.
TEST(LarderReplay, TablePrintsPercentagesOfTheWorkingSet) {
  larder::testing::scratch_directory scratch;
  const auto trace = scratch.write("t.csv", small_trace);
  auto r = run("replay " + trace.string() + " --policy lru --size 50%,300");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "5 requests, working set 3 objects, 400 B")) << r.output;
  EXPECT_TRUE(contains(r.output,
                       "policy  cache size   requests  object miss ratio  byte miss "
                       "ratio\n"))
      << r.output;
  EXPECT_TRUE(contains(r.output,
                       "lru     50% (200 B)         5             1.0000           "
                       "1.0000\n"))
      << r.output;
  EXPECT_TRUE(contains(r.output,
                       "lru     300 B               5             0.8000           "
                       "0.8571\n"))
      << r.output;
}

TEST(LarderReplay, BadTraceExitsWithTheBadInputCodeNamingTheLine) {
  larder::testing::scratch_directory scratch;
  const auto csv = scratch.write("bad.csv", "timestamp,key,size\n1,A,100\n2,B,lots\n");
  auto r = run("replay " + csv.string() + " --size 1MB");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "bad.csv:3: the size \"lots\" is not a whole number of bytes"))
      << r.output;
  const auto oracle = scratch.write("short.oracleGeneral", std::string(30, '\0'));
  r = run("replay " + oracle.string() + " --size 1MB");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "truncated record at byte offset 24: 6 of 24 bytes")) << r.output;
  r = run("replay " + (scratch.path() / "absent.csv").string() + " --size 1MB");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "cannot open")) << r.output;
}

TEST(LarderReplay, BadArgumentsAreUsageErrors) {
  larder::testing::scratch_directory scratch;
  const auto trace = scratch.write("t.csv", small_trace);
  const auto txt = scratch.write("t.txt", small_trace);
  const std::string file = trace.string();
  const std::pair<std::string, std::string> cases[] = {
      {file + " --size 4XB", "--size \"4XB\" is not a size"},
      {file + " --size 1.5", "--size \"1.5\" is not a size"},
      {file + " --size 0", "--size \"0\" is not a size"},
      {file + " --policy arc --size 1", "--policy \"arc\" is not a policy; use all, lru, fifo"},
      {file + " --size 200MB --ignore-size", "with --ignore-size a size is a number of objects"},
      {file + " --size 10 --ignore-size --count-overhead", "do not go together"},
      {file + " --size 1% --ignore-size", "--size 1% of a working set of 3 objects is nothing"},
      {txt.string() + " --size 1MB", "cannot tell the format of"},
      {file + " --size 1MB --format parquet", "--format \"parquet\" is not a trace format"},
      {file, "--size is required"},
  };
  for (const auto& [args, message] : cases) {
    auto r = run("replay " + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, message)) << args << "\n" << r.output;
  }
  // The format from --format when the name does not tell.
  EXPECT_EQ(run("replay " + txt.string() + " --size 1MB --format csv").exit_code, 0);
}

TEST(LarderReplay, HelpDescribesTheFormatsAndOptions) {
  auto r = run("replay --help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* text : {"oracleGeneral", "--policy", "--size", "--ignore-size",
                           "--count-overhead", "--shards", "--csv", "--plot", "gnuplot-nox"}) {
    EXPECT_TRUE(contains(r.output, text)) << text << "\n" << r.output;
  }
  EXPECT_TRUE(contains(run("--help").output, "replay"));
}

TEST(LarderReplay, PlotDrawsAPng) {
  ASSERT_EQ(std::system("command -v gnuplot >/dev/null 2>&1"), 0)
      << "gnuplot is not installed: scripts/install-deps.sh installs it (Debian: gnuplot-nox)";
  larder::testing::scratch_directory scratch;
  const auto trace = scratch.write("t.csv", small_trace);
  const auto png = scratch.path() / "mrc.png";
  auto r = run("replay " + trace.string() + " --size 100,200,300,400 --plot " + png.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(png, std::ios::binary);
  std::string magic(8, '\0');
  in.read(magic.data(), 8);
  EXPECT_EQ(magic, "\x89PNG\r\n\x1a\n") << r.output;
}

TEST(LarderReplay, PlotWithoutGnuplotFailsNamingThePackage) {
  larder::testing::scratch_directory scratch;
  const auto trace = scratch.write("t.csv", small_trace);
  const auto png = scratch.path() / "mrc.png";
  // A PATH with nothing on it: gnuplot cannot be found.
  const auto empty = scratch.path() / "empty-path";
  std::filesystem::create_directory(empty);
  auto r =
      run_with_environment("PATH=" + empty.string(),
                           "replay " + trace.string() + " --size 100,200 --plot " + png.string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "gnuplot-nox")) << r.output;
  EXPECT_FALSE(std::filesystem::exists(png));
}

// A disk-tier directory made the way an operator's would be: by `larder demo --dir`, closed
// cleanly. Removed with the scratch directory.
class LarderDirectoryTools : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ =
        scratch_.write("disk.yaml", "cache:\n  memory:\n    size: 100\n  disk:\n    size: 200\n");
    const auto r =
        run("demo --config " + config_.string() + " --dir " + (scratch_.path() / "demo").string() +
            " --samples 32 --sample-bytes 4096 --epochs 1 --batch-size 8 "
            "--load-latency-us 10 --compute-us 10");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    ASSERT_TRUE(std::filesystem::exists(cache_dir() / "manifest"));
  }

  std::filesystem::path cache_dir() const { return scratch_.path() / "demo" / "cache"; }
  std::filesystem::path first_region() const {
    return cache_dir() / "regions" / "0000000000000001.region";
  }

  larder::testing::scratch_directory scratch_;
  std::filesystem::path config_;
};

// Damages the checksum field of the entry at `offset`.
void damage_entry_header(const std::filesystem::path& region, std::uint64_t offset) {
  std::fstream f(region, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(offset + 24));
  f.put('\x55');
  f.put('\x55');
}

TEST_F(LarderDirectoryTools, StatDescribesTheDirectoryAsTextAndJson) {
  auto r = run("stat " + cache_dir().string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "format version 1")) << r.output;
  EXPECT_TRUE(contains(r.output, "live: 64 entries")) << r.output;  // samples and the cold epoch's
  EXPECT_TRUE(contains(r.output, "dead: 0 entries")) << r.output;
  EXPECT_TRUE(contains(r.output, "region file modification time")) << r.output;
  EXPECT_TRUE(contains(r.output, "index snapshot: present")) << r.output;
  EXPECT_TRUE(contains(r.output, "lock: free")) << r.output;

  r = run("stat --json " + cache_dir().string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto json = nlohmann::json::parse(r.output);
  EXPECT_EQ(json["path"], cache_dir().string());
  EXPECT_EQ(json["format_version"], 1);
  EXPECT_EQ(json["live_entries"], 64);
  EXPECT_EQ(json["dead_entries"], 0);
  EXPECT_EQ(json["dead_bytes"], 0);
  EXPECT_EQ(json["live_share"], 1.0);
  EXPECT_EQ(json["live_ages"][0]["entries"], 64);
  EXPECT_EQ(json["live_ages"][0]["bytes"], json["live_bytes"]);
  EXPECT_EQ(json["index_snapshot"], true);
  EXPECT_TRUE(json["lock_owner_pid"].is_null());
}

TEST_F(LarderDirectoryTools, VerifyFindsCorruptionAndRepairClearsIt) {
  auto r = run("verify " + cache_dir().string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "entries checked 64, corrupt 0, torn tails 0")) << r.output;

  damage_entry_header(first_region(), 64);  // the first entry follows the region's header
  r = run("verify " + cache_dir().string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "entries checked 63, corrupt 1, torn tails 0")) << r.output;
  EXPECT_TRUE(contains(r.output, "corrupt entry: region 0000000000000001.region offset 64"))
      << r.output;

  r = run("verify --repair " + cache_dir().string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "repaired: cleared 1")) << r.output;
  r = run("verify " + cache_dir().string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "entries checked 63, corrupt 0")) << r.output;
}

// A process holding the directory's lock, as a running cache does: its pid in the lock file.
TEST_F(LarderDirectoryTools, StatReadsALockedDirectoryAndRepairRefusesNamingTheProcess) {
  const int fd = ::open((cache_dir() / "lock").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  const std::string pid = std::to_string(::getpid());
  ASSERT_EQ(::ftruncate(fd, 0), 0);
  ASSERT_EQ(::pwrite(fd, (pid + "\n").data(), pid.size() + 1, 0),
            static_cast<ssize_t>(pid.size() + 1));

  auto r = run("stat " + cache_dir().string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "lock: held by process " + pid)) << r.output;
  r = run("verify " + cache_dir().string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "process " + pid + " has the directory open")) << r.output;
  r = run("verify --repair " + cache_dir().string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "in use by another cache (process " + pid + ")")) << r.output;
  ::close(fd);
}

TEST(LarderDirectoryTool, ANonCacheDirectoryIsAUsageError) {
  larder::testing::scratch_directory scratch;
  for (const std::string command : {"stat ", "verify ", "verify --repair "}) {
    auto r = run(command + scratch.path().string());
    EXPECT_EQ(r.exit_code, 2) << command << r.output;
    EXPECT_TRUE(contains(r.output, "has no manifest; it is not a larder cache directory"))
        << r.output;
    r = run(command + (scratch.path() / "absent").string());
    EXPECT_EQ(r.exit_code, 2) << command << r.output;
    EXPECT_TRUE(contains(r.output, "is not a directory")) << r.output;
  }
  // Nothing was created by looking.
  EXPECT_TRUE(std::filesystem::is_empty(scratch.path()));
}

TEST(LarderDirectoryTool, HelpExplainsTheCommandsWithExamples) {
  auto r = run("stat --help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "--json")) << r.output;
  EXPECT_TRUE(contains(r.output, "larder stat ./cache/training_cache")) << r.output;
  r = run("verify --help");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "--repair")) << r.output;
  EXPECT_TRUE(contains(r.output, "torn tail")) << r.output;
  EXPECT_TRUE(contains(r.output, "larder verify --repair")) << r.output;
  r = run("--help");
  EXPECT_TRUE(contains(r.output, "stat")) << r.output;
  EXPECT_TRUE(contains(r.output, "verify")) << r.output;
}

}  // namespace
