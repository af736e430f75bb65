// The blocking-work pool: worker threads, a bounded queue, completions through uv_async_t.
#include "postroom/net/blocking_pool.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace postroom::net {

struct BlockingPool::Shared {
  struct Job {
    std::function<void()> work;
    std::function<void()> after;
  };
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Job> queued;
  std::vector<std::function<void()>> done;  // `after`s waiting for the loop
  uv_async_t* async = nullptr;              // null once the pool is gone
  bool stopping = false;
  std::size_t max_queued = 0;

  static void run(std::shared_ptr<Shared> self) {
    while (true) {
      Job job;
      {
        std::unique_lock lock(self->mutex);
        self->wake.wait(lock, [&] { return self->stopping || !self->queued.empty(); });
        if (self->stopping) return;
        job = std::move(self->queued.front());
        self->queued.pop_front();
      }
      job.work();
      std::lock_guard lock(self->mutex);
      if (self->stopping || !self->async) return;
      self->done.push_back(std::move(job.after));
      uv_async_send(self->async);
    }
  }

  static void on_async(uv_async_t* handle) {
    // A copy: an `after` may destroy the pool, and with it the last other reference.
    std::shared_ptr<Shared> self = *static_cast<std::shared_ptr<Shared>*>(handle->data);
    std::vector<std::function<void()>> ready;
    {
      std::lock_guard lock(self->mutex);
      ready.swap(self->done);
    }
    for (auto& after : ready) {
      if (!self->async) return;  // an `after` destroyed the pool
      after();
    }
  }
};

BlockingPool::BlockingPool(uv_loop_t* loop, std::size_t threads, std::size_t max_queued)
    : shared_(std::make_shared<Shared>()) {
  shared_->max_queued = max_queued;
  shared_->async = new uv_async_t{};
  shared_->async->data = new std::shared_ptr<Shared>(shared_);
  uv_async_init(loop, shared_->async, &Shared::on_async);
  // Not counted as work: an idle pool must not keep the loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(shared_->async));
  for (std::size_t i = 0; i < threads; ++i) std::thread(&Shared::run, shared_).detach();
}

BlockingPool::~BlockingPool() {
  uv_async_t* async = nullptr;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stopping = true;
    shared_->queued.clear();
    shared_->done.clear();
    async = shared_->async;
    shared_->async = nullptr;
  }
  shared_->wake.notify_all();
  uv_close(reinterpret_cast<uv_handle_t*>(async), [](uv_handle_t* handle) {
    delete static_cast<std::shared_ptr<Shared>*>(handle->data);
    delete reinterpret_cast<uv_async_t*>(handle);
  });
}

bool BlockingPool::submit(std::function<void()> work, std::function<void()> after) {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopping || shared_->queued.size() >= shared_->max_queued) return false;
    shared_->queued.push_back({std::move(work), std::move(after)});
  }
  shared_->wake.notify_one();
  return true;
}

}  // namespace postroom::net
