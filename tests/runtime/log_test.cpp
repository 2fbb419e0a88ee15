#include "larder/runtime/log.hpp"

#include <cstdlib>
#include <stdexcept>

#include <gtest/gtest.h>

namespace larder {
namespace {

TEST(Log, ConfiguredLevelApplies) {
  ::unsetenv("LARDER_LOG_LEVEL");
  set_log_level("debug");
  EXPECT_EQ(log().level(), spdlog::level::debug);
  set_log_level("off");
  EXPECT_EQ(log().level(), spdlog::level::off);
  set_log_level("info");
}

TEST(Log, AnUnknownLevelIsRejectedWithTheAcceptedOnes) {
  try {
    set_log_level("loud");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "logging.level: \"loud\" is not a log level; use one of trace, debug, info, "
                 "warn, error, critical, off");
  }
}

TEST(Log, EnvironmentOverridesTheConfiguredLevel) {
  ::setenv("LARDER_LOG_LEVEL", "error", 1);
  set_log_level("debug");
  EXPECT_EQ(log().level(), spdlog::level::err);
  ::unsetenv("LARDER_LOG_LEVEL");
  set_log_level("info");
  EXPECT_EQ(log().level(), spdlog::level::info);
}

}  // namespace
}  // namespace larder
