#include "larder/runtime/runtime.hpp"

#include <exception>
#include <stdexcept>

#include <boost/asio/post.hpp>

#include "larder/runtime/log.hpp"

namespace larder {

runtime::runtime(runtime_options options)
    : work_(asio::make_work_guard(context_)), stop_grace_(options.stop_grace) {
  unsigned count = options.threads != 0 ? options.threads : std::thread::hardware_concurrency();
  if (count == 0) count = 1;
  running_workers_ = count;
  threads_.reserve(count);
  for (unsigned i = 0; i < count; ++i) threads_.emplace_back([this] { worker_main(); });
}

runtime::~runtime() { stop(); }

void runtime::worker_main() {
  try {
    context_.run();
  } catch (const std::exception& e) {
    // Handlers do not throw in larder; an exception here comes from user code posted directly
    // to the context. Log it rather than terminate the process.
    log().error("runtime worker stopped by an exception: {}", e.what());
  }
  std::lock_guard lock(mu_);
  --running_workers_;
  workers_done_.notify_all();
}

bool runtime::on_worker_thread() const noexcept {
  for (const auto& t : threads_) {
    if (t.get_id() == std::this_thread::get_id()) return true;
  }
  return false;
}

runtime::task_list::iterator runtime::register_task() {
  std::lock_guard lock(mu_);
  if (stopping_) throw std::logic_error("larder::runtime: cannot start a task after stop()");
  tasks_.push_front(std::make_shared<task_slot>(context_.get_executor()));
  return tasks_.begin();
}

void runtime::finish_task(task_list::iterator it) {
  std::lock_guard lock(mu_);
  tasks_.erase(it);
}

void runtime::spawn(asio::awaitable<void> task) {
  auto it = register_task();
  asio::co_spawn((*it)->strand, std::move(task),
                 asio::bind_cancellation_slot((*it)->signal.slot(),
                                              [this, it](std::exception_ptr error) {
                                                finish_task(it);
                                                if (!error) return;
                                                try {
                                                  std::rethrow_exception(error);
                                                } catch (const std::exception& e) {
                                                  log().error("background task failed: {}",
                                                              e.what());
                                                } catch (...) {
                                                  log().error("background task failed");
                                                }
                                              }));
}

void runtime::stop() {
  if (on_worker_thread()) {
    throw std::logic_error("larder::runtime::stop called from one of its own worker threads");
  }
  {
    std::unique_lock lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      // A signal may only be emitted where its task runs: on the task's strand.
      for (const auto& task : tasks_) {
        asio::post(task->strand,
                   [task] { task->signal.emit(asio::cancellation_type::terminal); });
      }
      work_.reset();
    }
    if (!workers_done_.wait_for(lock, stop_grace_, [this] { return running_workers_ == 0; })) {
      log().warn("runtime: {} task(s) still running {} ms after cancellation; stopping anyway",
                 tasks_.size(), stop_grace_.count());
      context_.stop();
    }
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace larder
