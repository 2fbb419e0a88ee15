// redis_connection: RESP over an Asio socket (TCP, or TLS over TCP), with hiredis's reply parser.
//
// 1. The idea. hiredis does the protocol only: redisReader parses the replies, with reply-object
//    functions of ours that build redis_reply directly (no hiredis reply to convert and free).
//    Commands are formatted as RESP here, straight from the caller's arguments into the bytes
//    that go on the wire. The socket I/O is Asio's: asio::ip::tcp::socket, or
//    asio::ssl::stream over it when endpoint.tls is set.
//
// 2. Concurrency. Everything that touches the state below runs on one strand: the socket's and
//    the timers' handlers (their I/O objects live on it), and every request, which is posted to it
//    once formatted. "On the strand" is the guard of every member after `name_`.
//
// 3. A request. Its initiation (on the caller's thread, when first awaited) formats the command
//    and computes its deadline, then posts it to the strand, where it joins the queue of bytes to
//    write and the FIFO of pending requests with its completion handler. The handler is completed
//    by a post to its own associated executor, never inline, so the caller's code never runs on
//    the strand. No co_spawn, timer or shared_ptr per request.
//
// 4. Writing. One write at a time: it takes everything queued since the last one (small
//    commands coalesced into one buffer, large ones as buffers of their own) in one async_write,
//    so concurrent requests batch themselves. When it finishes, whatever queued meanwhile goes.
//
// 5. Reading. One read at a time into a large buffer, fed to the redisReader in slices (see
//    feed_slice below); each complete reply goes to the request at the head of the FIFO (the
//    server answers in order). A command_sequence is one entry expecting several replies.
//
// 6. Deadlines. Every request has the same timeout, so deadlines grow along the FIFO and one timer
//    for the head's deadline serves them all. A request arms it when it is not armed, or armed
//    for later (the connect's own deadline, longer than request_timeout); when it fires it either
//    times the head out or re-arms for the new head's deadline. So a steady stream of requests
//    costs one timer wait per request_timeout, not one per request.
//
// 7. The state machine: connecting -> open -> broken. A deadline that passes, a read or write
//    error, EOF, a protocol error or close() records the reason in broken_ (the first reason
//    wins), closes the socket (which ends the read and the write in flight) and fails every
//    pending request with it; later requests fail at once. In-flight handlers hold a shared_ptr to
//    the state, so it lives until the last of them has run.
#include "larder/cache/remote/redis_connection.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <deque>
#include <exception>
#include <hiredis/read.h>
#include <new>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "tls_context.hpp"

