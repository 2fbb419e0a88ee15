// redis_connection: hiredis's async context driven by the Asio executor.
//
// 1. The idea. hiredis parses and formats RESP and keeps the queue of reply callbacks; it does no
//    I/O waiting of its own. It asks an event library to watch its socket through five hooks
//    (addRead, delRead, addWrite, delWrite, cleanup). Our adapter maps them onto
//    posix::stream_descriptor::async_wait on the same fd, and the wait handlers call
//    redisAsyncHandleRead / redisAsyncHandleWrite. No thread of our own, no second event loop.
//
// 2. Concurrency. Everything that touches the hiredis context runs on one strand: the hooks are
//    called from inside hiredis calls we make on it, and every request coroutine is spawned onto
//    it. So the state below needs no lock; "on the strand" is its guard.
//
// 3. A request. Its coroutine queues the command with a callback whose privdata is a heap-held
//    shared_ptr to the request (hiredis calls every callback exactly once: with the reply, or
//    with NULL when the context goes away), then waits on a steady_timer set to its deadline.
//    The callback stores the outcome and cancels the timer; the timer's handler looks at `done`,
//    never at its error code, since a reply and the deadline can race on the strand.
//
// 4. The state machine: open -> broken. A deadline that passes, a read or write error, EOF, or
//    close() records the reason in broken_ and has the context freed (by hiredis itself when it
//    saw the error, by redisAsyncFree otherwise). Freeing calls every pending callback with NULL,
//    which fails it with that reason; later requests see broken_ and fail without touching the
//    socket. The cleanup hook is the last word from hiredis about the context: there we release
//    the fd (hiredis closes it) and forget the pointer. hiredis never frees the context while
//    it is inside one of its own callbacks, and we never free it ourselves except through
//    redisAsyncFree outside them.
#include "larder/cache/remote/redis_connection.hpp"

#include <cassert>
#include <exception>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <string>
#include <system_error>
#include <utility>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace larder {
namespace {

redis_reply convert(const redisReply& r) {
  redis_reply out;
  switch (r.type) {
    case REDIS_REPLY_STATUS:
      out.type = redis_reply::kind::status;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STRING:
      out.type = redis_reply::kind::string;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = redis_reply::kind::integer;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = redis_reply::kind::array;
      out.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i)
        out.elements.push_back(convert(*r.element[i]));
      break;
    default:
      out.type = redis_reply::kind::nil;
      break;
  }
  return out;
}

}  // namespace

class redis_connection::state : public std::enable_shared_from_this<state> {
 public:
  state(asio::any_io_executor executor, redis_endpoint endpoint)
      : strand_(asio::make_strand(std::move(executor))),
        socket_(strand_),
        endpoint_(std::move(endpoint)),
        name_(endpoint_.host + ":" + std::to_string(endpoint_.port)) {}

  ~state() {
    // Only reached with a live context when the executor was destroyed before a posted close()
    // ran; nothing else can be on the strand then.
    if (context_ != nullptr) redisAsyncFree(context_);
  }

  // On the strand. Opens the socket, authenticates, pings.
  asio::awaitable<void> open() {
    const auto self = shared_from_this();
    redisAsyncContext* c = redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port);
    if (c == nullptr) throw std::system_error(std::make_error_code(std::errc::not_enough_memory));
    if (c->err != 0) {
      const std::string reason = c->errstr;
      redisAsyncFree(c);
      throw std::system_error(std::make_error_code(std::errc::connection_refused),
                              "redis " + name_ + ": connect failed: " + reason);
    }
    context_ = c;
    boost::system::error_code ec;
    socket_.assign(c->c.fd, ec);
    if (ec) {
      mark_broken(std::make_error_code(std::errc::bad_file_descriptor), "cannot watch its socket");
      shut_down();
      throw broken_error();
    }
    c->data = this;
    c->ev.data = this;
    c->ev.addRead = &state::on_add_read;
    c->ev.delRead = &state::on_del_read;
    c->ev.addWrite = &state::on_add_write;
    c->ev.delWrite = &state::on_del_write;
    c->ev.cleanup = &state::on_cleanup;
    redisAsyncSetConnectCallback(c, &state::on_connect);

