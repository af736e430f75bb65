// A libuv loop for the tests: run until something happened, then check it closes clean.
#pragma once

#include <uv.h>

#include <functional>

namespace postroom::pgstore::test {

class Loop {
 public:
  Loop() { uv_loop_init(&loop_); }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  ~Loop() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  uv_loop_t* get() { return &loop_; }

  // Runs the loop until `done()` holds or `seconds` passed (a guard against a hang, not a
  // timing assertion); returns done().
  bool run_until(const std::function<bool()>& done, double seconds = 30) {
    uv_timer_t tick;
    uv_timer_init(&loop_, &tick);
    uv_timer_start(
        &tick, [](uv_timer_t*) {}, 5, 5);
    uv_update_time(&loop_);
    auto deadline = uv_now(&loop_) + static_cast<std::uint64_t>(seconds * 1000);
    while (!done() && uv_now(&loop_) < deadline) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return done();
  }
  // After everything was destroyed: every handle closes and the loop can be closed.
  bool closes_clean() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    return uv_loop_alive(&loop_) == 0;
  }

 private:
  uv_loop_t loop_;
};

}  // namespace postroom::pgstore::test
