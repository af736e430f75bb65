// The blocking pool: work off the loop, completions on it, a bounded queue.
#include "postroom/net/blocking_pool.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

using namespace postroom::net;

TEST_CASE("blocking pool: work runs on another thread, its completion on the loop thread") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto loop_thread = std::this_thread::get_id();
  std::thread::id work_thread, after_thread;
  int completions = 0;
  {
    BlockingPool pool(&loop, 2, 8);
    uv_timer_t keep;  // holds the loop open until the completion arrived
    uv_timer_init(&loop, &keep);
    keep.data = &completions;
    uv_timer_start(
        &keep,
        [](uv_timer_t* t) {
          if (*static_cast<int*>(t->data) == 3) uv_timer_stop(t);
        },
        1, 1);
    for (int i = 0; i < 3; ++i) {
      CHECK(pool.submit([&] { work_thread = std::this_thread::get_id(); },
                        [&] {
                          after_thread = std::this_thread::get_id();
                          ++completions;
                        }));
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&keep), nullptr);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(completions == 3);
  CHECK(work_thread != loop_thread);
  CHECK(after_thread == loop_thread);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("blocking pool: a full queue refuses, and a destroyed pool drops what is left") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  // Shared: the busy job's detached thread may outlive this test's stack frame.
  auto release = std::make_shared<std::atomic<bool>>(false);
  int completions = 0;
  {
    BlockingPool pool(&loop, 1, 2);
    // The one thread is busy with the first job, two wait, the fourth is refused.
    CHECK(pool.submit(
        [release] {
          while (!*release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        },
        [&] { ++completions; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(pool.submit([] {}, [&] { ++completions; }));
    CHECK(pool.submit([] {}, [&] { ++completions; }));
    CHECK_FALSE(pool.submit([] {}, [&] { ++completions; }));
  }
  *release = true;
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(completions == 0);
  CHECK(uv_loop_close(&loop) == 0);
}