namespace larder {
namespace {

using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

// ---- RESP out -----------------------------------------------------------------------------------

void append_argument(std::string& out, std::string_view argument) {
  out += '$';
  out += std::to_string(argument.size());
  out += "\r\n";
  out += argument;
  out += "\r\n";
}

template <typename Range>
void append_command(std::string& out, const Range& arguments) {
  out += '*';
  out += std::to_string(std::size(arguments));
  out += "\r\n";
  for (const auto& a : arguments)
    append_argument(out, std::string_view(a));
}

// ---- RESP in: reply objects built by the redisReader
// ----------------------------------------------

// The root of a parsed reply; nested elements live in value.elements (sized once by
// create_array, so pointers to them stay valid while the reader fills them in).
struct parsed_reply {
  redis_reply value;
  bool error = false;  // an error reply; value.text is the server's message
};

// Places `value` where `task` says: a new root, or its slot in the parent array. Returns the
// object hiredis keeps for the task (null tells it we are out of memory).
void* place(const redisReadTask* task, redis_reply value, bool error) noexcept {
  try {
    if (task->parent == nullptr) return new parsed_reply{std::move(value), error};
    redis_reply& parent = task->parent->parent == nullptr
                              ? static_cast<parsed_reply*>(task->parent->obj)->value
                              : *static_cast<redis_reply*>(task->parent->obj);
    redis_reply& slot = parent.elements[static_cast<std::size_t>(task->idx)];
    slot = std::move(value);
    return &slot;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void* create_string(const redisReadTask* task, char* str, std::size_t len) noexcept {
  try {
    redis_reply r;
    if (task->type == REDIS_REPLY_ERROR && task->parent != nullptr) {
      // An error inside an array (EXEC's, say) has no redis_reply kind: nil, as it always was.
      return place(task, std::move(r), false);
    }
    r.type =
        task->type == REDIS_REPLY_STRING ? redis_reply::kind::string : redis_reply::kind::status;
    r.text.assign(str, len);
    return place(task, std::move(r), task->type == REDIS_REPLY_ERROR);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void* create_array(const redisReadTask* task, int elements) noexcept {
  try {
    redis_reply r;
    r.type = redis_reply::kind::array;
    r.elements.resize(static_cast<std::size_t>(std::max(elements, 0)));
    return place(task, std::move(r), false);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void* create_integer(const redisReadTask* task, long long value) noexcept {
  redis_reply r;
  r.type = redis_reply::kind::integer;
  r.integer = value;
  return place(task, std::move(r), false);
}

void* create_nil(const redisReadTask* task) noexcept {
  return place(task, redis_reply{}, false);
}

// hiredis frees only roots (a reply it gives up on, or one left in a reader being freed).
void free_object(void* root) noexcept {
  delete static_cast<parsed_reply*>(root);
}

redisReplyObjectFunctions reply_functions = {create_string, create_array, create_integer,
                                             create_nil, free_object};

struct reader_deleter {
  void operator()(redisReader* r) const noexcept { redisReaderFree(r); }
};

}  // namespace

// The completion of a request: its last reply, or why it failed.
using request_signature = void(std::exception_ptr, redis_reply);

class redis_connection::state : public std::enable_shared_from_this<state> {
 public:
  state(asio::any_io_executor executor, redis_endpoint endpoint)
      : strand_(asio::make_strand(std::move(executor))),
        endpoint_(std::move(endpoint)),
        name_(endpoint_.host + ":" + std::to_string(endpoint_.port)),
        socket_(strand_),
        resolver_(strand_),
        connect_timer_(strand_),
        deadline_timer_(strand_),
        reader_(redisReaderCreateWithFunctions(&reply_functions)),
        read_buffer_(new char[read_buffer_size]) {
    if (reader_ == nullptr) throw std::bad_alloc();
  }

  // Any thread. Sends `command` (RESP, `replies` commands back to back) and completes the token
  // with the last reply, or with the first error reply (redis_error) once all have arrived, or
  // with std::system_error when the connection breaks or `deadline` passes first.
  template <typename CompletionToken>
  auto async_request(std::string command, std::size_t replies, clock_type::time_point deadline,
                     CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, request_signature>(
        [self = shared_from_this()](auto handler, std::string command, std::size_t replies,
                                    clock_type::time_point deadline) {
          asio::post(self->strand_, [self, handler = std::move(handler),
                                     command = std::move(command), replies, deadline]() mutable {
            // The executor is kept as an any_io_executor, before the handler's type is erased:
            // completions are posted to it with blocking.never, which the erased one lacks.
            asio::any_io_executor executor =
                asio::prefer(asio::get_associated_executor(handler, self->strand_),
                             asio::execution::outstanding_work.tracked);
            self->enqueue(pending_request{std::move(handler), std::move(executor), replies,
                                          deadline, nullptr},
                          std::move(command));
          });
        },
        token, std::move(command), replies, deadline);
  }

  // On the strand. Opens the socket (and TLS), authenticates, pings; throws as the header says.
  asio::awaitable<void> open() {
    const auto self = shared_from_this();
    const auto deadline = clock_type::now() + endpoint_.connect_timeout;
    connect_timer_.expires_at(deadline);
    connect_timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec && !self->opened_) self->break_connection(std::errc::timed_out, "connect timed out");
    });
    std::string stage = "connect failed";
    try {
      boost::system::error_code ec;
      const tcp::resolver::results_type addresses =
          co_await resolver_.async_resolve(endpoint_.host, std::to_string(endpoint_.port),
                                           asio::redirect_error(asio::use_awaitable, ec));
      if (!ec && !broken_) {
        co_await asio::async_connect(socket_, addresses,
                                     asio::redirect_error(asio::use_awaitable, ec));
      }
      if (!ec && !broken_) {
        socket_.set_option(tcp::no_delay(true), ec);
        if (endpoint_.tls) {
          stage = "TLS handshake failed";
          tls_context_.emplace(make_tls_context(*endpoint_.tls, name_));
          tls_.emplace(socket_, *tls_context_);
          prepare_tls_stream(*tls_, *endpoint_.tls, endpoint_.host);
          co_await tls_->async_handshake(asio::ssl::stream_base::client,
                                         asio::redirect_error(asio::use_awaitable, ec));
          if (ec && !broken_) {
            break_connection(std::errc::connection_refused, describe_handshake_failure(*tls_, ec));
          }
        }
      }
      if (ec && !broken_) break_connection(std::errc::connection_refused, ec.message());
      if (broken_) throw broken_error();
      stage = "connect failed";
      start_read();
      // Vectors built beforehand: GCC 12 rejects an initializer list inside a co_await.
      if (endpoint_.password) {
        std::vector<std::string_view> auth{"AUTH"};
        if (endpoint_.user) auth.push_back(*endpoint_.user);
        auth.push_back(*endpoint_.password);
        std::string command;
        append_command(command, auth);
        co_await async_request(std::move(command), 1, deadline, asio::use_awaitable);
      }
      const std::array<std::string_view, 1> ping_args{"PING"};
      std::string ping;
      append_command(ping, ping_args);
      co_await async_request(std::move(ping), 1, deadline, asio::use_awaitable);
    } catch (const redis_error& e) {
      // The server's words (WRONGPASS ..., ERR invalid password) never echo the password.
      break_connection(std::errc::permission_denied, "authentication failed");
      throw std::system_error(std::make_error_code(std::errc::permission_denied),
                              "redis " + name_ + ": authentication failed: " + e.what());
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::invalid_argument) {
        break_connection(std::errc::invalid_argument, "TLS set-up failed");
        throw;
      }
      if (broken_ == std::errc::timed_out) {
        throw std::system_error(broken_, "redis " + name_ + ": connect timed out");
      }
      std::string reason = broken_reason_;
      if (tls_ && endpoint_.tls->cert_file.empty() && broken_ == std::errc::connection_reset) {
        // With TLS 1.3 the server checks our certificate after our side of the handshake is
        // done: its refusal is a dropped connection (an alert we may or may not get to read).
        reason +=
            " (dropped after the TLS handshake: does the server want a client certificate? see "
            "redis_tls::cert_file)";
      }
      break_connection(std::errc::connection_refused, stage);
      throw std::system_error(std::make_error_code(std::errc::connection_refused),
                              "redis " + name_ + ": " + stage + ": " + reason);
    } catch (...) {
      // Out of memory, say: the socket must not stay open with a read holding this state.
      break_connection(std::errc::connection_refused, stage);
      throw;
    }
    opened_ = true;
    connect_timer_.cancel();
  }

  // On the strand.
  void close() { break_connection(std::errc::operation_canceled, "connection closed"); }

  asio::strand<asio::any_io_executor>& strand() { return strand_; }
  std::chrono::milliseconds request_timeout() const { return endpoint_.request_timeout; }

 private:
  struct pending_request {
    asio::any_completion_handler<request_signature> handler;
    asio::any_io_executor executor;  // the handler's, tracking work until it completes
    std::size_t replies_left;
    clock_type::time_point deadline;
    std::exception_ptr failure;  // the first error reply
  };

  // 128 KiB: a read takes whatever the socket holds, up to two 64 KiB values, in one call.
  static constexpr std::size_t read_buffer_size = 128 * 1024;
  // 4 KiB: hiredis 0.14 moves its unparsed bytes to the front of its buffer after every reply
  // once it has consumed 1 KiB, so feeding a whole read at once would copy it over and over.
  // Slices bound each move to a few KiB at a small cost per slice.
  static constexpr std::size_t feed_slice = 4 * 1024;
  // Commands up to 16 KiB join the previous one in a buffer of up to 64 KiB (one iovec, and one
  // TLS write); larger ones are written from their own buffer rather than copied again.
  static constexpr std::size_t coalesce_up_to = 16 * 1024;
  static constexpr std::size_t coalesced_buffer_limit = 64 * 1024;

  std::system_error broken_error() const {
    return std::system_error(broken_, "redis " + name_ + ": connection broken: " + broken_reason_);
  }

  // Completes `request` on its own executor (never inline: we are on the strand).
  static void complete(pending_request request, std::exception_ptr failure, redis_reply reply) {
    const asio::any_io_executor executor = std::move(request.executor);
    asio::post(executor, [handler = std::move(request.handler), failure = std::move(failure),
                          reply = std::move(reply)]() mutable {
      std::move(handler)(std::move(failure), std::move(reply));
    });
  }

  void enqueue(pending_request request, std::string command) {
    if (broken_) {
      complete(std::move(request), std::make_exception_ptr(broken_error()), {});
      return;
    }
    const clock_type::time_point deadline = request.deadline;
    pending_.push_back(std::move(request));
    if (command.size() <= coalesce_up_to && !queued_.empty() &&
        queued_.back().size() + command.size() <= coalesced_buffer_limit) {
      queued_.back() += command;
    } else {
      queued_.push_back(std::move(command));
    }
    arm_deadline(deadline);
    if (!writing_) start_write();
  }

  template <typename Function>
  void with_stream(Function&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(socket_);
    }
  }

  void start_write() {
    assert(!writing_ && being_written_.empty());
    writing_ = true;
    std::swap(queued_, being_written_);
    write_buffers_.clear();
    for (const std::string& b : being_written_)
      write_buffers_.push_back(asio::buffer(b));
    with_stream([&](auto& stream) {
      asio::async_write(stream, write_buffers_,
                        [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                          self->on_written(ec);
                        });
    });
  }

  void on_written(boost::system::error_code ec) {
    writing_ = false;
    being_written_.clear();
    if (broken_) return;
    if (ec) {
      break_connection(std::errc::connection_reset, "write failed: " + ec.message());
      return;
    }
    if (!queued_.empty()) start_write();
  }

  void start_read() {
    with_stream([&](auto& stream) {
      stream.async_read_some(asio::buffer(read_buffer_.get(), read_buffer_size),
                             [self = shared_from_this()](boost::system::error_code ec,
                                                         std::size_t n) { self->on_read(ec, n); });
    });
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    if (broken_) return;
    if (ec) {
      break_connection(std::errc::connection_reset,
                       ec == asio::error::eof ? "the server closed the connection" : ec.message());
      return;
    }
    for (std::size_t offset = 0; offset < n; offset += feed_slice) {
      const std::size_t length = std::min(feed_slice, n - offset);
      if (redisReaderFeed(reader_.get(), read_buffer_.get() + offset, length) != REDIS_OK) {
        break_connection(std::errc::not_enough_memory, "cannot buffer a reply");
        return;
      }
      if (!deliver_replies()) return;
    }
    start_read();
  }

  // Hands every complete reply in the reader to its request; false once the connection broke.
  bool deliver_replies() {
    for (;;) {
      void* object = nullptr;
      if (redisReaderGetReply(reader_.get(), &object) != REDIS_OK) {
        break_connection(std::errc::connection_reset,
                         std::string("protocol error: ") + reader_->errstr);
        return false;
      }
      if (object == nullptr) return true;
      std::unique_ptr<parsed_reply> reply(static_cast<parsed_reply*>(object));
      if (pending_.empty()) {
        break_connection(std::errc::connection_reset, "a reply nobody asked for");
        return false;
      }
      pending_request& head = pending_.front();
      if (reply->error && !head.failure) {
        head.failure = std::make_exception_ptr(redis_error(reply->value.text));
      }
      if (--head.replies_left == 0) {
        pending_request done = std::move(head);
        pending_.pop_front();
        std::exception_ptr failure = std::move(done.failure);
        complete(std::move(done), std::move(failure), std::move(reply->value));
      }
    }
  }

  // Makes the timer fire by `deadline`: arms it, or brings it forward (an earlier wait, for a
  // connect's longer deadline say, is cancelled by the new expiry).
  void arm_deadline(clock_type::time_point deadline) {
    if (broken_ || (deadline_armed_ && armed_for_ <= deadline)) return;
    deadline_armed_ = true;
    armed_for_ = deadline;
    deadline_timer_.expires_at(deadline);
    deadline_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec == asio::error::operation_aborted) return;
      self->deadline_armed_ = false;
      self->on_deadline();
    });
  }

  // A wait is only aborted by a new expiry (which waits again) or by break_connection (after which
  // nothing is left to time out).
  void on_deadline() {
    if (broken_ || pending_.empty()) return;
    if (pending_.front().deadline > clock_type::now()) {
      arm_deadline(pending_.front().deadline);
      return;
    }
    pending_request late = std::move(pending_.front());
    pending_.pop_front();
    break_connection(std::errc::timed_out, "a request timed out");
    complete(std::move(late),
             std::make_exception_ptr(std::system_error(std::make_error_code(std::errc::timed_out),
                                                       "redis " + name_ + ": request timed out")),
             {});
  }

  // The first reason wins: the timeout that broke the connection, not the close it caused.
  void break_connection(std::errc code, std::string reason) {
    if (broken_) return;
    broken_ = std::make_error_code(code);
    broken_reason_ = std::move(reason);
    boost::system::error_code ignored;
    resolver_.cancel();
    socket_.close(ignored);
    connect_timer_.cancel();
    deadline_timer_.cancel();
    queued_.clear();
    while (!pending_.empty()) {
      pending_request failed = std::move(pending_.front());
      pending_.pop_front();
      complete(std::move(failed), std::make_exception_ptr(broken_error()), {});
    }
  }

  asio::strand<asio::any_io_executor> strand_;
  const redis_endpoint endpoint_;
  const std::string name_;  // host:port, for messages

  // Guarded by the strand (see 2).
  tcp::socket socket_;
  tcp::resolver resolver_;
  std::optional<asio::ssl::context> tls_context_;  // before tls_, which refers to it
  std::optional<tls_stream> tls_;                  // set: all I/O goes through it
  asio::steady_timer connect_timer_;
  asio::steady_timer deadline_timer_;
  bool deadline_armed_ = false;
  clock_type::time_point armed_for_;  // the timer's expiry while deadline_armed_
  bool opened_ = false;
  std::unique_ptr<redisReader, reader_deleter> reader_;
  std::unique_ptr<char[]> read_buffer_;
  std::deque<pending_request> pending_;  // written or queued, awaiting replies, in order
  std::vector<std::string> queued_;      // commands not yet handed to a write
  std::vector<std::string> being_written_;
  std::vector<asio::const_buffer> write_buffers_;  // views of being_written_
  bool writing_ = false;
  std::error_code broken_;
  std::string broken_reason_;
};

