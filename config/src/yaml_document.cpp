#include "yaml_document.hpp"

#include <string>

#include <yaml-cpp/yaml.h>

#include <larder/config/config_error.hpp>

namespace larder {
namespace {

// `origin` names the document when the root itself is at fault.
setting_node convert(const YAML::Node& node, const std::string& path, std::string_view origin) {
  setting_node out;
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out.type = scalar_type::null;
      return out;
    case YAML::NodeType::Scalar:
      out.text = node.Scalar();
      return out;
    case YAML::NodeType::Sequence:
      out.shape = node_shape::list;
      for (const YAML::Node& item : node)
        out.items.push_back(convert(item, path, origin));
      return out;
    case YAML::NodeType::Map:
      out.shape = node_shape::table;
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          throw config_error(path.empty() ? std::string{origin} : path,
                             "has a key that is not a plain word");
        }
        const std::string& key = entry.first.Scalar();
        std::string key_path = child_key_path(path, key);
        // yaml-cpp keeps both entries of a repeated key; which one wins would be an accident.
        if (out.find(key) != nullptr) throw config_error(key_path, "is given twice; keep one");
        setting_node value = convert(entry.second, key_path, origin);
        out.entries.emplace_back(key, std::move(value));
      }
      return out;
  }
  return out;
}

}  // namespace

setting_node parse_yaml_document(std::string_view text, std::string_view origin) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string{text});
  } catch (const YAML::Exception& e) {
    throw config_error(std::string{origin}, "line " + std::to_string(e.mark.line + 1) +
                                                ", column " + std::to_string(e.mark.column + 1) +
                                                ": " + e.msg);
  }
  return convert(root, "", origin);
}

}  // namespace larder
