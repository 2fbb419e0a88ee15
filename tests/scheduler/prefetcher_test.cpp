#include "larder/scheduler/prefetcher.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <gtest/gtest.h>

#include "larder/runtime/runtime.hpp"
#include "waiting.hpp"

namespace larder {
namespace {

using namespace std::chrono_literals;
using testing::eventually;
using testing::pause;
using string_prefetcher = prefetcher<std::string, std::string>;

// Suspends until `done()` holds, polling; gives up after 20 s so that a broken prefetcher fails the
// test instead of hanging it.
template <typename Predicate>
asio::awaitable<void> pause_until(Predicate done) {
  for (int i = 0; i < 20000 && !done(); ++i)
    co_await pause(1ms);
}

// Suspends for an hour unless cancelled; counts the cancellation and passes it on.
asio::awaitable<void> sleep_until_cancelled(std::atomic<std::size_t>& cancelled) {
  try {
    co_await pause(std::chrono::hours(1));
  } catch (const boost::system::system_error& e) {
    if (e.code() == asio::error::operation_aborted) ++cancelled;
    throw;
  }
}

// Suspends until `release` is set, ignoring cancellation the way a careless fetch function would.
asio::awaitable<void> wait_ignoring_cancellation(const std::atomic<bool>& release) {
  co_await asio::this_coro::throw_if_cancelled(false);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!release.load()) {
    timer.expires_after(1ms);
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

std::vector<std::string> keys_of(std::size_t n) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < n; ++i)
    keys.push_back("k" + std::to_string(i));
  return keys;
}

std::size_t item_of(const std::string& key) {
  return std::stoul(key.substr(1));
}

// Differs from item to item, the same on every run: splitmix64's finaliser.
std::uint64_t scramble(std::size_t item) {
  std::uint64_t z = (static_cast<std::uint64_t>(item) + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::chrono::milliseconds scrambled_delay(std::size_t item) {
  return std::chrono::milliseconds(scramble(item) % 4);
}

void raise_to(std::atomic<std::size_t>& peak, std::size_t value) {
  std::size_t seen = peak.load();
  while (value > seen && !peak.compare_exchange_weak(seen, value)) {
  }
}

// What the fetch functions of a test did, counted from inside them.
struct fetch_counts {
  std::atomic<std::size_t> started{0};
  std::atomic<std::size_t> running{0};
  std::atomic<std::size_t> max_running{0};
  std::atomic<std::size_t> finished{0};
  std::atomic<std::size_t> cancelled{0};

  // Lives in a fetch's frame: counts the fetch in, and out however it ends.
  class scope {
   public:
    explicit scope(fetch_counts& counts) : counts_(counts) {
      ++counts_.started;
      raise_to(counts_.max_running, ++counts_.running);
    }
    ~scope() {
      --counts_.running;
      ++counts_.finished;
    }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    fetch_counts& counts_;
  };
};

template <typename Prefetcher>
asio::awaitable<std::vector<typename Prefetcher::batch>> drain(Prefetcher& p) {
  std::vector<typename Prefetcher::batch> batches;
  while (auto b = co_await p.next())
    batches.push_back(std::move(*b));
  co_return batches;
}

bool is_operation_aborted(const boost::system::system_error& e) {
  return e.code() == asio::error::operation_aborted;
}

class PrefetcherOrder : public ::testing::Test {
 protected:
  runtime rt_{{.threads = 2}};
};

TEST_F(PrefetcherOrder, DeliversBatchesInOrderWhileFetchesFinishOutOfOrder) {
  constexpr std::size_t count = 103;
  fetch_counts counts;
  std::vector<std::atomic<bool>> arrived(count);
  string_prefetcher p(rt_.executor(), keys_of(count), {.batch_size = 4, .batches_ahead = 3},
                      [&](const std::string& key) -> asio::awaitable<std::string> {
                        const fetch_counts::scope counted(counts);
                        const std::size_t item = item_of(key);
                        // The first item of every batch waits for an item of the next batch, so
                        // completions are out of order by construction, not only by chance.
                        if (item % 4 == 0 && item + 5 < count) {
                          co_await pause_until([&] { return arrived[item + 5].load(); });
                        }
                        co_await pause(scrambled_delay(item));
                        arrived[item] = true;
                        co_return "value of " + key;
                      });
  EXPECT_EQ(p.batch_count(), 26u);

  const auto batches = rt_.run(drain(p));
  ASSERT_EQ(batches.size(), 26u);
  const std::vector<std::string> keys = keys_of(count);
  for (std::size_t b = 0; b < batches.size(); ++b) {
    EXPECT_EQ(batches[b].index, b);
    const std::size_t length = b + 1 < batches.size() ? 4 : 3;
    ASSERT_EQ(batches[b].keys.size(), length);
    ASSERT_EQ(batches[b].values.size(), length);
    for (std::size_t i = 0; i < length; ++i) {
      EXPECT_EQ(batches[b].keys[i], keys[4 * b + i]);
      EXPECT_EQ(batches[b].values[i], "value of " + keys[4 * b + i]);
    }
  }
  EXPECT_FALSE(rt_.run(p.next()));  // the end stays the end

  const prefetch_stats stats = p.stats();
  EXPECT_EQ(stats.fetches_started, count);
  EXPECT_EQ(stats.fetches_running, 0u);
  EXPECT_EQ(stats.batches_delivered, 26u);
  EXPECT_LE(stats.max_fetches_running, 12u);
  EXPECT_EQ(counts.finished, count);
  EXPECT_LE(counts.max_running, 12u);
}

TEST_F(PrefetcherOrder, AnEmptySequenceEndsAtOnce) {
  std::atomic<int> calls{0};
  string_prefetcher p(rt_.executor(), {}, {.batch_size = 4},
                      [&](const std::string& key) -> asio::awaitable<std::string> {
                        ++calls;
                        co_return key;
                      });
  EXPECT_EQ(p.batch_count(), 0u);
  EXPECT_FALSE(rt_.run(p.next()));
  rt_.run(p.async_stop());
  EXPECT_EQ(calls, 0);
}

TEST_F(PrefetcherOrder, TheLastBatchHoldsTheRemainder) {
  auto identity = [](const std::string& key) -> asio::awaitable<std::string> { co_return key; };

  string_prefetcher ten(rt_.executor(), keys_of(10), {.batch_size = 4, .batches_ahead = 2},
                        identity);
  const auto batches = rt_.run(drain(ten));
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[2].index, 2u);
  EXPECT_EQ(batches[2].keys, (std::vector<std::string>{"k8", "k9"}));
  EXPECT_EQ(batches[2].values, (std::vector<std::string>{"k8", "k9"}));

  string_prefetcher three(rt_.executor(), keys_of(3), {.batch_size = 8}, identity);
  const auto one = rt_.run(drain(three));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].values, (std::vector<std::string>{"k0", "k1", "k2"}));
}

