// A small bounded pool of threads for libraries that block (libcurl easy, libunbound), with
// completions posted back to the loop, so none of them waits on the loop or in the store's pool.
#pragma once

#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>

#include "postroom/base/error.hpp"

namespace postroom::net {

// Jobs run in submission order on `threads` threads; `after` runs on the loop thread. At
// most `max_queued` jobs wait: submit() refuses more (back-pressure), so a flood of mail to
// slow domains cannot grow memory without bound. Destroying the pool drops the `after` of
// every job not finished yet; a job already running finishes on its detached thread and
// its result is discarded, so destruction never waits on a slow peer.
class BlockingPool {
 public:
  BlockingPool(uv_loop_t* loop, std::size_t threads, std::size_t max_queued);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // False (and nothing runs) when the queue is full.
  bool submit(std::function<void()> work, std::function<void()> after);

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

}  // namespace postroom::net
