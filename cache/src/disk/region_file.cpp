#include "disk/region_file.hpp"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "key_hash.hpp"

namespace larder::disk {
namespace {

constexpr std::uint32_t region_magic = 0x5244524c;  // "LRDR"
constexpr std::uint32_t region_format_version = 1;

}  // namespace

void write_region_header(std::byte* at, std::uint64_t seq) {
  std::memset(at, 0, region_header_size);
  std::memcpy(at, &region_magic, 4);
  std::memcpy(at + 4, &region_format_version, 4);
  std::memcpy(at + 8, &seq, 8);
  const std::uint64_t sum = XXH3_64bits(at, 16);
  std::memcpy(at + 16, &sum, 8);
}

bool region_header_matches(std::span<const std::byte> bytes, std::uint64_t seq) {
  if (bytes.size() < region_header_size) return false;
  std::uint32_t magic = 0;
  std::uint32_t version = 0;
  std::uint64_t stored_seq = 0;
  std::uint64_t sum = 0;
  std::memcpy(&magic, bytes.data(), 4);
  std::memcpy(&version, bytes.data() + 4, 4);
  std::memcpy(&stored_seq, bytes.data() + 8, 8);
  std::memcpy(&sum, bytes.data() + 16, 8);
  return magic == region_magic && version == region_format_version && stored_seq == seq &&
         sum == XXH3_64bits(bytes.data(), 16);
}

std::string region_file_name(std::uint64_t seq) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.region", static_cast<unsigned long long>(seq));
  return name;
}

std::optional<std::uint64_t> region_seq_of(const std::filesystem::path& file) {
  const std::string name = file.filename().string();
  if (name.size() != 16 + 7 || !name.ends_with(".region")) return std::nullopt;
  std::uint64_t seq = 0;
  auto [end, error] = std::from_chars(name.data(), name.data() + 16, seq, 16);
  if (error != std::errc() || end != name.data() + 16) return std::nullopt;
  return seq;
}

std::map<std::uint64_t, std::filesystem::path> list_region_files(
    const std::filesystem::path& regions_dir) {
  std::map<std::uint64_t, std::filesystem::path> files;
  for (const auto& item : std::filesystem::directory_iterator(regions_dir)) {
    if (auto seq = region_seq_of(item.path())) files.emplace(*seq, item.path());
  }
  return files;
}

}  // namespace larder::disk
