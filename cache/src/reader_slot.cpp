#include "reader_slot.hpp"

#include <bit>

namespace larder::detail {
namespace {

static_assert(reader_slot_count <= 32);

// Bit i set: slot index i belongs to a live thread.
std::atomic<std::uint32_t> claimed_slots{0};

class slot_claim {
 public:
  slot_claim() noexcept {
    std::uint32_t current = claimed_slots.load(std::memory_order_relaxed);
    while (true) {
      const std::uint32_t free = ~current & ((std::uint64_t{1} << reader_slot_count) - 1);
      if (free == 0) return;
      const auto index = static_cast<std::size_t>(std::countr_zero(free));
      // acq_rel: a thread that takes over an index sees what the previous owner wrote to it.
      if (claimed_slots.compare_exchange_weak(current, current | (1u << index),
                                              std::memory_order_acq_rel)) {
        index_ = index;
        return;
      }
    }
  }
  ~slot_claim() {
    if (index_) claimed_slots.fetch_and(~(1u << *index_), std::memory_order_release);
  }
  std::optional<std::size_t> index() const noexcept { return index_; }

 private:
  std::optional<std::size_t> index_;
};

}  // namespace

std::optional<std::size_t> this_thread_reader_slot() noexcept {
  thread_local const slot_claim claim;
  return claim.index();
}

}  // namespace larder::detail
