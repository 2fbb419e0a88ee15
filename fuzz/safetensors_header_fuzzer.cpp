// libFuzzer target for the safetensors header parser: every input is a whole file (file_size is
// the input's size), as a file downloaded from anywhere could be.
//
// Beyond "no crash, no out-of-bounds read, no undefined behaviour" (AddressSanitizer and UBSan
// watch for those), an accepted header must keep the promises the rest of larder builds on: the
// tensors tile the data buffer exactly, up to the end of the file; find() finds each of them; and
// serializing the header and parsing it again gives the same tensors and metadata. A broken
// promise traps, so libFuzzer saves the input.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "larder/cache/model/safetensors.hpp"

namespace {

using larder::model::safetensors_header;

void require(bool condition) {
  if (!condition) __builtin_trap();
}

void check_invariants(const safetensors_header& header, std::uint64_t file_size) {
  require(header.data_offset == 8 + header.header_bytes);
  require(header.data_offset + header.data_bytes() == file_size);
  for (const auto& t : header.tensors) {
    require(t.begin <= t.end && t.end <= file_size - header.data_offset);
    require(larder::model::tensor_byte_size(t.dtype, t.shape) == t.byte_size());
    require(header.find(t.name) == &t);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  safetensors_header header;
  try {
    header = larder::model::parse_safetensors_header(bytes, size, "fuzz-input");
  } catch (const larder::model::safetensors_error&) {
    return 0;
  }
  check_invariants(header, size);

  const std::string again =
      larder::model::serialize_safetensors_header(header.tensors, header.metadata);
  const std::uint64_t again_size = again.size() + header.data_bytes();
  const safetensors_header reparsed = larder::model::parse_safetensors_header(
      std::as_bytes(std::span(again)), again_size, "fuzz-reserialized");
  check_invariants(reparsed, again_size);
  require(reparsed.tensors == header.tensors && reparsed.metadata == header.metadata);
  return 0;
}
