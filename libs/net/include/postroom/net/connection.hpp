// One TCP connection on the loop: reads, owned writes with back-pressure, optional TLS.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "postroom/base/endpoint.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/net/tls.hpp"

namespace postroom::net {

struct ConnectionEvents {
  std::function<void(std::string_view)> on_data{};     // plaintext, consumed synchronously
  std::function<void()> on_drain{};                    // all queued writes reached the socket
  std::function<void()> on_tls_ready{};                // handshake finished
  std::function<void(const std::string&)> on_close{};  // once, with the reason
};

// Lifetime: owned through shared_ptr by whoever serves it; libuv callbacks reach it only
// while it is open. close() is idempotent and never frees memory libuv still uses.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Accepts a pending connection from a listening socket; nullptr on failure.
  static std::shared_ptr<Connection> accept(uv_stream_t* server);
  // Connects out to `address` (the relay); `done` gets the connection or an error. The
  // returned connection is not usable before `done`; closing it cancels the connect
  // (`done` then gets an error), so a stopping daemon need not wait for the kernel's timeout.
  static std::shared_ptr<Connection> connect(
      uv_loop_t* loop, const sockaddr* address,
      std::function<void(Result<std::shared_ptr<Connection>>)> done);
  ~Connection();

  void start(ConnectionEvents events);
  void write(std::string_view bytes);
  // write() that hands over the string: without TLS it becomes the write's own buffer.
  void write_owned(std::string&& bytes);
  std::size_t pending_write_bytes() const { return pending_bytes_; }
  // The owner's flow control. While a TLS handshake runs the connection reads anyway
  // (handshake bytes are not the owner's data) and pauses once it completes.
  void pause_reading();
  void resume_reading();
  bool reading() const { return reading_; }

  // Starts TLS: everything written after this call is encrypted.
  void start_tls(std::shared_ptr<TlsContext> context, TlsEngine::Role role,
                 const std::string& peer_name = {});
  // Client side with a certificate check (see PeerCheck).
  void start_tls_checked(std::shared_ptr<TlsContext> context, const std::string& peer_name,
                         const PeerCheck& check);
  // After on_tls_ready: empty when the check passed or there was none.
  std::string tls_verify_error() const { return tls_ ? tls_->verify_error() : std::string(); }
  bool tls_active() const { return tls_ != nullptr; }
  std::string tls_description() const { return tls_ ? tls_->description() : "none"; }

  // Closes once every queued write has reached the socket.
  void close_after_flush(std::string reason);
  void close(std::string reason);
  bool closed() const { return tcp_ == nullptr; }

  const sockaddr* peer() const { return reinterpret_cast<const sockaddr*>(&peer_); }
  std::string peer_ip() const { return format_ip(peer()); }
  int local_port() const { return local_port_; }
  std::uint64_t id() const { return id_; }

 private:
  Connection();
  void attach();  // after the TCP handle is connected: addresses, data pointer
  void on_read(ssize_t n, const uv_buf_t* buf);
  void start_reading();
  void begin_tls(std::unique_ptr<TlsEngine> engine, bool client);
  void stop_reading();
  void write_raw(std::string bytes);
  void flush_tls();
  void on_write_done(std::size_t bytes, int status);

  uv_tcp_t* tcp_ = nullptr;  // freed in its close callback
  ConnectionEvents events_;
  std::unique_ptr<TlsEngine> tls_;
  std::size_t pending_bytes_ = 0;
  bool reading_ = false;          // libuv is reading
  bool paused_by_owner_ = false;  // the owner asked for a pause
  bool closing_after_flush_ = false;
  std::string close_reason_;
  sockaddr_storage peer_{};
  int local_port_ = 0;
  std::uint64_t id_;
};

class Listener {
 public:
  using OnAccept = std::function<void(std::shared_ptr<Connection>)>;
  // Binds and listens; a taken port is an error naming the endpoint.
  static Result<std::unique_ptr<Listener>> bind(uv_loop_t* loop, const Endpoint& endpoint,
                                                OnAccept on_accept);
  Endpoint bound() const { return bound_; }  // with the real port when bound to :0
  void close() { handle_.close(); }

 private:
  Listener() = default;
  OwnedHandle<uv_tcp_t> handle_;
  OnAccept on_accept_;
  Endpoint bound_;
};

}  // namespace postroom::net