TEST_F(PrefetcherOrder, AKeyWithoutAFormatterIsNamedByItsPosition) {
  struct sample_id {
    int shard;
    int index;
  };
  prefetcher<sample_id, int> p(rt_.executor(), {{0, 10}, {0, 11}, {1, 12}}, {.batch_size = 2},
                               [](const sample_id& id) -> asio::awaitable<int> {
                                 if (id.index == 12) throw std::runtime_error("unreadable");
                                 co_return id.index;
                               });
  const auto first = rt_.run(p.next());
  ASSERT_TRUE(first);
  EXPECT_EQ(first->values, (std::vector<int>{10, 11}));
  EXPECT_EQ(first->keys[1].index, 11);
  try {
    rt_.run(p.next());
    FAIL() << "the failed fetch was not reported";
  } catch (const prefetch_error& e) {
    EXPECT_EQ(e.key(), "");
    EXPECT_EQ(e.item(), 2u);
    EXPECT_EQ(e.batch(), 1u);
    EXPECT_NE(std::string(e.what()).find("item 2"), std::string::npos) << e.what();
  }
}

// Exact bounds: on one thread, no fetch starts between next() handing a batch over and the
// consumer's next statement, so what the consumer counts is what the prefetcher holds.
class PrefetcherLimits : public ::testing::Test {
 protected:
  runtime rt_{{.threads = 1}};
};

