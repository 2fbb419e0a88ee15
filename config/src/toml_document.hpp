// Reads TOML text into a setting_node tree. A syntax error throws config_error against `origin`,
// with line and column.
#pragma once

#include <string_view>

#include "setting_node.hpp"

namespace larder {

setting_node parse_toml_document(std::string_view text, std::string_view origin);

}  // namespace larder