    // Until the first reply arrives, a failure means the connect failed. Whatever fails, the
    // context is freed here: its pending socket waits would otherwise keep this state alive.
    const auto deadline = std::chrono::steady_clock::now() + endpoint_.connect_timeout;
    std::exception_ptr failure;
    try {
      // Vectors built beforehand: GCC 12 rejects an initializer list inside a co_await.
      if (endpoint_.password) {
        std::vector<std::string> auth{"AUTH"};
        if (endpoint_.user) auth.push_back(*endpoint_.user);
        auth.push_back(*endpoint_.password);
        co_await request(std::move(auth), deadline);
      }
      std::vector<std::string> ping{"PING"};
      co_await request(std::move(ping), deadline);
    } catch (const redis_error& e) {
      // The server's words (WRONGPASS ..., ERR invalid password) never echo the password.
      mark_broken(std::make_error_code(std::errc::permission_denied), "authentication failed");
      failure = std::make_exception_ptr(
          std::system_error(std::make_error_code(std::errc::permission_denied),
                            "redis " + name_ + ": authentication failed: " + e.what()));
    } catch (const std::system_error& e) {
      failure = std::make_exception_ptr(
          e.code() == std::errc::timed_out
              ? std::system_error(e.code(), "redis " + name_ + ": connect timed out")
              : std::system_error(std::make_error_code(std::errc::connection_refused),
                                  "redis " + name_ + ": connect failed: " + broken_reason_));
    }
    if (failure) {
      shut_down();
      std::rethrow_exception(failure);
    }
  }

  // On the strand. Sends `args` and waits for the reply until `deadline`. Throws redis_error for
  // an error reply, std::system_error when the connection fails or the deadline passes.
  asio::awaitable<redis_reply> request(std::vector<std::string> args,
                                       std::chrono::steady_clock::time_point deadline) {
    std::vector<std::vector<std::string>> commands;
    commands.push_back(std::move(args));
    co_return co_await request_sequence(std::move(commands), deadline);
  }

  // On the strand. Queues every command before suspending, so nothing else comes between them on
  // the socket, and waits for the last reply (the server answers in order: the earlier ones are
  // in by then). Returns the last reply; an error reply to any command throws redis_error.
  asio::awaitable<redis_reply> request_sequence(std::vector<std::vector<std::string>> commands,
                                                std::chrono::steady_clock::time_point deadline) {
    assert(!commands.empty());
    // The handle may be destroyed while this waits; the frame must keep the state.
    const auto self = shared_from_this();
    if (broken_ || context_ == nullptr) throw broken_error();
    std::vector<std::shared_ptr<pending_request>> pendings;
    pendings.reserve(commands.size());
    for (const std::vector<std::string>& args : commands) {
      std::vector<const char*> argv;
      std::vector<std::size_t> lengths;
      argv.reserve(args.size());
      lengths.reserve(args.size());
      for (const std::string& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
      }
      auto pending = std::make_shared<pending_request>(strand_, deadline);
      auto* privdata = new std::shared_ptr<pending_request>(pending);
      if (redisAsyncCommandArgv(context_, &state::on_reply, privdata, static_cast<int>(argv.size()),
                                argv.data(), lengths.data()) != REDIS_OK) {
        delete privdata;
        // Commands already queued would go out alone: break the connection so they fail too.
        mark_broken(std::make_error_code(std::errc::io_error), "cannot queue a command");
        shut_down();
        throw broken_error();
      }
      pendings.push_back(std::move(pending));
    }
    pending_request& last = *pendings.back();
    boost::system::error_code ignored;
    co_await last.timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    if (!last.done) {
      mark_broken(std::make_error_code(std::errc::timed_out), "a request timed out");
      shut_down();
      throw std::system_error(std::make_error_code(std::errc::timed_out),
                              "redis " + name_ + ": request timed out");
    }
    for (const auto& pending : pendings) {
      assert(pending->done);
      if (pending->failure) std::rethrow_exception(pending->failure);
    }
    co_return std::move(last.reply);
  }

  // On the strand.
  void close() {
    mark_broken(std::make_error_code(std::errc::operation_canceled), "connection closed");
    shut_down();
  }

  asio::strand<asio::any_io_executor>& strand() { return strand_; }
  std::chrono::milliseconds request_timeout() const { return endpoint_.request_timeout; }

 private:
  struct pending_request {
    pending_request(asio::strand<asio::any_io_executor>& strand,
                    std::chrono::steady_clock::time_point deadline)
        : timer(strand, deadline) {}
    asio::steady_timer timer;
    bool done = false;
    redis_reply reply;
    std::exception_ptr failure;
  };

  std::system_error broken_error() const {
    return std::system_error(broken_, "redis " + name_ + ": connection broken: " + broken_reason_);
  }

  // The first reason wins: the timeout that broke the connection, not the freeing it caused.
  void mark_broken(std::error_code code, std::string reason) {
    if (broken_) return;
    broken_ = code;
    broken_reason_ = std::move(reason);
  }

  // The cleanup hook, if installed, forgets the context too; freeing before the hooks are set
  // must not leave the pointer dangling.
  void shut_down() {
    if (context_ != nullptr) redisAsyncFree(std::exchange(context_, nullptr));
  }

  void start_read() {
    if (!reading_ || read_waiting_ || context_ == nullptr) return;
    read_waiting_ = true;
    socket_.async_wait(asio::posix::descriptor_base::wait_read,
                       [self = shared_from_this()](boost::system::error_code ec) {
                         self->read_waiting_ = false;
                         if (ec || self->context_ == nullptr || !self->reading_) return;
                         redisAsyncHandleRead(self->context_);
                         self->start_read();
                       });
  }

  void start_write() {
    if (!writing_ || write_waiting_ || context_ == nullptr) return;
    write_waiting_ = true;
    socket_.async_wait(asio::posix::descriptor_base::wait_write,
                       [self = shared_from_this()](boost::system::error_code ec) {
                         self->write_waiting_ = false;
                         if (ec || self->context_ == nullptr || !self->writing_) return;
                         redisAsyncHandleWrite(self->context_);
                         self->start_write();
                       });
  }

  static state& of(void* privdata) { return *static_cast<state*>(privdata); }

  static void on_add_read(void* p) {
    of(p).reading_ = true;
    of(p).start_read();
  }
  static void on_del_read(void* p) { of(p).reading_ = false; }
  static void on_add_write(void* p) {
    of(p).writing_ = true;
    of(p).start_write();
  }
  static void on_del_write(void* p) { of(p).writing_ = false; }

  // hiredis is about to free the context and close its fd.
  static void on_cleanup(void* p) {
    state& s = of(p);
    s.mark_broken(std::make_error_code(std::errc::connection_reset), "disconnected");
    s.reading_ = false;
    s.writing_ = false;
    s.context_ = nullptr;
    // release(), not close(): the fd is hiredis's to close. It also cancels our waits.
    if (s.socket_.is_open()) s.socket_.release();
  }

  static void on_connect(const redisAsyncContext* c, int status) {
    if (status != REDIS_OK) {
      of(c->data).mark_broken(std::make_error_code(std::errc::connection_refused), c->errstr);
    }
  }

  static void on_reply(redisAsyncContext* c, void* r, void* privdata) {
    std::unique_ptr<std::shared_ptr<pending_request>> holder(
        static_cast<std::shared_ptr<pending_request>*>(privdata));
    pending_request& pending = **holder;
    state& s = of(c->data);
    const auto* reply = static_cast<const redisReply*>(r);
    if (reply == nullptr) {
      // The context is going away: an I/O error or EOF hiredis saw (c->err says which), or our
      // own redisAsyncFree after mark_broken.
      if (c->err != 0) {
        s.mark_broken(std::make_error_code(std::errc::connection_reset), c->errstr);
      }
      s.mark_broken(std::make_error_code(std::errc::connection_reset), "disconnected");
      pending.failure = std::make_exception_ptr(s.broken_error());
    } else if (reply->type == REDIS_REPLY_ERROR) {
      pending.failure = std::make_exception_ptr(redis_error(std::string(reply->str, reply->len)));
    } else {
      pending.reply = convert(*reply);
    }
    pending.done = true;
    pending.timer.cancel();
  }

  asio::strand<asio::any_io_executor> strand_;
  asio::posix::stream_descriptor socket_;
  redis_endpoint endpoint_;
  const std::string name_;  // host:port, for messages

  // Guarded by the strand (see 2).
  redisAsyncContext* context_ = nullptr;  // null once hiredis has cleaned it up
  bool reading_ = false;                  // hiredis wants read readiness
  bool writing_ = false;                  // hiredis wants write readiness
  bool read_waiting_ = false;             // an async_wait(wait_read) is outstanding
  bool write_waiting_ = false;
  std::error_code broken_;
  std::string broken_reason_;
};

