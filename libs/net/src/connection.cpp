// TCP connections and listeners over libuv, with TLS through TlsEngine when started.
#include "postroom/net/connection.hpp"

#include <netinet/in.h>

#include <atomic>
#include <cstring>

namespace postroom::net {

namespace {

std::atomic<std::uint64_t> next_id{1};

// One read buffer for the whole loop: on_data consumes it synchronously, so idle
// connections hold no read buffer at all.
char shared_read_buffer[64 * 1024];

struct WriteRequest {
  uv_write_t request;
  std::string bytes;
  std::size_t offset = 0;  // bytes[0, offset) already went out by uv_try_write
  std::size_t size() const { return bytes.size() - offset; }
};

std::string uv_message(int status) {
  return uv_strerror(status);
}

// Runs a copy of the callback: it may close the connection, which drops the stored one, and a
// closure must not be destroyed while it runs.
template <class Callback, class... Args>
void notify(const Callback& callback, Args... args) {
  if (!callback) return;
  Callback running = callback;
  running(args...);
}

}  // namespace

Connection::Connection() : id_(next_id++) {}

Connection::~Connection() {
  events_ = {};  // The owner is going away: tell it nothing more.
  close("destroyed");
}

std::shared_ptr<Connection> Connection::accept(uv_stream_t* server) {
  std::shared_ptr<Connection> connection(new Connection());
  connection->tcp_ = new uv_tcp_t{};
  uv_tcp_init(server->loop, connection->tcp_);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(connection->tcp_)) != 0) {
    connection->close("accept failed");
    return nullptr;
  }
  connection->attach();
  return connection;
}

std::shared_ptr<Connection> Connection::connect(
    uv_loop_t* loop, const sockaddr* address,
    std::function<void(Result<std::shared_ptr<Connection>>)> done) {
  std::shared_ptr<Connection> connection(new Connection());
  connection->tcp_ = new uv_tcp_t{};
  uv_tcp_init(loop, connection->tcp_);
  struct Pending {
    uv_connect_t request;
    std::shared_ptr<Connection> connection;
    std::function<void(Result<std::shared_ptr<Connection>>)> done;
  };
  auto* pending = new Pending{{}, connection, std::move(done)};
  pending->request.data = pending;
  int rc =
      uv_tcp_connect(&pending->request, connection->tcp_, address, [](uv_connect_t* r, int status) {
        std::unique_ptr<Pending> p(static_cast<Pending*>(r->data));
        if (status != 0 || p->connection->closed()) {
          p->connection->close("connect failed");
          p->done(fail(status != 0 ? uv_message(status) : "connection closed"));
          return;
        }
        p->connection->attach();
        p->done(p->connection);
      });
  if (rc != 0) {
    auto callback = std::move(pending->done);
    delete pending;
    connection->close("connect failed");
    callback(fail(uv_message(rc)));
  }
  return connection;
}

void Connection::attach() {
  tcp_->data = this;
  int length = sizeof peer_;
  uv_tcp_getpeername(tcp_, reinterpret_cast<sockaddr*>(&peer_), &length);
  sockaddr_storage local{};
  length = sizeof local;
  uv_tcp_getsockname(tcp_, reinterpret_cast<sockaddr*>(&local), &length);
  if (local.ss_family == AF_INET)
    local_port_ = ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  else if (local.ss_family == AF_INET6)
    local_port_ = ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  uv_tcp_nodelay(tcp_, 1);
}

void Connection::start(ConnectionEvents events) {
  events_ = std::move(events);
  resume_reading();
}

void Connection::resume_reading() {
  paused_by_owner_ = false;
  start_reading();
}

void Connection::pause_reading() {
  paused_by_owner_ = true;
  // A TLS handshake must keep reading even when the owner pauses: its bytes are not the
  // owner's data, and the owner is usually paused precisely until on_tls_ready.
  if (tls_ && !tls_->handshake_done()) return;
  stop_reading();
}

void Connection::start_reading() {
  if (!tcp_ || reading_) return;
  reading_ = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(tcp_),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        *buf = uv_buf_init(shared_read_buffer, sizeof shared_read_buffer);
      },
      [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
        if (auto* self = static_cast<Connection*>(stream->data)) self->on_read(n, buf);
      });
}

void Connection::stop_reading() {
  if (!tcp_ || !reading_) return;
  reading_ = false;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp_));
}

void Connection::on_read(ssize_t n, const uv_buf_t* buf) {
  if (n == 0) return;
  if (n < 0) {
    close(n == UV_EOF ? "peer closed" : "read error: " + uv_message(static_cast<int>(n)));
    return;
  }
  auto keep_alive = shared_from_this();  // on_data may drop the owner's reference
  std::string_view bytes(buf->base, static_cast<std::size_t>(n));
  if (!tls_) {
    notify(events_.on_data, bytes);
    return;
  }
  bool was_done = tls_->handshake_done();
  std::string plaintext;
  auto r = tls_->receive(bytes, plaintext);
  flush_tls();
  if (!r) {
    close(r.error().message);
    return;
  }
  if (!was_done && tls_->handshake_done()) {
    // The handshake kept reading through the owner's pause; honour the pause from here on.
    if (paused_by_owner_) stop_reading();
    notify(events_.on_tls_ready);
  }
  if (!plaintext.empty() && !closed()) notify(events_.on_data, std::string_view(plaintext));
}

void Connection::write(std::string_view bytes) {
  if (!tcp_ || bytes.empty()) return;
  if (!tls_) {
    write_raw(std::string(bytes));
    return;
  }
  if (auto r = tls_->send(bytes); !r) {
    close(r.error().message);
    return;
  }
  flush_tls();
}

void Connection::write_owned(std::string&& bytes) {
  if (tls_) return write(std::string_view(bytes));
  if (tcp_ && !bytes.empty()) write_raw(std::move(bytes));
}