TEST_F(PrefetcherLimits, NeverReadsMoreBatchesAheadThanAllowed) {
  constexpr std::size_t batch_size = 3;
  constexpr std::size_t ahead = 2;
  std::atomic<std::size_t> received{0};
  std::atomic<std::size_t> most_batches_out{0};  // started and not yet received
  fetch_counts counts;
  string_prefetcher p(rt_.executor(), keys_of(40),
                      {.batch_size = batch_size, .batches_ahead = ahead},
                      [&](const std::string& key) -> asio::awaitable<std::string> {
                        const fetch_counts::scope counted(counts);
                        const std::size_t item = item_of(key);
                        raise_to(most_batches_out, item / batch_size + 1 - received.load());
                        co_await pause(scrambled_delay(item));
                        co_return key;
                      });
  rt_.run([&]() -> asio::awaitable<void> {
    while (auto b = co_await p.next()) {
      ++received;
      co_await pause(scrambled_delay(b->index));  // a consumer sometimes slower than the reads
    }
  }());
  EXPECT_EQ(received, 14u);
  EXPECT_EQ(most_batches_out, ahead);
  EXPECT_LE(counts.max_running, batch_size * ahead);
  EXPECT_LE(p.stats().max_fetches_running, batch_size * ahead);
}

// Counts bytes from the start of their fetch until the value holding them is destroyed: what the
// prefetcher makes the process hold.
class byte_meter {
 public:
  class hold {
   public:
    hold(byte_meter& meter, std::size_t bytes) : meter_(&meter), bytes_(bytes) {
      raise_to(meter.peak_, meter.now_ += bytes);
    }
    hold(hold&& other) noexcept
        : meter_(std::exchange(other.meter_, nullptr)), bytes_(other.bytes_) {}
    hold& operator=(hold&&) = delete;
    ~hold() {
      if (meter_) meter_->now_ -= bytes_;
    }

   private:
    byte_meter* meter_;
    std::size_t bytes_;
  };

  std::size_t now() const { return now_.load(); }
  std::size_t peak() const { return peak_.load(); }

 private:
  std::atomic<std::size_t> now_{0};
  std::atomic<std::size_t> peak_{0};
};

// Not assignable: the prefetcher needs values to be move-constructible only.
struct payload {
  std::string bytes;
  byte_meter::hold held;
};

using payload_prefetcher = prefetcher<std::string, payload>;

std::uint64_t size_of_payload(const payload& p) {
  return p.bytes.size();
}

TEST_F(PrefetcherLimits, KeepsTheBytesInFlightWithinTheBudget) {
  constexpr std::size_t budget = 2000;
  constexpr std::size_t largest = 400;
  byte_meter meter;
  // The batch limit alone would allow 16 values, up to 6400 bytes; the budget must hold them back.
  payload_prefetcher p(
      rt_.executor(), keys_of(60),
      {.batch_size = 2,
       .batches_ahead = 8,
       .max_bytes_in_flight = budget,
       .item_bytes_hint = largest},
      [&](const std::string& key) -> asio::awaitable<payload> {
        const std::size_t item = item_of(key);
        const std::size_t size = 100 + scramble(item) % (largest - 100 + 1);
        byte_meter::hold held(meter, size);
        co_await pause(scrambled_delay(item));
        co_return payload{std::string(size, 'x'), std::move(held)};
      },
      size_of_payload);

  const std::size_t batches = rt_.run([&]() -> asio::awaitable<std::size_t> {
    std::size_t n = 0;
    while (auto b = co_await p.next()) {
      EXPECT_EQ(b->values.size(), 2u);
      ++n;
    }  // each batch is dropped before the next is asked for
    co_return n;
  }());
  EXPECT_EQ(batches, 30u);
  EXPECT_GT(meter.peak(), 0u);
  EXPECT_LE(meter.peak(), budget);
  EXPECT_EQ(meter.now(), 0u);
  const prefetch_stats stats = p.stats();
  EXPECT_LE(stats.max_bytes_in_flight, budget);
  EXPECT_EQ(stats.bytes_in_flight, 0u);
  // Every running fetch is charged `largest`.
  EXPECT_LE(stats.max_fetches_running, budget / largest);
}

