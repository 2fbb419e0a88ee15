#include "serve_command.hpp"

#include <csignal>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <boost/asio/signal_set.hpp>

#include "exit_codes.hpp"
#include "larder/cache/cache_set.hpp"
#include "larder/config/config_error.hpp"
#include "larder/config/config_loader.hpp"
#include "larder/runtime/log.hpp"
#include "larder/runtime/runtime.hpp"
#include "metrics_endpoint.hpp"
#include "serve_metrics.hpp"

namespace larder::tools {
namespace {

struct serve_options {
  std::optional<std::string> file;
  unsigned threads = 2;
};

// "http://127.0.0.1:9464/metrics", "http://[::1]:9464/metrics".
std::string metrics_url(const asio::ip::tcp::endpoint& endpoint) {
  const std::string address = endpoint.address().to_string();
  return endpoint.address().is_v6()
             ? "http://[" + address + "]:" + std::to_string(endpoint.port()) + "/metrics"
             : "http://" + address + ":" + std::to_string(endpoint.port()) + "/metrics";
}

int run_serve(const serve_options& options) {
  // Everything that can be wrong with the configuration is found here, before any cache
  // directory is opened.
  cache_config config;
  try {
    config = load_config(options.file);
  } catch (const config_error& e) {
    std::cerr << "larder serve: " << e.what() << "\n";
    return exit_usage;
  }
  set_log_level(config.logging.level);

  runtime rt({.threads = options.threads});
  // The signals are caught before the caches open, so a signal during opening is not lost: it
  // is handled once they are open.
  asio::signal_set signals(rt.executor(), SIGINT, SIGTERM);
  std::promise<int> stop_signal;
  signals.async_wait([&](const boost::system::error_code& error, int signal) {
    if (!error) stop_signal.set_value(signal);
  });

  std::unique_ptr<cache_set> caches;
  try {
    caches = rt.run(cache_set::open(rt.executor(), config));
  } catch (const std::exception& e) {
    std::cerr << "larder serve: cannot open the caches: " << e.what() << "\n";
    return exit_failure;
  }
  // Before the cleanup starts, so that a port in use leaves nothing to stop but the caches.
  std::optional<metrics_endpoint> metrics;
  if (config.metrics.enabled) {
    try {
      metrics.emplace(
          rt.executor(), config.metrics.address, config.metrics.port,
          [&set = *caches] { return render_serve_metrics(set); },
          [&set = *caches] { return serve_health(set); });
    } catch (const std::system_error& e) {
      std::cerr << "larder serve: " << e.what() << "\n";
      try {
        rt.run(caches->close());
      } catch (const std::exception& close_error) {
        log().error("larder serve: closing the caches failed: {}", close_error.what());
      }
      return exit_failure;
    }
    log().info("larder serve: metrics at {}", metrics_url(metrics->local_endpoint()));
  }
  caches->start();
  log().info(
      "larder serve: {} caches under {} and temp_dir {}; memory cleanup every {} s, disk and "
      "temp_dir cleanup every {} s; stop with SIGINT or SIGTERM",
      caches->members().size(), config.disk.path.string(), caches->temp_dir().string(),
      config.memory.cleanup_interval.count(), config.disk.cleanup_interval.count());

  const int signal = stop_signal.get_future().get();
  log().info("larder serve: {} received; stopping cleanup and closing the caches",
             signal == SIGINT ? "SIGINT" : "SIGTERM");
  // No scrape may read the caches once they start closing.
  if (metrics) metrics->stop();
  caches->stop();
  try {
    rt.run(caches->close());
  } catch (const std::exception& e) {
    log().error("larder serve: closing the caches failed: {}", e.what());
    return exit_failure;
  }
  caches.reset();
  log().info("larder serve: caches flushed and index snapshots written; exiting");
  return exit_ok;
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_status) {
  auto options = std::make_shared<serve_options>();
  CLI::App* command = app.add_subcommand(
      "serve",
      "Run the background cleanup service on the configured caches (model_cache, training_cache, "
      "system_cache), with Prometheus metrics at http://ADDRESS:PORT/metrics (cache.metrics), "
      "until SIGINT or SIGTERM, then flush them and exit 0. Exit 2 on a bad configuration "
      "(nothing opened), 1 if a cache cannot be opened or closed or the metrics port cannot be "
      "bound.");
  command->add_option("-c,--config", options->file, "Configuration file (default: embedded)")
      ->check(CLI::ExistingFile);
  command->add_option("--threads", options->threads, "Runtime threads")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  command->callback([options, &exit_status] { exit_status = run_serve(*options); });
}

}  // namespace larder::tools
