// io_result: the outcome of one asynchronous file operation (larder::io::ring, file_io).
//
// Data I/O reports failure here instead of throwing, so that the disk tier can count an error and
// degrade to memory only without unwinding a training loop. `bytes` is what the kernel reports:
// a read may return fewer bytes than asked (end of file) and is not retried. A cancelled
// operation reports std::errc::operation_canceled (ECANCELED, Asio's operation_aborted).
//
// A plain value: copy it freely, share it between threads like any other value.
#pragma once

#include <cstddef>
#include <system_error>

namespace larder::io {

struct io_result {
  std::size_t bytes = 0;
  std::error_code error;

  bool ok() const noexcept { return !error; }
};

}  // namespace larder::io
