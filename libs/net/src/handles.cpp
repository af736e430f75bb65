// Timers, signals, async handles and pool work, each freed in its close callback.
#include "postroom/net/handles.hpp"

namespace postroom::net {

Timer::Timer(uv_loop_t* loop) {
  uv_timer_init(loop, handle_.get());
  handle_.mark_initialized();
  handle_.get()->data = this;
}

void Timer::start(std::uint64_t ms, std::function<void()> fire) {
  fire_ = std::move(fire);
  uv_timer_start(
      handle_.get(),
      [](uv_timer_t* t) {
        if (auto* self = static_cast<Timer*>(t->data)) {
          auto fire = self->fire_;  // The callback may destroy the timer's owner.
          fire();
        }
      },
      ms, 0);
}

void Timer::stop() { uv_timer_stop(handle_.get()); }

Signal::Signal(uv_loop_t* loop, int signum, std::function<void()> on_signal)
    : on_signal_(std::move(on_signal)) {
  uv_signal_init(loop, handle_.get());
  handle_.mark_initialized();
  handle_.get()->data = this;
  uv_signal_start(
      handle_.get(),
      [](uv_signal_t* s, int) {
        if (auto* self = static_cast<Signal*>(s->data)) {
          auto on_signal = self->on_signal_;  // The callback may destroy the Signal.
          on_signal();
        }
      },
      signum);
}

Async::Async(uv_loop_t* loop, std::function<void()> on_wake) : on_wake_(std::move(on_wake)) {
  uv_async_init(loop, handle_.get(), [](uv_async_t* a) {
    if (auto* self = static_cast<Async*>(a->data)) {
      auto on_wake = self->on_wake_;  // The callback may destroy the Async.
      on_wake();
    }
  });
  handle_.mark_initialized();
  handle_.get()->data = this;
}

void Async::wake() {
  if (auto* h = handle_.get()) uv_async_send(h);
}

namespace {
struct Work {
  uv_work_t request;
  std::function<void()> work;
  std::function<void()> after;
};
}  // namespace

void queue_work(uv_loop_t* loop, std::function<void()> work, std::function<void()> after) {
  auto* job = new Work{{}, std::move(work), std::move(after)};
  job->request.data = job;
  uv_queue_work(
      loop, &job->request, [](uv_work_t* r) { static_cast<Work*>(r->data)->work(); },
      [](uv_work_t* r, int) {
        auto* job = static_cast<Work*>(r->data);
        if (job->after) job->after();
        delete job;
      });
}

}  // namespace postroom::net
