#include <larder/config/host_resources.hpp>

#include "directory_check.hpp"

namespace larder {

std::uint64_t filesystem_capacity_bytes(const std::filesystem::path& dir) {
  return std::filesystem::space(nearest_existing_ancestor(dir)).capacity;
}

}  // namespace larder
