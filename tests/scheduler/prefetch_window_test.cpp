#include "larder/scheduler/detail/prefetch_window.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace larder::detail {
namespace {

// Starts every item the window allows now and returns them, in order.
std::vector<started_fetch> start_all(prefetch_window& w) {
  std::vector<started_fetch> started;
  while (const std::optional<started_fetch> f = w.start_next())
    started.push_back(*f);
  return started;
}

std::vector<std::size_t> items_of(const std::vector<started_fetch>& fetches) {
  std::vector<std::size_t> items;
  for (const started_fetch& f : fetches)
    items.push_back(f.item);
  return items;
}

TEST(PrefetchWindow, StartsTheFirstBatchesAheadInOrderAndSlidesOnDelivery) {
  prefetch_window w(10, {.batch_size = 3, .batches_ahead = 2}, false);
  auto started = start_all(w);
  EXPECT_EQ(items_of(started), (std::vector<std::size_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(w.state(), head_state::pending);

  // Batch 1 finishing first does not make the head ready, nor does it let anything start.
  for (std::size_t i = 3; i < 6; ++i)
    w.finish(started[i], 0);
  EXPECT_EQ(w.state(), head_state::pending);
  EXPECT_TRUE(start_all(w).empty());

  for (std::size_t i = 0; i < 3; ++i)
    w.finish(started[i], 0);
  ASSERT_EQ(w.state(), head_state::ready);
  w.deliver_head();
  EXPECT_EQ(w.head(), 1u);
  EXPECT_EQ(w.state(), head_state::ready);  // batch 1 had already arrived
  EXPECT_EQ(items_of(start_all(w)), (std::vector<std::size_t>{6, 7, 8}));
}

TEST(PrefetchWindow, TheLastBatchHoldsTheRemainder) {
  prefetch_window w(10, {.batch_size = 4, .batches_ahead = 8}, false);
  EXPECT_EQ(w.batch_count(), 3u);
  EXPECT_EQ(w.batch_length(0), 4u);
  EXPECT_EQ(w.batch_length(2), 2u);

  auto started = start_all(w);
  ASSERT_EQ(started.size(), 10u);
  EXPECT_TRUE(w.exhausted());
  for (const started_fetch& f : started)
    w.finish(f, 0);
  for (int b = 0; b < 3; ++b) {
    ASSERT_EQ(w.state(), head_state::ready);
    w.deliver_head();
  }
  EXPECT_EQ(w.state(), head_state::end);
  EXPECT_EQ(w.stats().batches_delivered, 3u);
}

TEST(PrefetchWindow, ABatchLargerThanTheItemsIsOneShortBatch) {
  prefetch_window w(3, {.batch_size = 8}, false);
  EXPECT_EQ(w.batch_count(), 1u);
  EXPECT_EQ(w.batch_length(0), 3u);
}

TEST(PrefetchWindow, AnEmptySequenceIsAtItsEndAtOnce) {
  prefetch_window w(0, {.batch_size = 4}, false);
  EXPECT_EQ(w.batch_count(), 0u);
  EXPECT_EQ(w.state(), head_state::end);
  EXPECT_TRUE(w.exhausted());
  EXPECT_FALSE(w.start_next());
}

TEST(PrefetchWindow, TheBudgetStopsStartsBeyondTheHeadBatch) {
  prefetch_window w(
      20, {.batch_size = 2, .batches_ahead = 8, .max_bytes_in_flight = 450, .item_bytes_hint = 100},
      true);
  // The head batch charges 200, batch 1 another 200; a fifth 100 would overspend 450.
  auto started = start_all(w);
  EXPECT_EQ(items_of(started), (std::vector<std::size_t>{0, 1, 2, 3}));
  EXPECT_EQ(w.stats().bytes_in_flight, 400u);

  // A value smaller than its estimate frees the difference.
  w.finish(started[0], 10);
  EXPECT_EQ(w.stats().bytes_in_flight, 310u);
  EXPECT_EQ(items_of(start_all(w)), (std::vector<std::size_t>{4}));
  EXPECT_EQ(w.stats().bytes_in_flight, 410u);
  EXPECT_LE(w.stats().max_bytes_in_flight, 450u);
}

TEST(PrefetchWindow, TheHeadBatchStartsEvenWhenItAloneOverspends) {
  prefetch_window w(
      9, {.batch_size = 3, .batches_ahead = 3, .max_bytes_in_flight = 50, .item_bytes_hint = 100},
      true);
  auto started = start_all(w);
  EXPECT_EQ(items_of(started), (std::vector<std::size_t>{0, 1, 2}));
  for (const started_fetch& f : started)
    w.finish(f, 100);
  w.deliver_head();
  // The next head is exempt in turn; the bytes of the batch handed over are no longer charged.
  EXPECT_EQ(items_of(start_all(w)), (std::vector<std::size_t>{3, 4, 5}));
  EXPECT_EQ(w.stats().bytes_in_flight, 300u);
}

TEST(PrefetchWindow, WithoutAHintOnlyTheHeadBatchStartsUntilASizeIsKnown) {
  prefetch_window w(20, {.batch_size = 2, .batches_ahead = 8, .max_bytes_in_flight = 1000}, true);
  auto started = start_all(w);
  EXPECT_EQ(items_of(started), (std::vector<std::size_t>{0, 1}));

  // The mean of the values seen so far becomes the estimate: 300 each, so 1000 holds 300 (item 0)
  // + 0 (item 1, started before anything was known) + two more.
  w.finish(started[0], 300);
  auto more = start_all(w);
  EXPECT_EQ(items_of(more), (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(more[0].charge, 300u);

  // A size of 101 brings the mean to 200.5, charged as 201 once batch 0 is handed over and frees
  // its 401 bytes.
  w.finish(started[1], 101);
  EXPECT_FALSE(w.start_next());
  w.deliver_head();
  const std::optional<started_fetch> next = w.start_next();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->item, 4u);
  EXPECT_EQ(next->charge, 201u);
}

TEST(PrefetchWindow, AFailureEndsTheSequenceAtItsBatch) {
  prefetch_window w(12, {.batch_size = 2, .batches_ahead = 3}, true);
  auto started = start_all(w);
  ASSERT_EQ(started.size(), 6u);
  w.finish(started[4], 50);  // batch 2, after the failure to come: its bytes are released
  w.fail(started[2]);        // batch 1
  EXPECT_EQ(w.failed_batch(), std::optional<std::size_t>(1));
  EXPECT_TRUE(w.exhausted());
  EXPECT_EQ(w.stats().bytes_in_flight, 0u);

  // Batch 0 is still delivered; then the head stays at the failure, and nothing more starts.
  EXPECT_EQ(w.state(), head_state::pending);
  w.finish(started[0], 10);
  w.finish(started[1], 10);
  ASSERT_EQ(w.state(), head_state::ready);
  w.deliver_head();
  EXPECT_EQ(w.state(), head_state::failed);
  EXPECT_FALSE(w.start_next());

  for (std::size_t i : {3u, 5u})
    w.abandon(started[i]);
  EXPECT_EQ(w.running(), 0u);
  EXPECT_EQ(w.stats().bytes_in_flight, 0u);
}

TEST(PrefetchWindow, AnEarlierFailureArrivingLaterMovesTheEndBack) {
  prefetch_window w(8, {.batch_size = 2, .batches_ahead = 4}, false);
  auto started = start_all(w);
  w.fail(started[6]);
  w.fail(started[1]);
  EXPECT_EQ(w.failed_batch(), std::optional<std::size_t>(0));
  EXPECT_EQ(w.state(), head_state::failed);
}

TEST(PrefetchWindow, StoppingReleasesTheBytesAndStartsNothingMore) {
  prefetch_window w(
      8, {.batch_size = 2, .batches_ahead = 2, .max_bytes_in_flight = 1000, .item_bytes_hint = 10},
      true);
  auto started = start_all(w);
  w.finish(started[0], 100);
  w.stop();
  EXPECT_TRUE(w.exhausted());
  EXPECT_FALSE(w.start_next());
  EXPECT_EQ(w.stats().bytes_in_flight, 30u);  // the three still running keep their estimates
  for (std::size_t i = 1; i < started.size(); ++i)
    w.abandon(started[i]);
  EXPECT_EQ(w.stats().bytes_in_flight, 0u);
  EXPECT_EQ(w.running(), 0u);
}

TEST(PrefetchWindow, CountsRunningFetchesAndTheirPeak) {
  prefetch_window w(6, {.batch_size = 2, .batches_ahead = 2}, false);
  auto started = start_all(w);
  w.finish(started[0], 0);
  w.finish(started[1], 0);
  w.deliver_head();
  start_all(w);
  const prefetch_stats s = w.stats();
  EXPECT_EQ(s.fetches_started, 6u);
  EXPECT_EQ(s.fetches_running, 4u);
  EXPECT_EQ(s.max_fetches_running, 4u);
}

TEST(PrefetchWindow, RejectsOptionsItCannotKeep) {
  auto message_of = [](prefetch_options options, bool measures_bytes) {
    try {
      prefetch_window w(10, options, measures_bytes);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message_of({.batch_size = 0}, false).find("batch_size"), std::string::npos);
  EXPECT_NE(message_of({.batches_ahead = 0}, false).find("batches_ahead"), std::string::npos);
  EXPECT_NE(message_of({.max_bytes_in_flight = 0}, true).find("max_bytes_in_flight"),
            std::string::npos);
  EXPECT_NE(message_of({.max_bytes_in_flight = 1 << 20}, false).find("size function"),
            std::string::npos);
  EXPECT_NE(message_of({.item_bytes_hint = 64}, false).find("item_bytes_hint"), std::string::npos);
  EXPECT_EQ(message_of({.max_bytes_in_flight = 1 << 20}, true), "accepted");
}

}  // namespace
}  // namespace larder::detail
