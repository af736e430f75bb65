// Refusing a connection politely: the reply first, then the close, bounded in time.
#include "postroom/service/refusal.hpp"

namespace postroom::service {

namespace {
// A refused client that never completes the TLS handshake does not keep its socket.
constexpr std::uint64_t kDeadlineMs = 10000;
}  // namespace

Refusal::Refusal(uv_loop_t* loop, std::shared_ptr<net::Connection> connection,
                 std::shared_ptr<net::TlsContext> implicit_tls, std::string reply)
    : connection_(std::move(connection)),
      tls_(std::move(implicit_tls)),
      reply_(std::move(reply)),
      deadline_(loop) {}

void Refusal::start() {
  auto self = shared_from_this();
  std::weak_ptr<Refusal> weak = self;
  deadline_.start(kDeadlineMs, [weak] {
    if (auto s = weak.lock()) s->connection_->close("refused: deadline");
  });
  if (tls_) connection_->start_tls(tls_, net::TlsEngine::Role::server);
  connection_->write(reply_);  // held by the TLS engine until the handshake is done
  connection_->start({
      .on_tls_ready =
          [weak] {
            if (auto s = weak.lock()) s->connection_->close_after_flush("too many connections");
          },
      .on_close =
          [self](const std::string&) {
            self->deadline_.stop();
            if (self->on_finished) self->on_finished();
          },
  });
  if (!tls_) connection_->close_after_flush("too many connections");
}

}  // namespace postroom::service
