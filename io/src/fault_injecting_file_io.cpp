#include "larder/io/fault_injecting_file_io.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace larder::io {
namespace {

using fault = fault_injecting_file_io::fault;
using op_kind = fault_injecting_file_io::op_kind;

bool applies(fault::kind what, op_kind kind) {
  switch (what) {
    case fault::kind::short_read:
      return kind == op_kind::read;
    case fault::kind::torn_write:
      return kind == op_kind::write;
    case fault::kind::fail:
    case fault::kind::slow:
      return true;
  }
  return false;
}

// Completes an injected error through the executor, as a real operation would: a caller must not
// see different scheduling in tests than in production.
asio::awaitable<io_result> injected_error(std::error_code error) {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  co_return io_result{0, error};
}

// Holds back a completion. Cancelling the caller ends the wait early: the operation has already
// been performed, so its real result is still the right answer.
asio::awaitable<io_result> delayed(io_result result, std::chrono::steady_clock::duration delay) {
  asio::steady_timer timer(co_await asio::this_coro::executor, delay);
  boost::system::error_code ignored;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  co_return result;
}

}  // namespace

void fault_injecting_file_io::inject_at(std::uint64_t op_index, fault f) {
  std::lock_guard lock(mu_);
  rules_.push_back({op_index, nullptr, f});
}

void fault_injecting_file_io::inject_when(predicate match, fault f) {
  std::lock_guard lock(mu_);
  rules_.push_back({std::nullopt, std::move(match), f});
}

void fault_injecting_file_io::clear() {
  std::lock_guard lock(mu_);
  rules_.clear();
}

std::uint64_t fault_injecting_file_io::operations() const {
  std::lock_guard lock(mu_);
  return operations_;
}

std::uint64_t fault_injecting_file_io::faults_injected() const {
  std::lock_guard lock(mu_);
  return faults_injected_;
}

std::optional<fault> fault_injecting_file_io::next_fault(op_kind kind, int fd,
                                                         std::uint64_t file_offset,
                                                         std::size_t length) {
  std::lock_guard lock(mu_);
  const op_info info{kind, fd, file_offset, length, operations_++};
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (!applies(it->action.what, kind)) continue;
    if (it->op_index ? *it->op_index != info.index : !it->match(info)) continue;
    const fault f = it->action;
    if (it->op_index) rules_.erase(it);
    ++faults_injected_;
    return f;
  }
  return std::nullopt;
}

asio::awaitable<io_result> fault_injecting_file_io::read_at(int fd,
                                                            std::shared_ptr<aligned_buffer> buffer,
                                                            std::size_t buffer_offset,
                                                            std::size_t length,
                                                            std::uint64_t file_offset) {
  const auto f = next_fault(op_kind::read, fd, file_offset, length);
  if (f && f->what == fault::kind::fail) co_return co_await injected_error(f->error);
  if (f && f->what == fault::kind::short_read) length = std::min(f->bytes, length);
  const io_result result =
      co_await inner_.read_at(fd, std::move(buffer), buffer_offset, length, file_offset);
  if (f && f->what == fault::kind::slow) co_return co_await delayed(result, f->delay);
  co_return result;
}

asio::awaitable<io_result> fault_injecting_file_io::write_at(int fd,
                                                             std::shared_ptr<aligned_buffer> buffer,
                                                             std::size_t buffer_offset,
                                                             std::size_t length,
                                                             std::uint64_t file_offset) {
  const auto f = next_fault(op_kind::write, fd, file_offset, length);
  if (f && f->what == fault::kind::fail) co_return co_await injected_error(f->error);
  if (f && f->what == fault::kind::torn_write) {
    const io_result prefix = co_await inner_.write_at(fd, std::move(buffer), buffer_offset,
                                                      std::min(f->bytes, length), file_offset);
    if (!prefix.ok()) co_return prefix;
    co_return f->error ? io_result{0, f->error} : io_result{length, {}};
  }
  const io_result result =
      co_await inner_.write_at(fd, std::move(buffer), buffer_offset, length, file_offset);
  if (f && f->what == fault::kind::slow) co_return co_await delayed(result, f->delay);
  co_return result;
}

asio::awaitable<io_result> fault_injecting_file_io::fsync(int fd, bool data_only) {
  const auto f = next_fault(op_kind::fsync, fd, 0, 0);
  if (f && f->what == fault::kind::fail) co_return co_await injected_error(f->error);
  const io_result result = co_await inner_.fsync(fd, data_only);
  if (f && f->what == fault::kind::slow) co_return co_await delayed(result, f->delay);
  co_return result;
}

}  // namespace larder::io
