// POP3 over the network: auth off the loop, maildrop lock, streamed RETR, durable UPDATE.
#include "postroom/service/pop3_connection.hpp"

#include <unistd.h>

#include <ctime>
#include <variant>

#include "postroom/base/log.hpp"
#include "postroom/base/wipe.hpp"
#include "postroom/service/auth_service.hpp"
#include "postroom/service/context.hpp"
#include "postroom/service/retention_service.hpp"
#include "postroom/store/mail_store.hpp"
#include "read_ahead.hpp"
#include "session_wiring.hpp"

namespace postroom::service {

namespace {
// Stop fetching message chunks while this much is still waiting for the socket; also the
// most one read brings in for the message being sent.
constexpr std::size_t kHighWater = 256 * 1024;
}  // namespace

Pop3Connection::Pop3Connection(Context& context, std::shared_ptr<net::Connection> connection,
                               bool implicit_tls)
    : context_(context),
      connection_(std::move(connection)),
      implicit_tls_(implicit_tls),
      id_(context.new_session_id()),
      idle_(context.loop),
      login_deadline_(context.loop),
      read_ahead_(std::make_unique<ReadAhead>()) {
  timestamp_ = "<" + std::to_string(::getpid()) + "." + id_ + "." + store::random_token(5) + "@" +
               context_.config->hostname + ">";
}

Pop3Connection::~Pop3Connection() = default;

void Pop3Connection::start() {
  auto self = shared_from_this();
  if (implicit_tls_) connection_->start_tls(context_.tls, net::TlsEngine::Role::server);
  pop3::SessionParams params;
  params.hostname = context_.config->hostname;
  params.apop_timestamp = timestamp_;
  params.tls_active = implicit_tls_;
  params.stls_available = context_.tls && !implicit_tls_;
  params.plaintext_allowed = implicit_tls_ || context_.plaintext_allowed(*connection_);
  if (context_.retention) params.announced = context_.retention->server_announcement();
  session_.emplace(std::move(params));
  ++context_.metrics.pop3_sessions;
  log_line("session=", id_, " pop3 connect peer=", connection_->peer_ip(),
           " port=", connection_->local_port());
  auto events = session_events(self, implicit_tls_);
  events.on_drain = [weak = std::weak_ptr<Pop3Connection>(self)] {
    auto s = weak.lock();
    if (!s) return;
    if (s->transfer_) return s->read_next_chunk();
    s->pump();  // replies drained: commands held back run, reading resumes
  };
  connection_->start(std::move(events));
  touch();
  auto login_within =
      std::chrono::duration_cast<std::chrono::milliseconds>(context_.config->limits.login_timeout);
  start_deadline(login_deadline_, login_within, self, [](Pop3Connection& s) {
    if (s.session_->authenticated() || s.connection_->closed()) return;
    log_line("session=", s.id_, " pop3 login deadline passed peer=", s.connection_->peer_ip());
    s.connection_->write("-ERR [SYS/TEMP] Login timeout exceeded\r\n");
    s.connection_->close_after_flush("login timeout");
  });
  pump();
}

void Pop3Connection::on_tls_started() {
  session_->on_tls_started();
  pump();
}

void Pop3Connection::touch() {
  restart_idle_timer(idle_, context_.config->limits.pop3_idle_timeout, shared_from_this());
}

void Pop3Connection::on_idle() {
  // RFC 1939 §3: the autologout timer closes without entering UPDATE (seed S10).
  connection_->close("idle timeout");
}

void Pop3Connection::on_data(std::string_view bytes) {
  touch();
  session_->feed(bytes);
  pump();
}

void Pop3Connection::pump() {
  // The session stops running pipelined commands once their replies fill its budget; they
  // run on from here while the socket takes the replies, else when it has drained.
  while (run_actions()) session_->feed({});
}

void Pop3Connection::collect_retrieved() {
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  for (auto id : session_->take_retrieved()) retrieved_.emplace_back(id, now);
}

bool Pop3Connection::run_actions() {
  collect_retrieved();
  if (connection_->closed()) return false;
  // Consecutive replies (a RETR's status line, message and terminator; a pipelined
  // batch's answers) leave in one write: one syscall instead of several.
  std::string out;
  auto flush = [&] {
    if (!out.empty()) connection_->write_owned(std::move(out));
    out.clear();
  };
  for (auto& action : session_->take_actions()) {
    if (auto* send = std::get_if<pop3::Send>(&action)) {
      if (out.empty()) {
        out = std::move(send->bytes);
      } else {
        out += send->bytes;
      }
      continue;
    }
    flush();
    if (std::holds_alternative<pop3::StartTls>(action)) {
      connection_->start_tls(context_.tls, net::TlsEngine::Role::server);
    } else if (auto* login = std::get_if<pop3::Login>(&action)) {
      this->login(login->user, login->password, false);
      wipe(login->password);  // the auth service holds its own copy until it has verified
    } else if (auto* apop = std::get_if<pop3::LoginApop>(&action)) {
      this->login(apop->user, apop->digest, true);
    } else if (auto* retrieve = std::get_if<pop3::Retrieve>(&action)) {
      this->retrieve(retrieve->id);
    } else if (auto* upd = std::get_if<pop3::Update>(&action)) {
      update(std::move(upd->deleted_ids));
    } else if (auto* close = std::get_if<pop3::Close>(&action)) {
      connection_->close_after_flush(close->reason);
      return false;
    }
  }
  flush();
  // Back-pressure: read no more commands while the session waits for an answer, or while
  // the replies already written wait for a client that does not read them (on_drain).
  if (session_->waiting() || stopping_ || connection_->pending_write_bytes() > kHighWater) {
    connection_->pause_reading();
    return false;
  }
  if (session_->replies_held()) return true;
  connection_->resume_reading();
  return false;
}

void Pop3Connection::login(const std::string& user, const std::string& secret, bool apop) {
  std::weak_ptr<Pop3Connection> weak = shared_from_this();
  auto done = [weak](AuthResult result) {
    auto s = weak.lock();
    if (!s || s->connection_->closed()) return;
    using Outcome = pop3::Session::LoginOutcome;
    switch (result.outcome) {
      case AuthResult::Outcome::ok: {
        s->context_.connections.logged_in(s->connection_->id());
        auto* retention = s->context_.retention.get();
        if (retention && !retention->login_allowed(result.account_id, result.address)) {
          s->session_->on_login_result(Outcome::login_delay);
          return s->pump();
        }
        return s->lock_maildrop(result.account_id, result.address);
      }
      case AuthResult::Outcome::bad_credentials:
        s->session_->on_login_result(Outcome::bad_credentials);
        return s->pump();
      case AuthResult::Outcome::temp_failure:
        s->session_->on_login_result(Outcome::temp_failure);
        return s->pump();
    }
  };
  if (apop) {
    context_.auth->check_apop({connection_->peer_ip(), id_}, user, timestamp_, secret,
                              std::move(done));
  } else {
    context_.auth->check_password({connection_->peer_ip(), id_, AuthService::Service::pop3}, user,
                                  secret, std::move(done));
  }
}

void Pop3Connection::lock_maildrop(std::int64_t account_id, std::string address) {
  std::weak_ptr<Pop3Connection> weak = shared_from_this();
  auto lost = [weak] {
    auto s = weak.lock();
    if (!s || s->connection_->closed()) return;
    // Another box may serve the maildrop now: this session must not touch it again.
    log_line("session=", s->id_, " maildrop lock lost with the store connection");
    s->lock_ticket_ = 0;
    s->connection_->close("maildrop lock lost");
  };
  context_.locks.acquire(
      account_id, std::move(lost),
      [weak, account_id, address = std::move(address)](MailboxLocks::Acquired lock) {
        auto s = weak.lock();
        if (!s || s->connection_->closed()) {
          if (lock.outcome == MailboxLocks::Outcome::held && s)
            s->context_.locks.unlock(account_id, lock.ticket);
          return;
        }
        using Outcome = pop3::Session::LoginOutcome;
        switch (lock.outcome) {
          case MailboxLocks::Outcome::in_use:
            s->session_->on_login_result(Outcome::in_use);
            return s->pump();
          case MailboxLocks::Outcome::unavailable:
            s->session_->on_login_result(Outcome::temp_failure);
            return s->pump();
          case MailboxLocks::Outcome::held:
            break;
        }
        s->locked_account_ = account_id;
        s->lock_ticket_ = lock.ticket;
        s->login_address_ = address;
        s->load_maildrop(account_id);
      });
}

void Pop3Connection::unlock_maildrop() {
  if (locked_account_ && lock_ticket_) context_.locks.unlock(*locked_account_, lock_ticket_);
  locked_account_.reset();
  lock_ticket_ = 0;
}

void Pop3Connection::load_maildrop(std::int64_t account_id) {
  // Filled on a pool thread, message by message, into the compact snapshot.
  auto maildrop = std::make_shared<pop3::Maildrop>();
  std::weak_ptr<Pop3Connection> weak = shared_from_this();
  context_.store->list_mailbox(
      account_id,
      {.expect = [maildrop](std::size_t messages,
                            std::size_t uidl_bytes) { maildrop->reserve(messages, uidl_bytes); },
       .each = [maildrop](std::int64_t id, std::uint64_t size,
                          std::string_view uidl) { maildrop->add(id, size, uidl); }},
      [weak, maildrop](Result<std::size_t> listed) {
        auto s = weak.lock();
        if (!s || s->connection_->closed()) return;
        if (!listed) {
          log_line("session=", s->id_, " maildrop read failed: ", listed.error().message);
          // The session stays in AUTHORIZATION and may log in again (S14): a lock
          // kept here would answer that retry, and every other session, [IN-USE].
          s->unlock_maildrop();
          s->session_->on_login_result(pop3::Session::LoginOutcome::temp_failure);
          return s->pump();
        }
        std::optional<pop3::Announced> policy;
        if (s->context_.retention) {
          // LOGIN-DELAY counts from logins that reached TRANSACTION.
          s->context_.retention->logged_in(*s->locked_account_);
          policy = s->context_.retention->user_announcement(s->login_address_);
        }
        s->session_->on_login_result(pop3::Session::LoginOutcome::ok, std::move(*maildrop), policy);
        s->pump();
      });
}

void Pop3Connection::retrieve(std::int64_t message) {
  if (auto whole = read_ahead_->take(message)) {
    session_->on_content(*whole);
    session_->on_content_end();
    return pump();
  }
  transfer_ = Transfer{message, 0, false};
  read_next_chunk();
}

void Pop3Connection::read_next_chunk() {
  if (!transfer_ || transfer_->reading || connection_->closed()) return;
  if (connection_->pending_write_bytes() > kHighWater) return;  // on_drain resumes
  if (!session_->content_wanted()) {
    transfer_.reset();
    session_->on_content_end();
    return pump();
  }
  transfer_->reading = true;
  std::int64_t message = transfer_->message;
  std::int64_t seq = transfer_->next_seq;
  // From the start of a message, the following ones come along in the same trip.
  ReadAhead::Plan plan;
  if (seq == 0) plan = read_ahead_->plan_after(message, session_->maildrop().ids());
  store::MessageRead request{*locked_account_,         message,    seq, kHighWater,
                             std::move(plan.messages), plan.budget};
  std::weak_ptr<Pop3Connection> weak = shared_from_this();
  context_.store->read_message(std::move(request), [weak](Result<store::MessageChunks> read) {
    auto s = weak.lock();
    if (!s || !s->transfer_ || s->connection_->closed()) return;
    s->transfer_->reading = false;
    if (!read) {
      log_line("session=", s->id_, " message read failed: ", read.error().message);
      s->transfer_.reset();
      s->session_->on_content_failed();
      return s->pump();
    }
    s->read_ahead_->add(std::move(read->ahead));
    for (const auto& chunk : read->batch.chunks) s->session_->on_content(chunk);
    s->transfer_->next_seq += static_cast<std::int64_t>(read->batch.chunks.size());
    if (read->batch.complete) {
      s->transfer_.reset();
      s->session_->on_content_end();
      return s->pump();
    }
    s->pump();
    s->touch();  // a long download is activity, not idleness
    s->read_next_chunk();
  });
}

void Pop3Connection::update(std::vector<std::int64_t> ids) {
  auto account = *locked_account_;
  std::weak_ptr<Pop3Connection> weak = shared_from_this();
  busy_ = true;
  // +OK after QUIT only once the deletions are durable (design §3).
  context_.store->delete_deliveries(account, std::move(ids), [weak](Result<int> removed) {
    auto s = weak.lock();
    if (!s) return;
    s->busy_ = false;
    if (!removed) log_line("session=", s->id_, " update failed: ", removed.error().message);
    if (s->connection_->closed()) return;
    s->session_->on_update_done(bool(removed));
    s->pump();
  });
}

void Pop3Connection::shutdown() {
  stopping_ = true;
  // POP3 sessions end without UPDATE; an UPDATE already submitted finishes first.
  if (!busy_) connection_->close("shutdown");
}

void Pop3Connection::on_closed(const std::string& reason) {
  idle_.stop();
  login_deadline_.stop();
  // Submitted before the lock goes, so a purge (which takes the lock first) is written after.
  // A session that ends without QUIT still counts its downloads.
  if (session_) collect_retrieved();
  if (locked_account_ && !retrieved_.empty()) {
    context_.store->mark_retrieved(
        *locked_account_, std::move(retrieved_), [id = id_](Result<int> marked) {
          if (!marked)
            log_line("session=", id, " recording downloads failed: ", marked.error().message);
        });
    retrieved_.clear();
  }
  unlock_maildrop();
  context_.connections.release(connection_->id());
  context_.metrics.pop3_retrievals += session_ ? session_->retrieved() : 0;
  log_line("session=", id_, " pop3 closed peer=", connection_->peer_ip(),
           " user=", session_ && session_->authenticated() ? session_->user() : "-",
           " retrieved=", session_ ? session_->retrieved() : 0,
           " deleted=", session_ ? session_->deleted() : 0, " reason=", reason);
  if (on_finished) on_finished();
}

}  // namespace postroom::service