asio::awaitable<std::unique_ptr<redis_connection>> redis_connection::connect(
    asio::any_io_executor executor, redis_endpoint endpoint) {
  auto s = std::make_shared<state>(std::move(executor), std::move(endpoint));
  // An empty cancellation slot: Boost 1.81's co_spawn cancellation handler races with its own
  // destruction (ThreadSanitizer shows it when a runtime stops). The connect ends by itself, by
  // success or connect_timeout.
  co_await asio::co_spawn(
      s->strand(), s->open(),
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
  co_return std::unique_ptr<redis_connection>(new redis_connection(std::move(s)));
}

redis_connection::redis_connection(std::shared_ptr<state> state) : state_(std::move(state)) {}

redis_connection::~redis_connection() {
  close();
}

void redis_connection::close() {
  asio::post(state_->strand(), [s = state_] { s->close(); });
}

asio::awaitable<redis_reply> redis_connection::command(std::vector<std::string> args) {
  std::string bytes;
  append_command(bytes, args);
  const auto deadline = clock_type::now() + state_->request_timeout();
  co_return co_await state_->async_request(std::move(bytes), 1, deadline, asio::use_awaitable);
}

asio::awaitable<redis_reply> redis_connection::command_sequence(
    std::vector<std::vector<std::string>> commands) {
  assert(!commands.empty());
  std::string bytes;
  for (const std::vector<std::string>& args : commands)
    append_command(bytes, args);
  const auto deadline = clock_type::now() + state_->request_timeout();
  co_return co_await state_->async_request(std::move(bytes), commands.size(), deadline,
                                           asio::use_awaitable);
}

asio::awaitable<std::optional<blob>> redis_connection::get(std::string_view key) {
  std::string bytes;
  const std::array<std::string_view, 2> args{"GET", key};
  append_command(bytes, args);
  const auto deadline = clock_type::now() + state_->request_timeout();
  redis_reply reply =
      co_await state_->async_request(std::move(bytes), 1, deadline, asio::use_awaitable);
  if (reply.type == redis_reply::kind::nil) co_return std::nullopt;
  co_return blob::copy_of(std::string_view(reply.text));
}

asio::awaitable<void> redis_connection::set(std::string_view key, std::span<const std::byte> value,
                                            std::chrono::milliseconds ttl) {
  const std::string_view bytes_of_value(reinterpret_cast<const char*>(value.data()), value.size());
  const std::string ttl_text = std::to_string(ttl.count());
  std::string bytes;
  // One allocation: the value is copied once, into the bytes that go on the wire.
  bytes.reserve(value.size() + key.size() + 64);
  if (ttl.count() > 0) {
    const std::array<std::string_view, 5> args{"SET", key, bytes_of_value, "PX", ttl_text};
    append_command(bytes, args);
  } else {
    const std::array<std::string_view, 3> args{"SET", key, bytes_of_value};
    append_command(bytes, args);
  }
  const auto deadline = clock_type::now() + state_->request_timeout();
  co_await state_->async_request(std::move(bytes), 1, deadline, asio::use_awaitable);
}

asio::awaitable<bool> redis_connection::del(std::string_view key) {
  std::string bytes;
  const std::array<std::string_view, 2> args{"DEL", key};
  append_command(bytes, args);
  const auto deadline = clock_type::now() + state_->request_timeout();
  const redis_reply reply =
      co_await state_->async_request(std::move(bytes), 1, deadline, asio::use_awaitable);
  co_return reply.integer > 0;
}

}  // namespace larder
