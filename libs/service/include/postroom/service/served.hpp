// The interface the server keeps for each served connection, whatever its protocol.
#pragma once

#include <functional>

namespace postroom::service {

class Served {
 public:
  virtual ~Served() = default;
  virtual void start() = 0;
  // The daemon is stopping: finish what is committed, end the session (SIGTERM).
  virtual void shutdown() = 0;
  // The stop deadline passed: close now, whatever is in flight.
  virtual void abort() = 0;
  // Set by the server: called once when the connection has closed.
  std::function<void()> on_finished;
};

}  // namespace postroom::service
