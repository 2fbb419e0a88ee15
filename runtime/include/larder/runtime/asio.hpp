// The one place that names the Asio flavour larder builds on (Boost.Asio 1.81, Debian 12), so the
// rest of the code writes `asio::` and embedding applications see which Asio our types come from.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace larder {
namespace asio = boost::asio;
}  // namespace larder
