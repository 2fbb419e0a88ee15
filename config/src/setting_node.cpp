#include "setting_node.hpp"

namespace larder {
namespace {

// Long enough to recognise a table, short enough to keep the message on a line or two.
constexpr std::size_t display_limit = 60;

void render(const setting_node& node, std::string& out) {
  switch (node.shape) {
    case node_shape::scalar:
      out += node.text;
      return;
    case node_shape::list: {
      out += '[';
      const char* separator = "";
      for (const setting_node& item : node.items) {
        if (out.size() > display_limit) break;
        out += separator;
        render(item, out);
        separator = ", ";
      }
      out += ']';
      return;
    }
    case node_shape::table: {
      out += '{';
      const char* separator = "";
      for (const auto& [key, value] : node.entries) {
        if (out.size() > display_limit) break;
        out += separator;
        out += key;
        out += ": ";
        // A table quoted in an error (a [[cache.remote]] array, a misplaced block) must not
        // carry a password into a log.
        if (key == "password") {
          out += "(not shown)";
        } else {
          render(value, out);
        }
        separator = ", ";
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

const setting_node* setting_node::find(std::string_view key) const noexcept {
  for (const auto& [name, value] : entries) {
    if (name == key) return &value;
  }
  return nullptr;
}

std::string child_key_path(std::string_view parent, std::string_view key) {
  std::string path{parent};
  if (!path.empty()) path += '.';
  path += key;
  return path;
}

std::string setting_node::display() const {
  if (shape == node_shape::scalar) return text;
  std::string out;
  render(*this, out);
  if (out.size() > display_limit) {
    out.resize(display_limit);
    out += "...";
  }
  return out;
}

}  // namespace larder
