// setting_node: a configuration document, YAML or TOML, as one tree, so that a single reader
// applies the settings of either form and words its errors the same way.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace larder {

enum class node_shape { table, list, scalar };

// What the document's syntax says a scalar is. YAML leaves scalars untyped (yaml-cpp, like most
// YAML readers of configuration, lets `size: 1000` and `size: "1000"` mean the same); TOML types
// every value, and a TOML string where a number belongs is an error. A YAML key with nothing after
// it (or `~`) is null: an empty table where a table belongs, since commenting out every entry of a
// block leaves just that.
enum class scalar_type { untyped, null, string, integer, floating, boolean, other };

struct setting_node {
  node_shape shape = node_shape::scalar;
  scalar_type type = scalar_type::untyped;
  // A scalar as written; numbers and booleans from TOML in their canonical text ("1000", "0.9",
  // "true"), where a floating-point number always shows a '.' or an exponent.
  std::string text;
  // A table's entries in document order, keys unique.
  std::vector<std::pair<std::string, setting_node>> entries;
  std::vector<setting_node> items;

  // nullptr when the table has no such key.
  const setting_node* find(std::string_view key) const noexcept;

  // The node as an error message quotes it: a scalar's text; a table or list in a compact
  // flow form (`{size: 1000, type: lru}`), cut short when long. The value of a `password` key
  // inside it is shown as `(not shown)`.
  std::string display() const;
};

// "cache" + "memory" -> "cache.memory"; the document's root has the empty path.
std::string child_key_path(std::string_view parent, std::string_view key);

}  // namespace larder
