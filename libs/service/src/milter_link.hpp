// A byte stream to one milter over a unix or TCP socket on the loop. The link frees itself
// when its handle has closed, so its owner may drop it at any moment, even inside one of its
// events: after close() no event reaches the owner again.
#pragma once

#include <uv.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "postroom/config/config.hpp"

namespace postroom::service {

class MilterLink {
 public:
  struct Events {
    std::function<void()> connected;
    std::function<void(std::string_view)> received;
    std::function<void(std::string)> failed;  // connect, read or write error, or EOF
    std::function<void()> drained;            // a write completed
  };

  // Starts connecting; the result is never null and is freed by close().
  static MilterLink* open(uv_loop_t* loop, const config::Milter& milter, Events events);

  void write(std::string bytes);
  // Octets handed to libuv and not yet written.
  std::size_t write_queue() const { return in_flight_; }
  // Ends the link: no event after this; `last` (SMFIC_QUIT) is written first when connected.
  void close(std::string last = {});

 private:
  MilterLink() = default;
  ~MilterLink() = default;
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&handle_); }
  static void on_connect(uv_connect_t* req, int status);
  void fail(std::string why);
  void shut();

  union {
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } handle_{};
  uv_connect_t connect_{};
  // A connect that fails at once is reported from this idle handle, on the next loop turn.
  uv_idle_t idle_{};
  std::string deferred_error_;
  int handles_open_ = 1;
  Events events_;
  std::string read_buffer_;
  std::size_t in_flight_ = 0;
  bool connected_ = false;
  bool closing_ = false;
};

}  // namespace postroom::service
