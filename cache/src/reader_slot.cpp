#include "reader_slot.hpp"

#include <bit>

namespace larder::detail {
namespace {

static_assert(reader_slot_count <= 32);

// Bit i set: slot index i belongs to a live thread.
std::atomic<std::uint32_t> claimed_slots{0};

// This thread's index: >= 0 once claimed; `unclaimed` before the first read; `none` when every
// index was taken or the thread is exiting. A plain int, so it stays readable after the releaser
// below has run (a cache read from a later thread-exit destructor must not use a returned index).
constexpr int unclaimed = -2;
constexpr int none = -1;
thread_local int this_thread_index = unclaimed;

int claim_index() noexcept {
  std::uint32_t current = claimed_slots.load(std::memory_order_relaxed);
  while (true) {
    const auto free =
        static_cast<std::uint32_t>(~current & ((std::uint64_t{1} << reader_slot_count) - 1));
    if (free == 0) return none;
    const int index = std::countr_zero(free);
    // acq_rel: a thread that takes over an index sees what the previous owner wrote to it.
    if (claimed_slots.compare_exchange_weak(current, current | (1u << index),
                                            std::memory_order_acq_rel)) {
      return index;
    }
  }
}

// Gives the index back when the thread exits.
struct index_releaser {
  ~index_releaser() {
    if (this_thread_index >= 0) {
      claimed_slots.fetch_and(~(1u << this_thread_index), std::memory_order_release);
    }
    this_thread_index = none;
  }
};

}  // namespace

std::optional<std::size_t> this_thread_reader_slot() noexcept {
  if (this_thread_index >= 0) return static_cast<std::size_t>(this_thread_index);
  if (this_thread_index == none) return std::nullopt;
  this_thread_index = claim_index();
  thread_local index_releaser releaser;
  (void)releaser;
  if (this_thread_index < 0) return std::nullopt;
  return static_cast<std::size_t>(this_thread_index);
}

}  // namespace larder::detail
