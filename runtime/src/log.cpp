#include "larder/runtime/log.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace larder {
namespace {

constexpr std::string_view accepted_levels = "trace, debug, info, warn, error, critical, off";

spdlog::level::level_enum parse_level(std::string_view text, std::string_view origin) {
  auto level = spdlog::level::from_str(std::string(text));
  // from_str answers "off" for anything it does not know; only the word "off" really means it.
  if (level == spdlog::level::off && text != "off") {
    throw std::invalid_argument(std::string(origin) + ": \"" + std::string(text) +
                                "\" is not a log level; use one of " +
                                std::string(accepted_levels));
  }
  return level;
}

const char* environment_level() {
  const char* value = std::getenv("LARDER_LOG_LEVEL");
  return value != nullptr && *value != '\0' ? value : nullptr;
}

std::shared_ptr<spdlog::logger> make_logger() {
  auto logger = spdlog::stderr_color_mt("larder");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [larder] %v");
  logger->set_level(spdlog::level::info);
  if (const char* env = environment_level()) {
    try {
      logger->set_level(parse_level(env, "LARDER_LOG_LEVEL"));
    } catch (const std::invalid_argument& e) {
      logger->warn("{}; keeping info", e.what());
    }
  }
  return logger;
}

}  // namespace

spdlog::logger& log() {
  static const std::shared_ptr<spdlog::logger> logger = make_logger();
  return *logger;
}

void set_log_level(std::string_view level) {
  auto parsed = parse_level(level, "logging.level");
  if (const char* env = environment_level()) {
    try {
      parsed = parse_level(env, "LARDER_LOG_LEVEL");
    } catch (const std::invalid_argument& e) {
      log().warn("{}; using logging.level {}", e.what(), level);
    }
  }
  log().set_level(parsed);
}

}  // namespace larder
