#include "larder/cache/memory_cleanup.hpp"

#include "larder/cache/memory_tier.hpp"

namespace larder {

memory_cleanup_report clean_memory_tier(memory_tier& tier,
                                        const memory_cleanup_settings& settings) {
  memory_cleanup_report report;
  report.bytes_before = tier.bytes_used();
  report.expired = tier.purge_expired();
  const auto share = [&](double fraction) {
    return static_cast<std::uint64_t>(static_cast<double>(tier.capacity_bytes()) * fraction);
  };
  switch (settings.policy) {
    case cleanup_policy::lru:
    case cleanup_policy::fifo:
      report.evicted = tier.evict_down_to(tier.high_water_bytes());
      break;
    case cleanup_policy::time:
      if (settings.max_age.count() > 0) report.aged_out = tier.remove_older_than(settings.max_age);
      break;
    case cleanup_policy::size:
      if (tier.bytes_used() > share(settings.eviction_threshold)) {
        report.evicted = tier.evict_down_to(share(settings.low_water));
      }
      break;
  }
  report.bytes_after = tier.bytes_used();
  return report;
}

}  // namespace larder
