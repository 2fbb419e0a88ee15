#include "larder/cache/blob.hpp"

#include <cassert>
#include <cstring>
#include <new>

namespace larder {
namespace {

// The control block of a frozen aligned_buffer sits in its header_room, just before the data.
detail::blob_control* control_in_header(std::byte* data) {
  return reinterpret_cast<detail::blob_control*>(data - io::aligned_buffer::header_room);
}

void destroy_buffer_blob(detail::blob_control* control) noexcept {
  auto* data = const_cast<std::byte*>(control->data);
  control->~blob_control();
  io::aligned_buffer::release_block(data);
}

struct adopted_control : detail::blob_control {
  std::shared_ptr<const void> owner;
};

void destroy_adopted_blob(detail::blob_control* control) noexcept {
  delete static_cast<adopted_control*>(control);
}

}  // namespace

blob blob::copy_of(std::span<const std::byte> bytes) {
  io::aligned_buffer buffer(bytes.size());
  if (!bytes.empty()) std::memcpy(buffer.data(), bytes.data(), bytes.size());
  return from_buffer(std::move(buffer));
}

blob blob::from_buffer(io::aligned_buffer&& buffer, std::size_t size) {
  assert(size <= buffer.size());
  if (buffer.data() == nullptr) return blob();
  std::byte* data = buffer.release();
  auto* control = new (control_in_header(data)) detail::blob_control;
  control->data = data;
  control->size = size;
  control->destroy = &destroy_buffer_blob;
  return blob(control);
}

blob blob::adopt(std::span<const std::byte> bytes, std::shared_ptr<const void> owner) {
  auto* control = new adopted_control;
  control->data = bytes.data();
  control->size = bytes.size();
  control->destroy = &destroy_adopted_blob;
  control->owner = std::move(owner);
  return blob(control);
}

bool operator==(const blob& a, const blob& b) noexcept {
  return a.size() == b.size() &&
         (a.data() == b.data() || a.size() == 0 || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace larder
