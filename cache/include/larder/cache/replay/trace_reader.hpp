// Trace files: opening one as a trace_source, in either of the two formats cache simulators
// (libCacheSim, the SIEVE and S3-FIFO papers' artifacts) use.
//
//  - csv: one request a line, `timestamp,key,size`. The first line may be a header: it is one when
//    neither its first nor its last field is a number. Blank lines are skipped; a line ending in
//    \r\n is read as ending in \n. The timestamp is checked to be a number and otherwise ignored
//    (requests replay in file order). The key is everything between the first and the last comma,
//    so it may itself hold commas. The size is a whole number of bytes.
//  - oracle: libCacheSim's oracleGeneral binary format, 24-byte little-endian packed records:
//    u32 timestamp, u64 object id, u32 size, i64 next access (the last is ignored). The key is the
//    id's 8 raw bytes.
//
// Either may be zstd-compressed (recognised by the zstd magic number, whatever the name), as the
// published traces are; it is decompressed as it is read. Files are read in order in chunks of
// 1 MiB, never whole, so traces of any length replay in constant memory.
//
// Errors are trace_error, naming the file and the line (csv) or the record and its byte offset
// (oracle).
//
// Thread safety: the functions may be called from any thread; each source returned is used by one
// thread at a time.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include <larder/cache/replay/trace_source.hpp>

namespace larder {

enum class trace_format { csv, oracle };

std::string_view to_string(trace_format format) noexcept;

// "csv" or "oracle" (ignoring ASCII case); nullopt for any other word.
std::optional<trace_format> parse_trace_format(std::string_view name) noexcept;

// The format a file name implies: .csv is csv, .oracleGeneral and .bin are oracle, each also with
// .zst after it; nullopt for any other name.
std::optional<trace_format> trace_format_of(const std::filesystem::path& file);

// Opens `file` for reading in `format`. Throws trace_error if it cannot be opened or, for an
// uncompressed oracle file, if its size is not a whole number of records.
std::unique_ptr<trace_source> open_trace(const std::filesystem::path& file, trace_format format);

}  // namespace larder
