// unbacked_values: blobs of any size that cost no memory, for replaying traces whose working sets
// are far larger than the machine's memory.
//
// Every blob refers to the start of one address-space reservation (an anonymous PROT_NONE,
// MAP_NORESERVE mapping): it has a size but no pages behind it, and reading its bytes faults. A
// memory tier never reads the values it stores, so a replay can put them and count their sizes.
// The reservation grows (a new, larger one) when a larger value is asked for; a reservation is
// unmapped when the last blob that refers to it is gone.
//
// Thread safety: distinct objects are safe; one object is used by one thread at a time. The blobs
// it makes may go anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include <larder/cache/blob.hpp>

namespace larder {

class unbacked_values {
 public:
  // A blob of `size` bytes that must never be read. Throws std::system_error if the address
  // space cannot be reserved.
  blob of_size(std::size_t size);

 private:
  std::shared_ptr<const void> reservation_;
  std::size_t reserved_bytes_ = 0;
};

}  // namespace larder
