#include <algorithm>
#include <atomic>
#include <cassert>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include <larder/cache/replay/trace_replayer.hpp>

namespace larder {
namespace {

memory_tier_options tier_options(const replay_settings& s) {
  assert(s.capacity > 0 && s.shards > 0 && !(s.ignore_size && s.count_overhead));
  memory_tier_options o;
  o.capacity_bytes = s.capacity;
  o.eviction_threshold = 1.0;
  o.policy = s.policy;
  o.shards = s.shards;
  o.weight = s.ignore_size      ? entry_weight::one
             : s.count_overhead ? entry_weight::footprint
                                : entry_weight::value_bytes;
  return o;
}

}  // namespace

trace_replayer::trace_replayer(const replay_settings& settings)
    : settings_(settings), tier_(tier_options(settings)) {}

void trace_replayer::replay(const trace_request& request) {
  if (request.size == 0) {
    ++counts_.zero_size_requests;
    return;
  }
  const std::uint64_t size = settings_.ignore_size ? 1 : request.size;
  ++counts_.requests;
  counts_.bytes_requested += size;
  if (tier_.get(request.key)) return;
  ++counts_.misses;
  counts_.bytes_missed += size;
  tier_.put(request.key, values_.of_size(size));
}

std::vector<replay_counts> replay_trace(const trace_opener& open,
                                        std::span<const replay_settings> settings, unsigned threads,
                                        const trace_progress& progress) {
  std::vector<replay_counts> counts(settings.size());
  const std::size_t workers =
      std::max<std::size_t>(1, std::min<std::size_t>(threads, settings.size()));
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;  // guarded by error_mutex

  // Worker w replays settings w, w + workers, w + 2 x workers, ...
  const auto work = [&](std::size_t w) {
    try {
      std::deque<trace_replayer> replayers;  // never moved: a memory_tier cannot be
      for (std::size_t i = w; i < settings.size(); i += workers)
        replayers.emplace_back(settings[i]);
      const std::unique_ptr<trace_source> source = open();
      std::uint64_t until_check = requests_between_progress_reports;
      while (const auto request = source->next()) {
        for (trace_replayer& r : replayers)
          r.replay(*request);
        if (--until_check > 0) continue;
        until_check = requests_between_progress_reports;
        if (failed.load(std::memory_order_relaxed)) return;
        if (w == 0 && progress) progress(source->position(), source->length());
      }
      if (w == 0 && progress) progress(source->position(), source->length());
      for (std::size_t i = w, k = 0; i < settings.size(); i += workers, ++k) {
        counts[i] = replayers[k].counts();
      }
    } catch (...) {
      failed = true;
      const std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  };
  std::vector<std::jthread> helpers;
  for (std::size_t w = 1; w < workers; ++w)
    helpers.emplace_back(work, w);
  work(0);
  helpers.clear();
  if (error) std::rethrow_exception(error);
  return counts;
}

}  // namespace larder
