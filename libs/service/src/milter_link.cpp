// The socket under a milter conversation: connect, write with owned buffers, read, close.
#include "milter_link.hpp"

#include <memory>

namespace postroom::service {
namespace {

struct WriteRequest {
  uv_write_t req{};
  std::string bytes;
  bool close_after = false;
};

constexpr std::size_t kReadBuffer = 64 * 1024;

}  // namespace

void MilterLink::on_connect(uv_connect_t* req, int status) {
  auto* self = static_cast<MilterLink*>(req->data);
  if (self->closing_) return;
  if (status < 0) return self->fail(uv_strerror(status));
  self->connected_ = true;
  uv_read_start(
      self->stream(),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* s = static_cast<MilterLink*>(h->data);
        s->read_buffer_.resize(kReadBuffer);
        *buf = uv_buf_init(s->read_buffer_.data(), kReadBuffer);
      },
      [](uv_stream_t* st, ssize_t n, const uv_buf_t*) {
        auto* s = static_cast<MilterLink*>(st->data);
        if (s->closing_ || n == 0) return;
        if (n < 0)
          return s->fail(n == UV_EOF ? "the milter closed the connection"
                                     : uv_strerror(static_cast<int>(n)));
        auto received = s->events_.received;
        received(std::string_view(s->read_buffer_.data(), static_cast<std::size_t>(n)));
      });
  auto connected = self->events_.connected;
  connected();
}

MilterLink* MilterLink::open(uv_loop_t* loop, const config::Milter& milter, Events events) {
  auto* link = new MilterLink();
  link->events_ = std::move(events);
  link->connect_.data = link;
  int rc = 0;
  if (milter.inet) {
    uv_tcp_init(loop, &link->handle_.tcp);
    link->handle_.tcp.data = link;
    sockaddr_storage address{};
    rc = milter.inet->ipv6 ? uv_ip6_addr(milter.inet->host.c_str(), milter.inet->port,
                                         reinterpret_cast<sockaddr_in6*>(&address))
                           : uv_ip4_addr(milter.inet->host.c_str(), milter.inet->port,
                                         reinterpret_cast<sockaddr_in*>(&address));
    if (rc == 0)
      rc = uv_tcp_connect(&link->connect_, &link->handle_.tcp,
                          reinterpret_cast<const sockaddr*>(&address), on_connect);
  } else {
    uv_pipe_init(loop, &link->handle_.pipe, 0);
    link->handle_.pipe.data = link;
    uv_pipe_connect(&link->connect_, &link->handle_.pipe, milter.unix_path.c_str(), on_connect);
  }
  if (rc < 0) {
    // Reported from the loop, never from inside open(): the owner is still being built.
    link->deferred_error_ = uv_strerror(rc);
    uv_idle_init(loop, &link->idle_);
    link->idle_.data = link;
    ++link->handles_open_;
    uv_idle_start(&link->idle_, [](uv_idle_t* h) {
      auto* self = static_cast<MilterLink*>(h->data);
      uv_idle_stop(h);
      if (!self->closing_) self->fail(self->deferred_error_);
    });
  }
  return link;
}

void MilterLink::fail(std::string why) {
  auto failed = events_.failed;
  closing_ = true;
  events_ = {};
  shut();
  if (failed) failed(std::move(why));
}

void MilterLink::write(std::string bytes) {
  if (closing_ || !connected_ || bytes.empty()) return;
  auto* w = new WriteRequest{};
  w->bytes = std::move(bytes);
  w->req.data = w;
  in_flight_ += w->bytes.size();
  uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  int rc = uv_write(&w->req, stream(), &buf, 1, [](uv_write_t* req, int status) {
    std::unique_ptr<WriteRequest> w(static_cast<WriteRequest*>(req->data));
    auto* self = static_cast<MilterLink*>(req->handle->data);
    if (!self) return;  // the handle is closing: the link is gone or going
    self->in_flight_ -= w->bytes.size();
    if (w->close_after) return self->shut();
    if (self->closing_) return;
    if (status < 0) return self->fail(uv_strerror(status));
    auto drained = self->events_.drained;
    if (drained) drained();
  });
  if (rc < 0) {
    in_flight_ -= w->bytes.size();
    delete w;
    fail(uv_strerror(rc));
  }
}

void MilterLink::close(std::string last) {
  if (closing_) return;
  closing_ = true;
  events_ = {};
  if (connected_ && !last.empty()) {
    auto* w = new WriteRequest{};
    w->bytes = std::move(last);
    w->close_after = true;
    w->req.data = w;
    uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    if (uv_write(&w->req, stream(), &buf, 1, [](uv_write_t* req, int) {
          std::unique_ptr<WriteRequest> w(static_cast<WriteRequest*>(req->data));
          auto* self = static_cast<MilterLink*>(req->handle->data);
          if (self) self->shut();
        }) == 0)
      return;
    delete w;
  }
  shut();
}

// Closes the handle once; the link is deleted in the close callback (libuv's rule), after
// every pending write and connect callback has run.
void MilterLink::shut() {
  auto* h = reinterpret_cast<uv_handle_t*>(&handle_);
  if (uv_is_closing(h)) return;
  auto closed = [](uv_handle_t* x) {
    auto* self = static_cast<MilterLink*>(x->data);
    if (--self->handles_open_ == 0) delete self;
  };
  uv_close(h, closed);
  if (handles_open_ > 1) uv_close(reinterpret_cast<uv_handle_t*>(&idle_), closed);
}

}  // namespace postroom::service
