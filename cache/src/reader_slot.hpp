// Reader slots: how a memory_tier hit reads a shard without writing any cache line that another
// thread writes too.
//
// 1. Idea (a per-thread "big reader" lock, with the read side's policy updates deferred as in
//    Caffeine's read buffers). Each thread that reads the tier owns one of `reader_slot_count`
//    slot indices, process-wide. Every shard has one reader_slot per index, on its own cache
//    line. A reader announces itself in its slot, checks that no writer is active, reads, records
//    the hit in its slot's buffer and leaves; it writes only its own line. A writer takes the
//    shard's mutex, raises `writing`, waits until every slot's reader count is zero, and then
//    applies the buffered hits to the eviction policy before it changes anything. Entries are
//    only ever removed by writers, so a buffered entry pointer is always live when it is drained,
//    and the policy sees every hit, in order, before it chooses a victim: LRU stays exact.
// 2. Ordering. Reader: readers = 1 (seq_cst), load writing (seq_cst). Writer: writing = true
//    (seq_cst), load every readers (seq_cst). In the single total order one of them sees the
//    other: either the reader backs off, or the writer waits for it. The reader's release store
//    of readers = 0 publishes its buffer to the writer's acquire load.
// 3. Fallbacks. A thread that finds no free slot (more than reader_slot_count threads reading at
//    once), a reader that meets a writer, and an expired entry take the writer's path: correct,
//    only slower.
// 4. Single writer per slot. A slot index belongs to one thread at a time, so its fields are
//    written with plain (relaxed) stores; writers touch a slot's buffer only while its reader
//    count is zero and `writing` keeps the owner out.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include <larder/cache/memory_entry.hpp>

namespace larder::detail {

// Enough for the loader and trainer threads of one process; more threads still work, through
// the locked path.
inline constexpr std::size_t reader_slot_count = 16;
// Hits a slot keeps between two writer sections of its shard: the exactness bound above. 32 is a
// judgement between that bound and memory (a slot is 320 bytes, per thread index and shard).
inline constexpr std::size_t hit_buffer_capacity = 32;

struct alignas(64) reader_slot {
  std::atomic<std::uint32_t> readers{0};
  // Hits recorded since the last drain; the newest min(buffered, capacity) are in `recent`, the
  // i-th at recent[i % capacity].
  std::atomic<std::uint32_t> buffered{0};
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};
  std::array<std::atomic<memory_entry*>, hit_buffer_capacity> recent{};
};

// This thread's slot index, claimed on first use and given back when the thread exits; nullopt
// when every index is taken, or once the thread has begun to exit.
std::optional<std::size_t> this_thread_reader_slot() noexcept;

}  // namespace larder::detail
