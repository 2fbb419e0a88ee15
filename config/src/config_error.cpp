#include <cstdio>
#include <utility>

#include <larder/config/config_error.hpp>

namespace larder {
namespace {

// Quotes the value so that an empty value, trailing spaces or a stray control character are
// visible in the message, where they are most often the very mistake being reported.
std::string quoted(std::string_view value) {
  std::string out = "\"";
  for (const char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\x%02x", static_cast<unsigned char>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string value_message(std::string_view key_path, std::string_view value,
                          std::string_view problem, std::string_view accepted) {
  std::string message{key_path};
  message += ": ";
  message += quoted(value);
  message += ' ';
  message += problem;
  message += "; ";
  message += accepted;
  return message;
}

std::string key_message(std::string_view key_path, std::string_view message) {
  std::string out{key_path};
  out += ": ";
  out += message;
  return out;
}

}  // namespace

config_error::config_error(std::string key_path, std::string value, std::string_view problem,
                           std::string_view accepted)
    : std::runtime_error(value_message(key_path, value, problem, accepted)),
      key_path_(std::move(key_path)),
      value_(std::move(value)) {}

config_error::config_error(std::string key_path, std::string_view message)
    : std::runtime_error(key_message(key_path, message)), key_path_(std::move(key_path)) {}

}  // namespace larder