void Connection::flush_tls() {
  if (!tls_) return;
  std::string out = tls_->take_outgoing();
  if (!out.empty()) write_raw(std::move(out));
}

void Connection::write_raw(std::string bytes) {
  if (!tcp_) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(tcp_);
  std::size_t offset = 0;
  if (pending_bytes_ == 0) {
    // Nothing queued: straight to the socket. A write request that completes at once still
    // costs a deferred callback and, in libuv, an epoll_ctl per write (strace: one per RETR).
    uv_buf_t buf = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
    // An error is left to the queued write below, which reports it as it always did
    // (closing here, inside the owner's write call, could free the owner under its feet).
    int n = uv_try_write(stream, &buf, 1);
    if (n > 0) offset = static_cast<std::size_t>(n);
    if (offset == bytes.size()) return;
  }
  auto* request = new WriteRequest{{}, std::move(bytes), offset};
  request->request.data = request;
  uv_buf_t buf =
      uv_buf_init(request->bytes.data() + request->offset, static_cast<unsigned>(request->size()));
  pending_bytes_ += request->size();
  int rc = uv_write(&request->request, stream, &buf, 1, [](uv_write_t* r, int status) {
    auto* request = static_cast<WriteRequest*>(r->data);
    std::size_t size = request->size();
    auto* self = static_cast<Connection*>(r->handle->data);
    delete request;  // the write owned its buffer until now
    if (self) self->on_write_done(size, status);
  });
  if (rc != 0) {
    pending_bytes_ -= request->size();
    delete request;
    close("write error: " + uv_message(rc));
  }
}

void Connection::on_write_done(std::size_t bytes, int status) {
  pending_bytes_ -= bytes;
  if (status != 0) {
    close("write error: " + uv_message(status));
    return;
  }
  if (pending_bytes_ != 0) return;
  if (closing_after_flush_) {
    close(close_reason_);
    return;
  }
  auto keep_alive = shared_from_this();
  notify(events_.on_drain);
}

void Connection::start_tls(std::shared_ptr<TlsContext> context, TlsEngine::Role role,
                           const std::string& peer_name) {
  begin_tls(std::make_unique<TlsEngine>(std::move(context), role, peer_name),
            role == TlsEngine::Role::client);
}

void Connection::start_tls_checked(std::shared_ptr<TlsContext> context,
                                   const std::string& peer_name, const PeerCheck& check) {
  begin_tls(std::make_unique<TlsEngine>(std::move(context), peer_name, check), true);
}

void Connection::begin_tls(std::unique_ptr<TlsEngine> engine, bool client) {
  tls_ = std::move(engine);
  start_reading();  // the handshake needs the peer's bytes whatever the owner's pause
  if (client) {
    std::string ignored;
    if (auto r = tls_->receive({}, ignored); !r) return close(r.error().message);
    flush_tls();
  }
}

void Connection::close_after_flush(std::string reason) {
  if (!tcp_) return;
  // An orderly close sends TLS close_notify (RFC 8446 §6.1) after the last reply, so the
  // peer can tell the end of the session from a truncation attack.
  if (tls_ && tls_->handshake_done()) {
    tls_->shutdown();
    flush_tls();
  }
  if (pending_bytes_ == 0) return close(std::move(reason));
  closing_after_flush_ = true;
  close_reason_ = std::move(reason);
  stop_reading();  // closing: nothing more is read, handshake or not
}

void Connection::close(std::string reason) {
  if (!tcp_) return;
  // on_close may drop the owner's last reference; stay alive until we return.
  auto keep_alive = weak_from_this().lock();
  tcp_->data = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(tcp_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  tcp_ = nullptr;
  reading_ = false;
  auto on_close = std::move(events_.on_close);
  events_ = {};  // safe even from inside a callback: notify() runs a copy
  if (on_close) on_close(reason);
}

Result<std::unique_ptr<Listener>> Listener::bind(uv_loop_t* loop, const Endpoint& endpoint,
                                                 OnAccept on_accept) {
  std::unique_ptr<Listener> listener(new Listener());
  listener->on_accept_ = std::move(on_accept);
  uv_tcp_init(loop, listener->handle_.get());
  listener->handle_.mark_initialized();
  listener->handle_.get()->data = listener.get();
  sockaddr_storage address{};
  int rc = endpoint.ipv6 ? uv_ip6_addr(endpoint.host.c_str(), endpoint.port,
                                       reinterpret_cast<sockaddr_in6*>(&address))
                         : uv_ip4_addr(endpoint.host.c_str(), endpoint.port,
                                       reinterpret_cast<sockaddr_in*>(&address));
  // [::] listens on IPv6 only, so "0.0.0.0:25" and "[::]:25" can both be listed.
  unsigned flags = endpoint.ipv6 ? UV_TCP_IPV6ONLY : 0;
  if (rc == 0)
    rc = uv_tcp_bind(listener->handle_.get(), reinterpret_cast<sockaddr*>(&address), flags);
  if (rc == 0)
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener->handle_.get()), 511,
                   [](uv_stream_t* server, int status) {
                     auto* self = static_cast<Listener*>(server->data);
                     if (!self || status != 0) return;
                     if (auto connection = Connection::accept(server)) self->on_accept_(connection);
                   });
  if (rc != 0) return fail("cannot listen on " + endpoint.str() + ": " + uv_message(rc));
  sockaddr_storage bound{};
  int length = sizeof bound;
  uv_tcp_getsockname(listener->handle_.get(), reinterpret_cast<sockaddr*>(&bound), &length);
  listener->bound_ = endpoint;
  listener->bound_.port = bound.ss_family == AF_INET6
                              ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                              : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return listener;
}

}  // namespace postroom::net
