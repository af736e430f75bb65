// Socket readiness for libpq, delivered on the loop.
#include "poll_watcher.hpp"

namespace postroom::pgstore {

PollWatcher::PollWatcher(uv_loop_t* loop, int fd, Ready ready) : fd_(fd), ready_(std::move(ready)) {
  ok_ = uv_poll_init_socket(loop, handle_.get(), fd) == 0;
  if (!ok_) return;  // never initialized: freed without uv_close
  handle_.mark_initialized();
  handle_.get()->data = this;
}

PollWatcher::~PollWatcher() {
  if (ok_ && handle_.get()) uv_poll_stop(handle_.get());
}

void PollWatcher::want(int events) {
  if (!ok_ || events == events_) return;
  events_ = events;
  if (events == 0) {
    uv_poll_stop(handle_.get());
    return;
  }
  uv_poll_start(handle_.get(), events, [](uv_poll_t* h, int status, int events) {
    if (auto* self = static_cast<PollWatcher*>(h->data)) {
      auto ready = self->ready_;  // The callback may destroy the watcher.
      ready(status, events);
    }
  });
}

}  // namespace postroom::pgstore
