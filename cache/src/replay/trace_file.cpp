#include "replay/trace_file.hpp"

#include <cassert>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>
#include <zstd.h>

#include <larder/cache/replay/trace_error.hpp>

namespace larder {
namespace {

// Large enough that reading costs a few system calls per million requests, small enough to stay
// in the L2 cache of most machines.
constexpr std::size_t chunk_bytes = 1 << 20;

bool starts_with_zstd_magic(std::FILE* file) {
  unsigned char magic[4] = {};
  const std::size_t n = std::fread(magic, 1, sizeof magic, file);
  std::rewind(file);
  // ZSTD_MAGICNUMBER, little-endian.
  return n == sizeof magic && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F &&
         magic[3] == 0xFD;
}

}  // namespace

trace_file::trace_file(const std::filesystem::path& path)
    : name_(path.string()), file_(std::fopen(path.c_str(), "rb"), &std::fclose) {
  if (!file_) {
    throw trace_error(fmt::format("{}: cannot open: {}", name_, std::strerror(errno)));
  }
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    throw trace_error(fmt::format("{}: is a directory, not a trace file", name_));
  }
  file_size_ = std::filesystem::file_size(path, error);
  if (error) file_size_ = 0;
  if (starts_with_zstd_magic(file_.get())) {
    zstd_ = ZSTD_createDCtx();
    if (zstd_ == nullptr) throw std::bad_alloc();
    compressed_.resize(ZSTD_DStreamInSize());
  }
}

trace_file::~trace_file() {
  ZSTD_freeDCtx(zstd_);
}

void trace_file::consume(std::size_t n) noexcept {
  assert(n <= end_ - begin_);
  begin_ += n;
}

bool trace_file::read_more() {
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    dropped_ += begin_;
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() - end_ < chunk_bytes) buffer_.resize(end_ + chunk_bytes);
  const std::size_t n = read_trace_bytes(buffer_.data() + end_, buffer_.size() - end_);
  end_ += n;
  return n > 0;
}

std::size_t trace_file::read_file_bytes(char* out, std::size_t size) {
  const std::size_t n = std::fread(out, 1, size, file_.get());
  if (n < size && std::ferror(file_.get())) {
    throw trace_error(fmt::format("{}: read error: {}", name_, std::strerror(errno)));
  }
  file_position_ += n;
  return n;
}

std::size_t trace_file::read_trace_bytes(char* out, std::size_t size) {
  if (zstd_ == nullptr) return read_file_bytes(out, size);
  bool at_end = false;
  for (;;) {
    if (compressed_begin_ == compressed_end_ && !at_end) {
      compressed_begin_ = 0;
      compressed_end_ = read_file_bytes(compressed_.data(), compressed_.size());
      at_end = compressed_end_ == 0;
    }
    ZSTD_inBuffer in{compressed_.data(), compressed_end_, compressed_begin_};
    ZSTD_outBuffer decompressed{out, size, 0};
    const std::size_t hint = ZSTD_decompressStream(zstd_, &decompressed, &in);
    if (ZSTD_isError(hint)) {
      throw trace_error(fmt::format("{}: corrupt zstd stream near compressed byte {}: {}", name_,
                                    file_position_, ZSTD_getErrorName(hint)));
    }
    // A call that moved nothing (after the last frame, with no input) says nothing of a frame.
    if (in.pos != compressed_begin_ || decompressed.pos > 0) frame_remaining_ = hint;
    compressed_begin_ = in.pos;
    if (decompressed.pos > 0) return decompressed.pos;
    if (at_end) {
      if (frame_remaining_ != 0) {
        throw trace_error(
            fmt::format("{}: the zstd stream is truncated (the file ends in the "
                        "middle of a frame)",
                        name_));
      }
      return 0;
    }
  }
}

}  // namespace larder
