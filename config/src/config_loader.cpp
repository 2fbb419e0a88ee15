#include <string>
#include <system_error>

#include <larder/config/config_error.hpp>
#include <larder/config/config_loader.hpp>

#include "ascii_text.hpp"
#include "directory_check.hpp"
#include "settings_reader.hpp"
#include "text_file.hpp"
#include "toml_document.hpp"
#include "yaml_document.hpp"

namespace larder {

cache_config default_config() {
  // Parsed once: the text is constant, and holds no percentage that would depend on the machine.
  static const cache_config defaults = [] {
    constexpr std::string_view origin = "<built-in defaults>";
    cache_config cfg;
    read_settings(parse_yaml_document(default_config_yaml(), origin), document_form::yaml, origin,
                  host_resources{}, cfg);
    return cfg;
  }();
  return defaults;
}

cache_config parse_yaml_config(std::string_view text, std::string_view origin,
                               const host_resources& host) {
  cache_config cfg = default_config();
  read_settings(parse_yaml_document(text, origin), document_form::yaml, origin, host, cfg);
  return cfg;
}

cache_config parse_toml_config(std::string_view text, std::string_view origin,
                               const host_resources& host) {
  cache_config cfg = default_config();
  read_settings(parse_toml_document(text, origin), document_form::toml, origin, host, cfg);
  return cfg;
}

cache_config load_config_file(const std::filesystem::path& file, const host_resources& host) {
  const std::string extension = ascii_lowercase(file.extension().string());
  const bool is_yaml = extension == ".yaml" || extension == ".yml";
  if (extension.empty()) {
    throw config_error(file.string(), "has no extension; use a .yaml, .yml or .toml file");
  }
  if (!is_yaml && extension != ".toml") {
    throw config_error(file.string(), file.extension().string(),
                       "is not the extension of a configuration file",
                       "use a .yaml, .yml or .toml file");
  }
  std::string text;
  try {
    text = read_text_file(file);
  } catch (const std::system_error& e) {
    throw config_error(file.string(), "cannot be read: " + e.code().message());
  }
  return is_yaml ? parse_yaml_config(text, file.string(), host)
                 : parse_toml_config(text, file.string(), host);
}

void validate_config(const cache_config& cfg) {
  check_directory_creatable(cfg.disk.path, "cache.disk.path");
  check_directory_creatable(cfg.system_cache.temp_dir, "system_cache.temp_dir");
}

cache_config load_config(const std::optional<std::filesystem::path>& file,
                         const getenv_function& getenv_fn, const host_resources& host) {
  cache_config cfg = file ? load_config_file(*file, host) : default_config();
  apply_environment(cfg, getenv_fn, host);
  validate_config(cfg);
  return cfg;
}

}  // namespace larder