TEST_F(PrefetcherLimits, ABatchLargerThanTheBudgetStillArrives) {
  std::atomic<std::size_t> received{0};
  std::atomic<std::size_t> most_batches_out{0};
  byte_meter meter;
  payload_prefetcher p(
      rt_.executor(), keys_of(10),
      {.batch_size = 2, .batches_ahead = 4, .max_bytes_in_flight = 100, .item_bytes_hint = 400},
      [&](const std::string& key) -> asio::awaitable<payload> {
        raise_to(most_batches_out, item_of(key) / 2 + 1 - received.load());
        byte_meter::hold held(meter, 400);
        co_await pause(1ms);
        co_return payload{std::string(400, 'x'), std::move(held)};
      },
      size_of_payload);
  rt_.run([&]() -> asio::awaitable<void> {
    while (co_await p.next())
      ++received;
  }());
  EXPECT_EQ(received, 5u);
  EXPECT_EQ(most_batches_out, 1u);  // only the batch the consumer waits for
  EXPECT_LE(meter.peak(), 800u);
  EXPECT_EQ(p.stats().max_fetches_running, 2u);
}

class PrefetcherBackpressure : public ::testing::Test {
 protected:
  runtime rt_{{.threads = 2}};
};

TEST_F(PrefetcherBackpressure, ASlowConsumerHoldsTheFetchesBack) {
  fetch_counts counts;
  string_prefetcher p(rt_.executor(), keys_of(100), {.batch_size = 2, .batches_ahead = 3},
                      [&](const std::string& key) -> asio::awaitable<std::string> {
                        const fetch_counts::scope counted(counts);
                        co_await pause(scrambled_delay(item_of(key)));
                        co_return key;
                      });
  // Batch 0 handed over, batches 1 to 3 read ahead: 8 values, and then nothing more while the
  // consumer does not ask. The sleeps give a prefetcher without backpressure time to overrun.
  ASSERT_TRUE(rt_.run(p.next()));
  ASSERT_TRUE(eventually([&] { return counts.finished == 8; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(counts.started, 8u);
  EXPECT_EQ(p.stats().fetches_started, 8u);

  ASSERT_TRUE(rt_.run(p.next()));
  ASSERT_TRUE(eventually([&] { return counts.finished == 10; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(counts.started, 10u);
  rt_.run(p.async_stop());
}

TEST_F(PrefetcherBackpressure, TheConsumersStallIsMeasured) {
  std::atomic<bool> release{false};
  fetch_counts counts;
  string_prefetcher p(rt_.executor(), keys_of(2), {.batch_size = 1, .batches_ahead = 2},
                      [&](const std::string& key) -> asio::awaitable<std::string> {
                        const fetch_counts::scope counted(counts);
                        if (key == "k0") co_await pause_until([&] { return release.load(); });
                        co_return key;
                      });
  ASSERT_TRUE(eventually([&] { return counts.finished == 1; }));  // k1 has arrived
  std::atomic<bool> got_first{false};
  rt_.spawn([&]() -> asio::awaitable<void> {
    if (co_await p.next()) got_first = true;
  });
  ASSERT_TRUE(eventually([&] { return p.stats().consumer_waits == 1; }));
  release = true;
  ASSERT_TRUE(eventually([&] { return got_first.load(); }));
  ASSERT_TRUE(rt_.run(p.next()));  // k1, ready before it was asked for: no wait
  const prefetch_stats stats = p.stats();
  EXPECT_EQ(stats.consumer_waits, 1u);
  EXPECT_GT(stats.consumer_wait_time.count(), 0);
}

TEST(PrefetcherConcurrency, TheFetchesOfAWindowAreInFlightTogether) {
  // One thread: the overlap comes from the coroutines, as it must for io_uring's queue depth.
  runtime rt({.threads = 1});
  constexpr std::size_t window = 8;  // 2 batches of 4
  std::atomic<std::size_t> arrived{0};
  fetch_counts counts;
  string_prefetcher p(rt.executor(), keys_of(16), {.batch_size = 4, .batches_ahead = 2},
                      [&](const std::string& key) -> asio::awaitable<std::string> {
                        const fetch_counts::scope counted(counts);
                        ++arrived;
                        co_await pause_until([&] { return arrived.load() >= window; });
                        co_return key;
                      });
  EXPECT_EQ(rt.run(drain(p)).size(), 4u);
  EXPECT_EQ(counts.max_running, window);
  EXPECT_EQ(p.stats().max_fetches_running, window);
}

class PrefetcherErrors : public ::testing::Test {
 protected:
  runtime rt_{{.threads = 2}};
};

TEST_F(PrefetcherErrors, AFailedFetchSurfacesFromItsBatchNamingItsKey) {
  string_prefetcher p(rt_.executor(), keys_of(20), {.batch_size = 4, .batches_ahead = 2},
                      [](const std::string& key) -> asio::awaitable<std::string> {
                        if (key == "k13") throw std::runtime_error("disk on fire");
                        co_await pause(scrambled_delay(item_of(key)));
                        co_return key;
                      });
  for (std::size_t b = 0; b < 3; ++b) {
    const auto batch = rt_.run(p.next());
    ASSERT_TRUE(batch);
    EXPECT_EQ(batch->index, b);
  }
  for (int attempt = 0; attempt < 2; ++attempt) {  // the failure is where the sequence ends
    try {
      rt_.run(p.next());
      ADD_FAILURE() << "batch 3 was delivered despite its failed fetch";
    } catch (const prefetch_error& e) {
      EXPECT_EQ(e.key(), "k13");
      EXPECT_EQ(e.item(), 13u);
      EXPECT_EQ(e.batch(), 3u);
      const std::string what = e.what();
      EXPECT_NE(what.find("k13"), std::string::npos) << what;
      EXPECT_NE(what.find("disk on fire"), std::string::npos) << what;
      EXPECT_THROW(std::rethrow_exception(e.cause()), std::runtime_error);
    }
  }
  rt_.run(p.async_stop());
  EXPECT_EQ(p.stats().fetches_running, 0u);
}

TEST_F(PrefetcherErrors, AFailureStartsNothingMoreAndCancelsTheFetchesAfterIt) {
  std::atomic<bool> release_first{false};
  fetch_counts counts;
  string_prefetcher p(rt_.executor(), keys_of(10), {.batch_size = 1, .batches_ahead = 4},
                      [&](const std::string& key) -> asio::awaitable<std::string> {
                        const fetch_counts::scope counted(counts);
                        if (key == "k0") {
                          co_await pause_until([&] { return release_first.load(); });
                        } else if (key == "k1") {
                          co_await pause_until([&] { return counts.started.load() >= 4; });
                          throw std::runtime_error("bad sector");
                        } else {
                          co_await sleep_until_cancelled(counts.cancelled);
                        }
                        co_return key;
                      });
  // k1's failure cancels k2 and k3, whose values could never be delivered.
  ASSERT_TRUE(eventually([&] { return counts.cancelled == 2; }));
  // Handing batch 0 over slides the window, but nothing past the failure starts.
  release_first = true;
  const auto first = rt_.run(p.next());
  ASSERT_TRUE(first);
  EXPECT_EQ(first->values, (std::vector<std::string>{"k0"}));
  try {
    rt_.run(p.next());
    ADD_FAILURE() << "batch 1 was delivered despite its failed fetch";
  } catch (const prefetch_error& e) {
    EXPECT_EQ(e.key(), "k1");
    EXPECT_EQ(e.batch(), 1u);
  }
  EXPECT_EQ(p.stats().fetches_started, 4u);
  EXPECT_EQ(counts.started, 4u);
  ASSERT_TRUE(eventually([&] { return p.stats().fetches_running == 0; }));
  EXPECT_EQ(counts.finished, 4u);
}

class PrefetcherCancel : public ::testing::Test {
 protected:
  runtime rt_{{.threads = 2}};
};

TEST_F(PrefetcherCancel, AsyncStopCancelsRunningFetchesAndWaitsForThem) {
  fetch_counts counts;
  auto captured = std::make_shared<int>(0);
  const std::weak_ptr<int> capture_alive = captured;
  string_prefetcher p(rt_.executor(), keys_of(50), {.batch_size = 2, .batches_ahead = 3},
                      [&counts, captured](const std::string& key) -> asio::awaitable<std::string> {
                        const fetch_counts::scope counted(counts);
                        if (item_of(key) >= 6) co_await sleep_until_cancelled(counts.cancelled);
                        co_return key;
                      });
  captured.reset();  // the fetch function holds the only reference now
  for (std::size_t b = 0; b < 3; ++b)
    ASSERT_TRUE(rt_.run(p.next()));
  ASSERT_TRUE(eventually([&] { return counts.started == 12; }));  // items 6 to 11 suspended

  rt_.run(p.async_stop());
  EXPECT_EQ(counts.finished, 12u);
  EXPECT_EQ(counts.cancelled, 6u);
  EXPECT_TRUE(capture_alive.expired());  // the fetch function is released
  const prefetch_stats stats = p.stats();
  EXPECT_EQ(stats.fetches_running, 0u);
  EXPECT_EQ(stats.bytes_in_flight, 0u);
  try {
    rt_.run(p.next());
    ADD_FAILURE() << "next() after async_stop() did not throw";
  } catch (const boost::system::system_error& e) {
    EXPECT_TRUE(is_operation_aborted(e)) << e.what();
  }
}

TEST_F(PrefetcherCancel, AFetchThatIgnoresCancellationOutlivesThePrefetcherSafely) {
  std::atomic<bool> release{false};
  fetch_counts counts;
  auto captured = std::make_shared<int>(0);
  const std::weak_ptr<int> capture_alive = captured;
  {
    string_prefetcher p(
        rt_.executor(), keys_of(8), {.batch_size = 2, .batches_ahead = 2},
        [&counts, &release, captured](const std::string&) -> asio::awaitable<std::string> {
          const fetch_counts::scope counted(counts);
          co_await wait_ignoring_cancellation(release);
          // Written after the prefetcher is gone: its slot must still exist.
          co_return std::string(1 << 16, 'x');
        });
    captured.reset();
    ASSERT_TRUE(eventually([&] { return counts.started == 4; }));
  }  // destroyed mid-sequence: cancels, does not wait
  EXPECT_EQ(counts.finished, 0u);
  EXPECT_FALSE(capture_alive.expired());
  release = true;
  ASSERT_TRUE(eventually([&] { return counts.finished == 4; }));
  // The last fetch to end frees the prefetcher's state and, with it, the fetch function.
  ASSERT_TRUE(eventually([&] { return capture_alive.expired(); }));
  EXPECT_EQ(counts.started, 4u);
}

TEST_F(PrefetcherCancel, AsyncStopWaitsForAFetchThatIgnoresCancellation) {
  std::atomic<bool> release{false};
  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> finished_when_stopped{0};
  fetch_counts counts;
  string_prefetcher p(rt_.executor(), keys_of(8), {.batch_size = 2, .batches_ahead = 2},
                      [&](const std::string& key) -> asio::awaitable<std::string> {
                        const fetch_counts::scope counted(counts);
                        co_await wait_ignoring_cancellation(release);
                        co_return key;
                      });
  ASSERT_TRUE(eventually([&] { return counts.started == 4; }));
  rt_.spawn([&]() -> asio::awaitable<void> {
    co_await p.async_stop();
    finished_when_stopped = counts.finished.load();
    stopped = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(stopped);
  release = true;
  ASSERT_TRUE(eventually([&] { return stopped.load(); }));
  EXPECT_EQ(finished_when_stopped, 4u);
}

TEST_F(PrefetcherCancel, CancelWakesAWaitingConsumer) {
  fetch_counts counts;
  string_prefetcher p(rt_.executor(), keys_of(4), {.batch_size = 1, .batches_ahead = 2},
                      [&](const std::string& key) -> asio::awaitable<std::string> {
                        const fetch_counts::scope counted(counts);
                        co_await sleep_until_cancelled(counts.cancelled);
                        co_return key;
                      });
  std::atomic<bool> aborted{false};
  std::atomic<bool> done{false};
  rt_.spawn([&]() -> asio::awaitable<void> {
    try {
      co_await p.next();
    } catch (const boost::system::system_error& e) {
      aborted = is_operation_aborted(e);
    }
    done = true;
  });
  ASSERT_TRUE(eventually([&] { return p.stats().consumer_waits == 1; }));
  p.cancel();
  ASSERT_TRUE(eventually([&] { return done.load(); }));
  EXPECT_TRUE(aborted);
  ASSERT_TRUE(eventually([&] { return counts.finished == 2; }));
  EXPECT_EQ(counts.cancelled, 2u);
}

TEST_F(PrefetcherCancel, ASecondConcurrentNextIsRefused) {
  fetch_counts counts;
  string_prefetcher p(rt_.executor(), keys_of(4), {.batch_size = 1},
                      [&](const std::string& key) -> asio::awaitable<std::string> {
                        const fetch_counts::scope counted(counts);
                        co_await sleep_until_cancelled(counts.cancelled);
                        co_return key;
                      });
  rt_.spawn([&]() -> asio::awaitable<void> {
    try {
      co_await p.next();
    } catch (const boost::system::system_error&) {
    }
  });
  ASSERT_TRUE(eventually([&] { return p.stats().consumer_waits == 1; }));
  EXPECT_THROW(rt_.run(p.next()), std::logic_error);
  rt_.run(p.async_stop());
}

TEST_F(PrefetcherCancel, CancellingTheWaitingConsumerCancelsThePrefetcher) {
  fetch_counts counts;
  string_prefetcher p(rt_.executor(), keys_of(6), {.batch_size = 2, .batches_ahead = 2},
                      [&](const std::string& key) -> asio::awaitable<std::string> {
                        const fetch_counts::scope counted(counts);
                        co_await sleep_until_cancelled(counts.cancelled);
                        co_return key;
                      });
  std::atomic<bool> aborted{false};
  rt_.spawn([&]() -> asio::awaitable<void> {
    try {
      co_await p.next();
    } catch (const boost::system::system_error& e) {
      aborted = is_operation_aborted(e);
    }
  });
  ASSERT_TRUE(eventually([&] { return p.stats().consumer_waits == 1 && counts.started == 4; }));
  rt_.stop();  // cancels the consumer's task, which must cancel the prefetcher and its fetches
  EXPECT_TRUE(aborted);
  EXPECT_EQ(counts.cancelled, 4u);
  EXPECT_EQ(counts.finished, 4u);
  EXPECT_EQ(p.stats().fetches_running, 0u);
}

TEST(PrefetcherShutdown, DestroyingTheContextWithFetchesSuspendedLeaksNothing) {
  // A fetch that never ends, and a consumer parked on it that nothing cancels: only the context's
  // destruction ends them. Under ASan, a reference cycle left behind is a reported leak.
  std::atomic<bool> never{false};
  fetch_counts counts;
  auto captured = std::make_shared<int>(0);
  const std::weak_ptr<int> capture_alive = captured;
  {
    std::optional<string_prefetcher> p;
    runtime rt({.threads = 2, .stop_grace = 100ms});
    p.emplace(rt.executor(), keys_of(6), prefetch_options{.batch_size = 2, .batches_ahead = 2},
              [&counts, &never, captured](const std::string& key) -> asio::awaitable<std::string> {
                const fetch_counts::scope counted(counts);
                co_await wait_ignoring_cancellation(never);
                co_return key;
              });
    captured.reset();
    asio::co_spawn(
        rt.executor(), [&p]() -> asio::awaitable<void> { co_await p->next(); }, asio::detached);
    ASSERT_TRUE(eventually([&] { return p->stats().consumer_waits == 1 && counts.started == 4; }));
    rt.stop();
  }  // the runtime's context goes first, with the suspended fetches and consumer, then p
  EXPECT_EQ(counts.finished, 4u);
  EXPECT_TRUE(capture_alive.expired());
}

}  // namespace
}  // namespace larder
