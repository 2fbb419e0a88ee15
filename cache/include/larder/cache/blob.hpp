// blob: an immutable, reference-counted byte buffer; the value type of every larder cache.
//
// A get hands out a blob, and copying a blob only bumps a reference count: no bytes are copied
// and nothing is allocated. The bytes live until the last blob that refers to them is destroyed,
// so evicting an entry never frees memory that a caller still holds.
//
// Bytes come from one of three places:
//  - copy_of(): a fresh copy of caller bytes, in a mimalloc block;
//  - from_buffer(): an io::aligned_buffer frozen in place (disk reads land in aligned memory and
//    become values without a copy);
//  - adopt(): memory owned elsewhere (for example a read-only file mapping), kept alive by an
//    owner object until the last blob is gone.
//
// Thread safety: a blob may be copied and read from any number of threads at once (the count is
// atomic, the bytes never change). Assigning to one blob object from two threads is a race, as
// for any value type.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include <larder/io/aligned_buffer.hpp>

namespace larder {
namespace detail {

// Lives in the header_room of an aligned_buffer, or on its own for adopted memory.
struct blob_control {
  std::atomic<std::uint32_t> refs{1};
  std::uint32_t reserved = 0;
  const std::byte* data = nullptr;
  std::size_t size = 0;
  void (*destroy)(blob_control*) noexcept = nullptr;
};
static_assert(sizeof(blob_control) <= io::aligned_buffer::header_room);

}  // namespace detail

class blob {
 public:
  // An empty blob: size() == 0.
  blob() noexcept = default;

  static blob copy_of(std::span<const std::byte> bytes);
  static blob copy_of(std::string_view text) {
    return copy_of(std::as_bytes(std::span(text.data(), text.size())));
  }
  // Freezes the first `size` bytes of `buffer` into a blob without copying.
  // REQUIRES: size <= buffer.size().
  static blob from_buffer(io::aligned_buffer&& buffer, std::size_t size);
  static blob from_buffer(io::aligned_buffer&& buffer) {
    const std::size_t n = buffer.size();
    return from_buffer(std::move(buffer), n);
  }
  // Refers to `bytes` without copying; `owner` keeps them valid and is released with the last
  // blob.
  static blob adopt(std::span<const std::byte> bytes, std::shared_ptr<const void> owner);

  blob(const blob& other) noexcept : control_(other.control_) {
    if (control_ != nullptr) control_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  blob(blob&& other) noexcept : control_(std::exchange(other.control_, nullptr)) {}
  blob& operator=(const blob& other) noexcept {
    blob(other).swap(*this);
    return *this;
  }
  blob& operator=(blob&& other) noexcept {
    blob(std::move(other)).swap(*this);
    return *this;
  }
  ~blob() { release(); }

  void swap(blob& other) noexcept { std::swap(control_, other.control_); }

  const std::byte* data() const noexcept { return control_ ? control_->data : nullptr; }
  std::size_t size() const noexcept { return control_ ? control_->size : 0; }
  bool empty() const noexcept { return size() == 0; }
  std::span<const std::byte> bytes() const noexcept { return {data(), size()}; }
  std::string_view view() const noexcept { return {reinterpret_cast<const char*>(data()), size()}; }
  // Number of blobs sharing these bytes (for tests and diagnostics; racy by nature).
  std::uint32_t use_count() const noexcept {
    return control_ ? control_->refs.load(std::memory_order_relaxed) : 0;
  }

  friend bool operator==(const blob& a, const blob& b) noexcept;

 private:
  explicit blob(detail::blob_control* control) noexcept : control_(control) {}
  void release() noexcept {
    // acq_rel: the thread that frees the bytes must see every other holder's reads finished.
    if (control_ != nullptr && control_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      control_->destroy(control_);
    }
  }

  detail::blob_control* control_ = nullptr;
};

// Byte-wise equality of contents.
bool operator==(const blob& a, const blob& b) noexcept;

}  // namespace larder
