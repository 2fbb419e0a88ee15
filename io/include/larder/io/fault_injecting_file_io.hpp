// fault_injecting_file_io: a file_io that passes operations to another one and makes chosen ones
// fail the way disks fail, so that tests can check their callers survive it: errors (EIO,
// ENOSPC), short reads, torn writes and slow completions.
//
// Operations are numbered from 0 in the order they start, faulted or not. Rules are checked in
// the order they were added and the first one that matches decides the operation's fault; an
// operation no rule matches is passed through unchanged. inject_at() adds a rule that fires once,
// for the operation with that number; inject_when() adds one that fires for every operation its
// predicate accepts, until clear(). A fault that does not apply to an operation's kind (a short
// read for a write) never matches it. Injected errors complete through the caller's executor like
// real ones, not inline.
//
// Does not own the wrapped file_io, which must outlive it. Thread safety: every member function
// may be called from any thread concurrently. Predicates run under the object's lock: they must
// not call back into it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <system_error>
#include <vector>

#include <larder/io/file_io.hpp>

namespace larder::io {

class fault_injecting_file_io final : public file_io {
 public:
  enum class op_kind { read, write, fsync };

  // What a rule sees of an operation. length is 0 for fsync.
  struct op_info {
    op_kind kind = op_kind::read;
    int fd = -1;
    std::uint64_t file_offset = 0;
    std::size_t length = 0;
    std::uint64_t index = 0;
  };
  using predicate = std::function<bool(const op_info&)>;

  // What happens to a matching operation; made with the functions below.
  struct fault {
    enum class kind { fail, short_read, torn_write, slow };

    // Any operation: not performed; reports `error` (std::errc::io_error,
    // std::errc::no_space_on_device, ...).
    static fault fail(std::errc error) {
      return make(kind::fail, std::make_error_code(error), 0, {});
    }
    // Reads: transfers only the first min(bytes, length) bytes and reports that count, as at end
    // of file. With O_DIRECT, `bytes` must be a multiple of the file's alignment.
    static fault short_read(std::size_t bytes) { return make(kind::short_read, {}, bytes, {}); }
    // Writes: writes the first min(prefix, length) bytes to the file for real, then reports
    // `reported`; an empty `reported` claims the whole write succeeded, as a device that loses
    // power mid-write does. With O_DIRECT, `prefix` must be a multiple of the file's alignment.
    static fault torn_write(std::size_t prefix,
                            std::error_code reported = std::make_error_code(std::errc::io_error)) {
      return make(kind::torn_write, reported, prefix, {});
    }
    // Any operation: performed, and its completion then held back by `delay` on a steady_timer
    // of the caller's executor.
    static fault slow(std::chrono::steady_clock::duration delay) {
      return make(kind::slow, {}, 0, delay);
    }

    kind what = kind::fail;
    std::error_code error;
    std::size_t bytes = 0;
    std::chrono::steady_clock::duration delay{};

   private:
    static fault make(kind what, std::error_code error, std::size_t bytes,
                      std::chrono::steady_clock::duration delay) {
      fault f;
      f.what = what;
      f.error = error;
      f.bytes = bytes;
      f.delay = delay;
      return f;
    }
  };

  explicit fault_injecting_file_io(file_io& inner) noexcept : inner_(inner) {}

  // Applies `f` to the operation numbered `op_index`, once.
  void inject_at(std::uint64_t op_index, fault f);
  // Applies `f` to every operation `match` accepts, until clear().
  void inject_when(predicate match, fault f);
  // Removes every rule. Operations already started keep their fault.
  void clear();

  // Operations started so far.
  std::uint64_t operations() const;
  // Operations that got a fault so far.
  std::uint64_t faults_injected() const;

  asio::awaitable<io_result> read_at(int fd, std::shared_ptr<aligned_buffer> buffer,
                                     std::size_t buffer_offset, std::size_t length,
                                     std::uint64_t file_offset) override;
  asio::awaitable<io_result> write_at(int fd, std::shared_ptr<aligned_buffer> buffer,
                                      std::size_t buffer_offset, std::size_t length,
                                      std::uint64_t file_offset) override;
  asio::awaitable<io_result> fsync(int fd, bool data_only) override;
  // The inner file_io's: faults apply to the read, not to where its bytes land.
  std::shared_ptr<aligned_buffer> registered_buffer(std::size_t size) override {
    return inner_.registered_buffer(size);
  }

 private:
  struct rule {
    std::optional<std::uint64_t> op_index;  // set: fires once, for that operation
    predicate match;                        // otherwise
    fault action;
  };

  // Numbers the operation and returns the fault of the first matching rule.
  std::optional<fault> next_fault(op_kind kind, int fd, std::uint64_t file_offset,
                                  std::size_t length);

  file_io& inner_;
  // mu_ protects the fields below.
  mutable std::mutex mu_;
  std::vector<rule> rules_;
  std::uint64_t operations_ = 0;
  std::uint64_t faults_injected_ = 0;
};

}  // namespace larder::io
