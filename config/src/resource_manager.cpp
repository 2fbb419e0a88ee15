#include <utility>

#include <larder/config/resource_manager.hpp>

namespace larder {

resource_manager::resource_manager(const resources_config& floors, std::filesystem::path disk_path,
                                   host_resources host)
    : floors_(floors), disk_path_(std::move(disk_path)), host_(std::move(host)) {}

resource_manager::resource_manager(const cache_config& config, host_resources host)
    : resource_manager(config.resources, config.disk.path, std::move(host)) {}

resource_sample resource_manager::sample() const {
  resource_sample s;
  s.available_memory_bytes = host_.available_memory();
  s.free_disk_bytes = host_.free_disk(disk_path_);
  s.memory_low = s.available_memory_bytes < floors_.min_available_memory_bytes;
  s.disk_low = s.free_disk_bytes < floors_.min_free_disk_bytes;
  return s;
}

}  // namespace larder
