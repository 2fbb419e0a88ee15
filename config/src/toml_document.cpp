#include "toml_document.hpp"

#include <charconv>
#include <sstream>
#include <string>

#include <toml++/toml.h>

#include <larder/config/config_error.hpp>

namespace larder {
namespace {

// Shortest text that reads back as the same double, with a '.' added to whole values so that
// `cleanup_interval = 300.0` is not taken for the integer 300.
std::string floating_text(double value) {
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  std::string text(buffer, ec == std::errc{} ? end : buffer);
  if (text.find_first_not_of("-0123456789") == std::string::npos) text += ".0";
  return text;
}

setting_node scalar(scalar_type type, std::string text) {
  setting_node out;
  out.type = type;
  out.text = std::move(text);
  return out;
}

setting_node convert(const toml::node& node) {
  if (const toml::table* table = node.as_table()) {
    setting_node out;
    out.shape = node_shape::table;
    for (const auto& [key, value] : *table)
      out.entries.emplace_back(key.str(), convert(value));
    return out;
  }
  if (const toml::array* array = node.as_array()) {
    setting_node out;
    out.shape = node_shape::list;
    for (const toml::node& item : *array)
      out.items.push_back(convert(item));
    return out;
  }
  if (const auto* string = node.as_string()) return scalar(scalar_type::string, string->get());
  if (const auto* integer = node.as_integer()) {
    return scalar(scalar_type::integer, std::to_string(integer->get()));
  }
  if (const auto* floating = node.as_floating_point()) {
    return scalar(scalar_type::floating, floating_text(floating->get()));
  }
  if (const auto* boolean = node.as_boolean()) {
    return scalar(scalar_type::boolean, boolean->get() ? "true" : "false");
  }
  // Dates and times: no setting takes one, so only their text for the error message matters.
  std::ostringstream text;
  node.visit([&text](const auto& value) { text << value; });
  return scalar(scalar_type::other, text.str());
}

}  // namespace

setting_node parse_toml_document(std::string_view text, std::string_view origin) {
  try {
    return convert(toml::parse(text, origin));
  } catch (const toml::parse_error& e) {
    const toml::source_position& where = e.source().begin;
    throw config_error(std::string{origin}, "line " + std::to_string(where.line) + ", column " +
                                                std::to_string(where.column) + ": " +
                                                std::string{e.description()});
  }
}

}  // namespace larder
