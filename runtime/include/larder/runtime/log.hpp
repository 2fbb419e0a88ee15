// larder's logger: one spdlog logger named "larder", writing to stderr, set up on first use.
//
// The level comes from LARDER_LOG_LEVEL when it is set (it wins, so an operator can turn on debug
// logs without editing a file), otherwise from set_log_level() (the configuration's
// logging.level), otherwise info.
//
// Thread safety: every function here may be called from any thread.
#pragma once

#include <string_view>

#include <spdlog/logger.h>

namespace larder {

// The shared logger. Never null.
spdlog::logger& log();

// Sets the level unless LARDER_LOG_LEVEL overrides it. Accepts trace, debug, info, warn, error,
// critical, off; throws std::invalid_argument naming the accepted levels otherwise.
void set_log_level(std::string_view level);

}  // namespace larder