asio::awaitable<std::unique_ptr<redis_connection>> redis_connection::connect(
    asio::any_io_executor executor, redis_endpoint endpoint) {
  auto s = std::make_shared<state>(std::move(executor), std::move(endpoint));
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
  const auto deadline = std::chrono::steady_clock::now() + state_->request_timeout();
  // An empty cancellation slot: Boost 1.81's co_spawn cancellation handler races with its own
  // destruction (ThreadSanitizer shows it when a runtime stops). A request ends by its reply or
  // its deadline, so not forwarding the caller's cancellation never leaves it hanging.
  co_return co_await asio::co_spawn(
      state_->strand(), state_->request(std::move(args), deadline),
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
}

asio::awaitable<redis_reply> redis_connection::command_sequence(
    std::vector<std::vector<std::string>> commands) {
  const auto deadline = std::chrono::steady_clock::now() + state_->request_timeout();
  // As in command(): no cancellation forwarding.
  co_return co_await asio::co_spawn(
      state_->strand(), state_->request_sequence(std::move(commands), deadline),
      asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
}

asio::awaitable<std::optional<blob>> redis_connection::get(std::string_view key) {
  std::vector<std::string> args{"GET", std::string(key)};
  redis_reply reply = co_await command(std::move(args));
  if (reply.type == redis_reply::kind::nil) co_return std::nullopt;
  co_return blob::copy_of(std::string_view(reply.text));
}

asio::awaitable<void> redis_connection::set(std::string_view key, std::span<const std::byte> value,
                                            std::chrono::milliseconds ttl) {
  std::vector<std::string> args{
      "SET", std::string(key),
      std::string(reinterpret_cast<const char*>(value.data()), value.size())};
  if (ttl.count() > 0) {
    args.emplace_back("PX");
    args.push_back(std::to_string(ttl.count()));
  }
  co_await command(std::move(args));
}

asio::awaitable<bool> redis_connection::del(std::string_view key) {
  std::vector<std::string> args{"DEL", std::string(key)};
  const redis_reply reply = co_await command(std::move(args));
  co_return reply.integer > 0;
}

}  // namespace larder
