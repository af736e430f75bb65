// A connection over the limits: one reply, then the connection closes.
#pragma once

#include <memory>
#include <string>

#include "postroom/net/connection.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/service/served.hpp"

namespace postroom::service {

// Kept alive by the server until the reply has reached the client. On an implicit-TLS
// listener the reply waits for the handshake, so the client can read it at all.
class Refusal : public Served, public std::enable_shared_from_this<Refusal> {
 public:
  Refusal(uv_loop_t* loop, std::shared_ptr<net::Connection> connection,
          std::shared_ptr<net::TlsContext> implicit_tls, std::string reply);
  void start() override;
  void shutdown() override { connection_->close("shutdown"); }
  void abort() override { connection_->close("shutdown deadline"); }

 private:
  std::shared_ptr<net::Connection> connection_;
  std::shared_ptr<net::TlsContext> tls_;
  std::string reply_;
  net::Timer deadline_;
};

}  // namespace postroom::service
