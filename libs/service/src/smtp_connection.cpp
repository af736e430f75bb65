// SMTP over the network: recipient lookups and auth off the loop, bodies streamed to the writer.
#include "postroom/service/smtp_connection.hpp"

#include <algorithm>
#include <variant>

#include "postroom/base/log.hpp"
#include "postroom/base/wipe.hpp"
#include "postroom/service/auth_service.hpp"
#include "postroom/service/context.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/mail_store.hpp"
#include "postroom/store/postmaster.hpp"
#include "session_wiring.hpp"

namespace postroom::service {

namespace {
// Chunk writes allowed in flight before the connection stops reading the body.
constexpr int kMaxChunksInFlight = 2;
}  // namespace

SmtpConnection::SmtpConnection(Context& context, std::shared_ptr<net::Connection> connection,
                               Kind kind, bool implicit_tls)
    : context_(context),
      connection_(std::move(connection)),
      kind_(kind),
      implicit_tls_(implicit_tls),
      id_(context.new_session_id()),
      idle_(context.loop),
      sink_(context) {}

void SmtpConnection::start() {
  auto self = shared_from_this();
  const auto& config = *context_.config;
  if (implicit_tls_) connection_->start_tls(context_.tls, net::TlsEngine::Role::server);
  smtp::SessionParams params;
  params.hostname = config.hostname;
  params.listener = kind_ == Kind::mx ? smtp::Listener::mx : smtp::Listener::submission;
  params.peer_ip = connection_->peer_ip();
  params.peer_trusted = kind_ == Kind::mx && config.is_trusted(connection_->peer());
  params.tls_active = implicit_tls_;
  params.starttls_available = context_.tls && !implicit_tls_;
  params.plaintext_auth_allowed = implicit_tls_ || context_.plaintext_allowed(*connection_);
  params.max_message_size = config.limits.max_message_size;
  params.max_recipients = config.limits.max_recipients;
  params.session_id = id_;
  session_.emplace(std::move(params));
  log_line("session=", id_, " smtp connect peer=", connection_->peer_ip(),
           " port=", connection_->local_port());
  std::weak_ptr<SmtpConnection> weak = self;
  sink_.on_chunk_written = [weak] {
    if (auto s = weak.lock()) s->update_reading();
  };
  connection_->start(session_events(self, implicit_tls_));
  touch();
  pump();
}

void SmtpConnection::on_tls_started() {
  session_->on_tls_started();
  pump();
}

void SmtpConnection::touch() {
  restart_idle_timer(idle_, context_.config->limits.smtp_idle_timeout, shared_from_this());
}

void SmtpConnection::on_idle() {
  session_->on_idle_timeout();  // 421 4.4.2, then close
  pump();
}

void SmtpConnection::on_data(std::string_view bytes) {
  touch();
  session_->feed(bytes);
  pump();
}

void SmtpConnection::pump() {
  if (connection_->closed()) return;
  for (auto& action : session_->take_actions()) {
    if (auto* send = std::get_if<smtp::Send>(&action)) {
      connection_->write(send->bytes);
    } else if (std::holds_alternative<smtp::StartTls>(action)) {
      connection_->start_tls(context_.tls, net::TlsEngine::Role::server);
    } else if (auto* auth = std::get_if<smtp::Authenticate>(&action)) {
      authenticate(auth->user, auth->password);
      wipe(auth->password);  // the auth service holds its own copy until it has verified
    } else if (auto* check = std::get_if<smtp::CheckRecipient>(&action)) {
      check_recipient(check->address);
    } else if (auto* begin = std::get_if<smtp::MessageBegin>(&action)) {
      envelope_ = std::move(begin->envelope);
      sink_.begin();
    } else if (auto* data = std::get_if<smtp::MessageData>(&action)) {
      sink_.append(data->bytes);
    } else if (std::holds_alternative<smtp::MessageEnd>(action)) {
      commit();
    } else if (std::holds_alternative<smtp::MessageAbort>(action)) {
      sink_.abort();
      envelope_.reset();
    } else if (auto* close = std::get_if<smtp::Close>(&action)) {
      connection_->close_after_flush(close->reason);
    }
  }
  for (const auto& t : session_->take_transaction_log()) {
    std::string rcpts;
    for (const auto& r : t.recipients) rcpts += (rcpts.empty() ? "" : ",") + r;
    log_line("session=", id_, " message id=", t.id, " peer=", connection_->peer_ip(),
             " from=", t.reverse_path, " to=", rcpts, " size=", t.size, " result=\"", t.outcome,
             "\"", t.store_error.empty() ? "" : " store_error=\"" + t.store_error + "\"");
  }
  update_reading();
}

void SmtpConnection::update_reading() {
  if (connection_->closed()) return;
  // Back-pressure: no reading while the session waits for an answer or the writer is behind.
  if (session_->waiting() || sink_.chunks_in_flight() > kMaxChunksInFlight) {
    connection_->pause_reading();
  } else {
    connection_->resume_reading();
  }
}

void SmtpConnection::check_recipient(const Address& address) {
  std::weak_ptr<SmtpConnection> weak = shared_from_this();
  // "<postmaster>" and postmaster@ every local domain (RFC 5321 §4.5.1).
  store::resolve_with_postmaster(
      *context_.store, address, context_.config->domains, [weak](Result<store::Route> route) {
        auto s = weak.lock();
        if (!s || s->connection_->closed()) return;
        smtp::RecipientVerdict verdict;
        using Kind = smtp::RecipientVerdict::Kind;
        if (!route) {
          log_line("session=", s->id_, " recipient lookup failed: ", route.error().message);
          verdict.kind = Kind::temp_failure;
        } else {
          switch (route->kind) {
            case store::Route::Kind::local:
              verdict.kind = Kind::local;
              break;
            case store::Route::Kind::remote:
              verdict.kind = Kind::remote;
              break;
            case store::Route::Kind::unknown:
              verdict.kind = Kind::unknown_user;
              break;
          }
          verdict.mailboxes = route->accounts;
          verdict.forward_to = route->remote;
        }
        s->session_->on_recipient_checked(std::move(verdict));
        s->pump();
      });
}

void SmtpConnection::authenticate(const std::string& user, const std::string& password) {
  std::weak_ptr<SmtpConnection> weak = shared_from_this();
  context_.auth->check_password(
      {connection_->peer_ip(), id_}, user, password, [weak](AuthResult result) {
        auto s = weak.lock();
        if (!s || s->connection_->closed()) return;
        s->session_->on_auth_result(result.outcome == AuthResult::Outcome::ok,
                                    std::move(result.sender_addresses));
        s->pump();
      });
}

void SmtpConnection::commit() {
  store::Destination destination;
  store::QueueRequest queue;
  queue.sender = envelope_ && envelope_->reverse_path ? envelope_->reverse_path->str() : "";
  queue.smtputf8 = envelope_ && envelope_->smtputf8;
  queue.body_8bit = envelope_ && envelope_->body == smtp::BodyType::eight_bit_mime;
  if (envelope_) {
    for (const auto& rcpt : envelope_->recipients) {
      for (auto id : rcpt.verdict.mailboxes) {
        if (std::find(destination.accounts.begin(), destination.accounts.end(), id) ==
            destination.accounts.end())
          destination.accounts.push_back(id);
      }
      for (const auto& remote : rcpt.verdict.forward_to) {
        if (std::find(queue.recipients.begin(), queue.recipients.end(), remote) ==
            queue.recipients.end())
          queue.recipients.push_back(remote);
      }
    }
  }
  bool queued = !queue.recipients.empty();
  if (queued) destination.queue = std::move(queue);
  envelope_.reset();
  std::weak_ptr<SmtpConnection> weak = shared_from_this();
  sink_.commit(std::move(destination), [weak, queued,
                                        &context = context_](Result<store::StoredMessage> stored) {
    if (stored && queued && context.wake_relay) context.wake_relay();
    auto s = weak.lock();
    if (!s || s->connection_->closed()) return;
    if (!stored) {
      s->session_->on_message_stored(std::unexpected(stored.error()));
    } else {
      s->session_->on_message_stored(stored->queue_id.empty() ? std::to_string(stored->content_id)
                                                              : stored->queue_id);
    }
    s->pump();
  });
}

void SmtpConnection::shutdown() {
  // The session sends 421 and closes, after any commit already under way (interface.md).
  session_->on_shutdown();
  pump();
}

void SmtpConnection::on_closed(const std::string& reason) {
  idle_.stop();
  sink_.abort();  // a message still arriving was never acknowledged
  context_.connections.release(connection_->peer_ip());
  log_line("session=", id_, " smtp closed peer=", connection_->peer_ip(), " reason=", reason);
  if (on_finished) on_finished();
}

}  // namespace postroom::service
