// fio_job: runs fio, the baseline the disk benchmarks compare against, and reads its figures
// from fio's JSON output. Header-only: each benchmark is a program of its own.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace larder::bench {

struct fio_figures {
  double iops = 0;
  double bytes_per_second = 0;
  // fio's own CPU (user + system) as a share of its run time: 0.44 is 44 % of one core.
  double cpu_share = 0;
  // Mean time from the start of an I/O's submission to its completion, in nanoseconds (fio's
  // lat_ns: slat + clat).
  double mean_latency_ns = 0;

  // fio's CPU per I/O, in microseconds; 0 when fio did none.
  double cpu_microseconds_per_io() const { return iops > 0 ? cpu_share / iops * 1e6 : 0; }
};

inline bool fio_available() {
  return std::system("command -v fio >/dev/null 2>&1") == 0;
}

// The number after `"key"` and its colon in fio's JSON, searching from `from`.
inline std::optional<double> fio_json_number(const std::string& json, std::string_view key,
                                             std::size_t from) {
  const std::string quoted = "\"" + std::string(key) + "\"";
  const auto at = json.find(quoted, from);
  if (at == std::string::npos) return std::nullopt;
  const auto colon = json.find(':', at + quoted.size());
  if (colon == std::string::npos) return std::nullopt;
  return std::strtod(json.c_str() + colon + 1, nullptr);
}

// Runs `fio <arguments> --output-format=json` and returns iops and bandwidth of the first
// `direction` ("read" or "write") block of its job; nullopt when fio fails or reports no such
// block.
inline std::optional<fio_figures> run_fio(const std::string& arguments,
                                          std::string_view direction) {
  const std::string command = "fio " + arguments + " --output-format=json 2>/dev/null";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string json;
  char chunk[4096];
  while (std::size_t n = std::fread(chunk, 1, sizeof chunk, pipe))
    json.append(chunk, n);
  if (::pclose(pipe) != 0) return std::nullopt;
  // The direction's block, `"write" : {`, not the job option `"rw" : "write"` before it.
  const std::string quoted = "\"" + std::string(direction) + "\"";
  std::size_t section = json.find(quoted);
  while (section != std::string::npos) {
    const auto brace = json.find_first_not_of(" \t\r\n:", section + quoted.size());
    if (brace != std::string::npos && json[brace] == '{') break;
    section = json.find(quoted, section + 1);
  }
  if (section == std::string::npos) return std::nullopt;
  const auto iops = fio_json_number(json, "iops", section);
  const auto bw = fio_json_number(json, "bw_bytes", section);
  if (!iops || !bw) return std::nullopt;
  // The job's CPU figures, in percent, come after its read and write blocks.
  const double usr = fio_json_number(json, "usr_cpu", 0).value_or(0);
  const double sys = fio_json_number(json, "sys_cpu", 0).value_or(0);
  // "lat_ns" : { "min" : .., "max" : .., "mean" : .. }: submission to completion.
  double latency = 0;
  if (const auto at = json.find("\"lat_ns\"", section); at != std::string::npos)
    latency = fio_json_number(json, "mean", at).value_or(0);
  return fio_figures{*iops, *bw, (usr + sys) / 100, latency};
}

}  // namespace larder::bench
