// posted_completion: turns an Asio completion handler into a copyable callable that, when invoked
// with the completion's arguments, posts the handler to the handler's own executor.
//
// Two reasons. A completion delivered from another coroutine's code must never run inline there:
// a chain of inline completions grows the stack (DESIGN.md). And the handler's concrete type is
// only known at initiation; this keeps it, so the post can demand blocking.never from the real
// executor rather than from a type-erased one that cannot promise it. While the callable exists it
// counts as outstanding work on that executor, so an io_context does not run out of work while a
// waiter is parked.
//
// REQUIRES: the callable is invoked at most once.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <larder/runtime/asio.hpp>

namespace larder::detail {

template <typename... Args, typename Handler>
std::function<void(Args...)> posted_completion(Handler handler) {
  auto work = asio::prefer(asio::get_associated_executor(handler),
                           asio::execution::outstanding_work.tracked);
  auto shared = std::make_shared<Handler>(std::move(handler));
  return [shared, work](Args... args) {
    asio::post(work, [shared, ... args = std::move(args)]() mutable {
      std::move (*shared)(std::move(args)...);
    });
  };
}

}  // namespace larder::detail
