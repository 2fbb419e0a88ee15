// Reads YAML text into a setting_node tree. A syntax error or a key given twice in one table
// throws config_error (the former against `origin`, with line and column).
#pragma once

#include <string_view>

#include "setting_node.hpp"

namespace larder {

// An empty document is a null scalar, which the reader takes for an empty table.
setting_node parse_yaml_document(std::string_view text, std::string_view origin);

}  // namespace larder
