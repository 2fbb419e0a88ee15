// Applies a setting_node document to a cache_config: the schema of the seed's YAML and TOML forms
// (see config_loader.hpp), strict about unknown keys and about every value.
#pragma once

#include <string_view>

#include <larder/config/cache_config.hpp>
#include <larder/config/host_resources.hpp>

#include "setting_node.hpp"

namespace larder {

// The two forms name the memory and disk sizes differently (YAML cache.memory.size, TOML
// cache.memory_size); the profile tables are the same in both.
enum class document_form { yaml, toml };

// Overrides the settings of `cfg` that `document` holds. Throws config_error, after which `cfg`
// may hold part of the document: read into a copy.
void read_settings(const setting_node& document, document_form form, std::string_view origin,
                   const host_resources& host, cache_config& cfg);

}  // namespace larder
