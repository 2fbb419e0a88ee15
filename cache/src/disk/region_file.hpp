// region_file: the layout of one disk-tier region file, and the walker that reads its entries.
//
// 1. A region file is named by its sequence number (16 hex digits, ".region") and starts with a
//    64-byte header: magic "LRDR", format version, the sequence number, and an xxh3 checksum of
//    those 16 bytes. Entries (entry_format.hpp) follow, 8-byte aligned. A flush pads the region
//    with zeros to the next block, so a block written by one flush is never rewritten by the next;
//    the file's unwritten blocks read as zeros too.
// 2. The walker (for_each_entry) is the only reader of a region's sequence of entries: the disk
//    tier's recovery scan, compaction and reinsertion, and the directory tools (stat, verify) all
//    go through it. It decodes an entry at a time; zeros are skipped a word at a time (padding,
//    unwritten blocks, or bytes that `larder verify --repair` cleared); bytes that do not decode
//    are damage, and the walker resynchronises at the next 8-byte word that starts an intact
//    entry. Each damaged stretch is reported once: from its first bad byte to the end of its last
//    non-zero word, and whether an intact entry follows it in the region (a torn tail, the trace
//    of a write that a crash cut short, has none).
//
// Pure functions on caller buffers: safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>

#include "disk/entry_format.hpp"

namespace larder::disk {

inline constexpr std::size_t region_header_size = 64;
// flush() pads the open region to this boundary (disk_tier.cpp). 4096 covers the O_DIRECT
// alignment of common devices.
inline constexpr std::size_t region_block_size = 4096;

// Writes the header of region `seq` into the first region_header_size bytes at `at`.
void write_region_header(std::byte* at, std::uint64_t seq);
// Whether `bytes` start with the header of region `seq`.
bool region_header_matches(std::span<const std::byte> bytes, std::uint64_t seq);

std::string region_file_name(std::uint64_t seq);
// The sequence number a region file's name carries, or nullopt for any other file.
std::optional<std::uint64_t> region_seq_of(const std::filesystem::path& file);
// The region files in `regions_dir`, by sequence number. Throws std::filesystem::filesystem_error.
std::map<std::uint64_t, std::filesystem::path> list_region_files(
    const std::filesystem::path& regions_dir);

// A stretch of a region that does not decode (note 2).
struct damaged_range {
  std::size_t offset = 0;  // first byte that does not decode
  std::size_t length = 0;  // to the end of its last non-zero 8-byte word
  bool torn_tail = false;  // no intact entry follows it in the region
};

// Calls on_entry(offset, entry) for each intact entry of a region's bytes, in order, until it
// returns false (then returns false), and on_damage(range) for each damaged stretch (note 2).
template <typename OnEntry, typename OnDamage>
bool for_each_entry(std::span<const std::byte> bytes, OnEntry&& on_entry, OnDamage&& on_damage) {
  std::optional<damaged_range> damage;
  const auto note_damage = [&](std::size_t from, std::size_t to) {
    if (!damage) damage = damaged_range{.offset = from};
    damage->length = to - damage->offset;
  };
  const auto end_damage = [&](bool torn_tail) {
    if (!damage) return;
    damage->torn_tail = torn_tail;
    on_damage(*damage);
    damage.reset();
  };
  std::size_t pos = region_header_size;
  while (pos + entry_header_size <= bytes.size()) {
    entry_view e;
    switch (decode_entry(bytes.subspan(pos), e)) {
      case decode_status::ok:
        end_damage(false);
        if (!on_entry(pos, e)) return false;
        pos += e.encoded_size;
        break;
      case decode_status::end_of_region:
        pos += entry_alignment;
        break;
      case decode_status::corrupt:
        note_damage(pos, pos + entry_alignment);
        pos += entry_alignment;
        break;
    }
  }
  // Fewer bytes left than a header: damage unless they are zeros.
  for (std::size_t i = pos; i < bytes.size(); ++i) {
    if (bytes[i] != std::byte{0}) {
      note_damage(pos, bytes.size());
      break;
    }
  }
  end_damage(true);
  return true;
}

template <typename OnEntry>
bool for_each_entry(std::span<const std::byte> bytes, OnEntry&& on_entry) {
  return for_each_entry(bytes, std::forward<OnEntry>(on_entry), [](const damaged_range&) {});
}

}  // namespace larder::disk
