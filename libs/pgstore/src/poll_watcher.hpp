// RAII over a uv_poll_t on one socket: the handle is freed only in its close callback.
#pragma once

#include <uv.h>

#include <functional>

#include "postroom/net/handles.hpp"

namespace postroom::pgstore {

class PollWatcher {
 public:
  using Ready = std::function<void(int status, int events)>;
  PollWatcher(uv_loop_t* loop, int fd, Ready ready);
  PollWatcher(const PollWatcher&) = delete;
  PollWatcher& operator=(const PollWatcher&) = delete;
  // Stops polling at once (libuv forgets the descriptor, so the caller may close it next).
  ~PollWatcher();

  int fd() const { return fd_; }
  // False when libuv refused the socket; such a watcher never reports anything.
  bool ok() const { return ok_; }
  // UV_READABLE and/or UV_WRITABLE; 0 stops polling.
  void want(int events);

 private:
  int fd_;
  int events_ = 0;
  bool ok_ = false;
  Ready ready_;
  net::OwnedHandle<uv_poll_t> handle_;
};

}  // namespace postroom::pgstore
