// RAII over libuv timers, signals, async wake-ups and thread-pool work.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>

namespace postroom::net {

// A libuv handle owned by a C++ object. The handle's memory is freed only in its close
// callback (libuv's rule), so destroying the owner inside a callback is safe: the
// handle outlives it until the loop runs the close callback.
template <class Handle>
class OwnedHandle {
 public:
  OwnedHandle() : handle_(new Handle{}) {}
  OwnedHandle(const OwnedHandle&) = delete;
  OwnedHandle& operator=(const OwnedHandle&) = delete;
  ~OwnedHandle() { close(); }

  // Idempotent; callbacks never reach the owner after this.
  void close() {
    if (!handle_) return;
    handle_->data = nullptr;
    if (initialized_) {
      uv_close(reinterpret_cast<uv_handle_t*>(handle_),
               [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
    } else {
      delete handle_;
    }
    handle_ = nullptr;
  }
  Handle* get() const { return handle_; }
  void mark_initialized() { initialized_ = true; }
  void unref() { uv_unref(reinterpret_cast<uv_handle_t*>(handle_)); }

 private:
  Handle* handle_;
  bool initialized_ = false;
};

class Timer {
 public:
  explicit Timer(uv_loop_t* loop);
  // (Re)starts the timer: `fire` runs once after `ms` milliseconds.
  void start(std::uint64_t ms, std::function<void()> fire);
  void stop();

 private:
  OwnedHandle<uv_timer_t> handle_;
  std::function<void()> fire_;
};

class Signal {
 public:
  Signal(uv_loop_t* loop, int signum, std::function<void()> on_signal);

 private:
  OwnedHandle<uv_signal_t> handle_;
  std::function<void()> on_signal_;
};

// Wakes the loop from another thread; `on_wake` runs on the loop thread. Several
// wake() calls may coalesce into one on_wake (libuv's rule).
class Async {
 public:
  Async(uv_loop_t* loop, std::function<void()> on_wake);
  void wake();  // thread-safe
  void close() { handle_.close(); }

 private:
  OwnedHandle<uv_async_t> handle_;
  std::function<void()> on_wake_;
};

// Runs `work` on libuv's thread pool, then `after` on the loop thread.
void queue_work(uv_loop_t* loop, std::function<void()> work, std::function<void()> after);

}  // namespace postroom::net
