#include "larder/runtime/runtime.hpp"

#include <boost/asio/post.hpp>

#include "larder/runtime/log.hpp"

namespace larder {

namespace {

unsigned worker_count(const runtime_options& options) {
  const unsigned count =
      options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
  return count == 0 ? 1 : count;
}

// Telling Asio that one thread runs the context lets a handler posted from that thread go to the
// thread's private queue: no lock, and no interrupt of the reactor (an epoll_ctl call) for each
// post. Threads outside the runtime may still post; those posts take the lock as usual.
int concurrency_hint(unsigned workers) {
  return workers == 1 ? 1 : BOOST_ASIO_CONCURRENCY_HINT_DEFAULT;
}

}  // namespace

runtime::runtime(runtime_options options)
    : context_(concurrency_hint(worker_count(options))),
      work_(asio::make_work_guard(context_)),
      stop_grace_(options.stop_grace) {
  const unsigned count = worker_count(options);
  running_workers_ = count;
  threads_.reserve(count);
  for (unsigned i = 0; i < count; ++i)
    threads_.emplace_back([this] { worker_main(); });
}

runtime::~runtime() {
  stop();
}

void runtime::worker_main() {
  // Handlers in larder do not throw; an exception here comes from user code posted directly to
  // the context. Log it and keep serving the other tasks.
  while (true) {
    try {
      context_.run();
      break;
    } catch (const std::exception& e) {
      log().error("runtime: a handler threw, continuing: {}", e.what());
    } catch (...) {
      log().error("runtime: a handler threw a non-standard exception, continuing");
    }
  }
  std::lock_guard lock(mu_);
  --running_workers_;
  changed_.notify_all();
}

bool runtime::on_worker_thread() const noexcept {
  for (const auto& t : threads_) {
    if (t.get_id() == std::this_thread::get_id()) return true;
  }
  return false;
}

runtime::task_list::iterator runtime::register_task(bool waited_on) {
  std::lock_guard lock(mu_);
  if (stopping_) throw std::logic_error("larder::runtime: cannot start a task after stop()");
  tasks_.push_front(std::make_shared<task_slot>(context_.get_executor()));
  tasks_.front()->waited_on = waited_on;
  if (waited_on) ++waiting_runs_;
  return tasks_.begin();
}

void runtime::arm_task(const std::shared_ptr<task_slot>& task) {
  std::lock_guard lock(mu_);
  task->armed = true;
  if (stopping_) {
    asio::post(task->strand, [task] { task->signal.emit(asio::cancellation_type::terminal); });
  }
}

void runtime::finish_task(task_list::iterator it) {
  std::lock_guard lock(mu_);
  if ((*it)->waited_on) --waiting_runs_;
  tasks_.erase(it);
  changed_.notify_all();
}

void runtime::spawn(asio::awaitable<void> task) {
  auto it = register_task(false);
  const std::shared_ptr<task_slot> slot = *it;
  asio::co_spawn(
      slot->strand, std::move(task),
      asio::bind_cancellation_slot(slot->signal.slot(), [this, it](std::exception_ptr error) {
        finish_task(it);
        if (!error) return;
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          log().error("background task failed: {}", e.what());
        } catch (...) {
          log().error("background task failed");
        }
      }));
  arm_task(slot);
}

void runtime::stop() {
  if (on_worker_thread()) {
    throw std::logic_error("larder::runtime::stop called from one of its own worker threads");
  }
  std::unique_lock lock(mu_);
  if (stopping_) {
    changed_.wait(lock, [this] { return stopped_; });
    return;
  }
  stopping_ = true;
  // A signal may only be emitted where its task runs: on the task's strand. Tasks still being
  // spawned are cancelled by arm_task().
  for (const auto& task : tasks_) {
    if (!task->armed) continue;
    asio::post(task->strand, [task] { task->signal.emit(asio::cancellation_type::terminal); });
  }
  work_.reset();
  if (!changed_.wait_for(lock, stop_grace_, [this] { return running_workers_ == 0; })) {
    log().warn("runtime: {} task(s) still running {} ms after cancellation; abandoning them",
               tasks_.size(), stop_grace_.count());
    context_.stop();
  }
  lock.unlock();
  for (auto& t : threads_)
    t.join();
  lock.lock();
  // No thread runs the context any more: wake every run() whose task will never finish, and wait
  // for them to leave before the members they use can go away.
  for (const auto& task : tasks_) {
    if (task->on_abandon) task->on_abandon();
  }
  changed_.wait(lock, [this] { return waiting_runs_ == 0; });
  stopped_ = true;
  changed_.notify_all();
}

}  // namespace larder
