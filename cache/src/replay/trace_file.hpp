// trace_file: the bytes of a trace file, read front to back through a buffer, and decompressed on
// the way when the file is zstd-compressed (recognised by the zstd frame's magic number). The
// trace readers parse lines and records out of available() and consume() what they used.
//
// Memory: one chunk (1 MiB) plus whatever the reader has left unconsumed, plus zstd's own
// input buffer for a compressed file.
//
// Thread safety: one thread at a time.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

typedef struct ZSTD_DCtx_s ZSTD_DCtx;

namespace larder {

class trace_file {
 public:
  // Throws trace_error when the file cannot be opened.
  explicit trace_file(const std::filesystem::path& path);
  ~trace_file();
  trace_file(const trace_file&) = delete;
  trace_file& operator=(const trace_file&) = delete;

  // The bytes read and not yet consumed. Valid until the next read_more().
  std::string_view available() const noexcept { return {buffer_.data() + begin_, end_ - begin_}; }
  // REQUIRES: n <= available().size().
  void consume(std::size_t n) noexcept;
  // Reads another chunk after the unconsumed bytes; false at the end of the file (nothing was
  // added). Throws trace_error on a read error or a truncated zstd stream.
  bool read_more();

  // The offset of available()'s first byte in the (decompressed) trace.
  std::uint64_t offset() const noexcept { return dropped_ + begin_; }

  bool compressed() const noexcept { return zstd_ != nullptr; }
  // Bytes of the file itself (compressed, for a compressed file): its size and how many were read.
  std::uint64_t file_size() const noexcept { return file_size_; }
  std::uint64_t file_position() const noexcept { return file_position_; }
  // The path as given, for messages.
  const std::string& name() const noexcept { return name_; }

 private:
  // Reads up to `size` bytes of the trace into `out`; 0 at its end.
  std::size_t read_trace_bytes(char* out, std::size_t size);
  std::size_t read_file_bytes(char* out, std::size_t size);

  std::string name_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_;
  std::uint64_t file_size_ = 0;
  std::uint64_t file_position_ = 0;
  std::vector<char> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  // Bytes of the trace consumed and dropped from the front of buffer_.
  std::uint64_t dropped_ = 0;

  // Compressed files only.
  ZSTD_DCtx* zstd_ = nullptr;
  std::vector<char> compressed_;
  std::size_t compressed_begin_ = 0;
  std::size_t compressed_end_ = 0;
  // ZSTD_decompressStream's last hint: 0 once a frame is complete, so that an end of file
  // anywhere else is a truncated stream.
  std::size_t frame_remaining_ = 0;
};

}  // namespace larder
