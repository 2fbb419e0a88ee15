// config_error: why a configuration was refused, in words an operator can act on.
//
// Every failure of the config module (a bad value in a file or an environment variable, an
// unknown key, a syntax error, an unreadable file) is thrown as a config_error. what() is the
// whole message; for a bad value it always reads
//     <key path>: "<bad value>" <problem>; <what is accepted>
// e.g. `cache.memory.size: "4XB" is not a size; use e.g. 512MB, 4GiB or 30%`. key_path() is the
// dotted path in the document (`cache.memory.size`), the environment variable's name, or, for
// errors about a whole document, its origin (the file name).
//
// Immutable after construction: safe to share between threads.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace larder {

class config_error : public std::runtime_error {
 public:
  // An error about a value. `value` is quoted and escaped in what(); value() returns it raw.
  config_error(std::string key_path, std::string value, std::string_view problem,
               std::string_view accepted);

  // An error about a key or a document rather than a value (unknown key, syntax error, unreadable
  // file): what() is `<key path>: <message>` and value() is empty.
  config_error(std::string key_path, std::string_view message);

  const std::string& key_path() const noexcept { return key_path_; }
  const std::string& value() const noexcept { return value_; }

 private:
  std::string key_path_;
  std::string value_;
};

}  // namespace larder
