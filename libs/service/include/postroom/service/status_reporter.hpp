// Keeps data_dir/postroomd.status current while the daemon runs (system/daemon_status.hpp):
// `postroom status` reads it for what only the running process knows.
#pragma once

#include <uv.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "postroom/net/handles.hpp"
#include "postroom/system/daemon_status.hpp"

namespace postroom::service {

struct Context;

class StatusReporter {
 public:
  using Listeners = std::function<std::vector<system::ListenerStatus>()>;
  StatusReporter(uv_loop_t* loop, const Context& context, std::filesystem::path file,
                 Listeners listeners);
  ~StatusReporter();

  // Writes the file now, then every kStatusIntervalSeconds.
  void start();
  // A clean stop: no more writes, and the file goes (after a write in flight), so a status
  // file left behind means the daemon did not stop cleanly.
  void stop();

 private:
  void write();

  // What a write on the thread pool and the reporter share (the reporter may be gone first).
  struct Shared {
    bool writing = false;
    bool stopped = false;
    bool failure_logged = false;
  };
  uv_loop_t* loop_;
  const Context& context_;
  std::filesystem::path file_;
  Listeners listeners_;
  std::int64_t started_at_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::unique_ptr<net::Timer> timer_;
};

}  // namespace postroom::service
