// SMTP over the network: recipient lookups and auth off the loop, bodies streamed to the writer.
#include "postroom/service/smtp_connection.hpp"

#include <algorithm>
#include <variant>

#include "filter_chain.hpp"
#include "postroom/base/log.hpp"
#include "postroom/base/wipe.hpp"
#include "postroom/service/auth_service.hpp"
#include "postroom/service/context.hpp"
#include "postroom/service/dnsbl.hpp"
#include "postroom/service/greylisting.hpp"
#include "postroom/service/quota_check.hpp"
#include "postroom/service/srs_routing.hpp"
#include "postroom/service/vacation.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/mail_store.hpp"
#include "session_wiring.hpp"

namespace postroom::service {

namespace {
// Chunk writes allowed in flight before the connection stops reading the body.
constexpr int kMaxChunksInFlight = 2;
// Stop reading commands while this much of the replies is still waiting for the socket.
constexpr std::size_t kReplyHighWater = 256 * 1024;
// Body octets the filters may hold for a slow milter before the client must wait.
constexpr std::size_t kFilterBacklogHighWater = 1 << 20;
// The slowest transfer a message may take, on top of smtp_idle_timeout: a message of
// max_message_size must arrive at 8 KiB/s at least (ISDN manages 8). A client sending a
// byte now and then cannot hold its slot for ever.
constexpr std::uint64_t kMinDataRate = 8 * 1024;

std::chrono::milliseconds ms(Seconds s) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(s);
}
}  // namespace

SmtpConnection::SmtpConnection(Context& context, std::shared_ptr<net::Connection> connection,
                               Kind kind, bool implicit_tls)
    : context_(context),
      connection_(std::move(connection)),
      kind_(kind),
      implicit_tls_(implicit_tls),
      id_(context.new_session_id()),
      idle_(context.loop),
      login_deadline_(context.loop),
      line_deadline_(context.loop),
      message_deadline_(context.loop),
      sink_(context) {}

SmtpConnection::~SmtpConnection() = default;

void SmtpConnection::start() {
  auto self = shared_from_this();
  const auto& config = *context_.config;
  if (implicit_tls_) connection_->start_tls(context_.tls, net::TlsEngine::Role::server);
  smtp::SessionParams params;
  params.hostname = config.hostname;
  params.listener = kind_ == Kind::mx ? smtp::Listener::mx : smtp::Listener::submission;
  params.peer_ip = connection_->peer_ip();
  params.peer_trusted = kind_ == Kind::mx && config.is_trusted(connection_->peer());
  bool params_trusted = params.peer_trusted;
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
  auto events = session_events(self, implicit_tls_);
  events.on_drain = [weak] {
    if (auto s = weak.lock()) s->pump();  // replies drained: held commands run, reading resumes
  };
  connection_->start(std::move(events));
  touch();
  if (kind_ == Kind::submission) {
    start_deadline(login_deadline_, ms(config.limits.login_timeout), self,
                   [](SmtpConnection& s) { s.deadline_passed("login"); });
  }
  // DNS blocklists in reject mode answer instead of the greeting (dnsbl.cpp); the client's
  // early bytes wait unread meanwhile.
  connection_->pause_reading();
  dnsbl_gate(context_, connection_->peer_ip(), kind_ == Kind::mx, params_trusted,
             [weak](std::optional<std::string> refusal) {
               auto s = weak.lock();
               if (!s || s->connection_->closed()) return;
               if (!refusal) return s->pump();
               log_line("session=", s->id_, " smtp refused at connect: dnsbl");
               s->context_.metrics.refuse("dnsbl listed");
               s->connection_->write(*refusal);
               s->connection_->close_after_flush("dnsbl listed");
             });
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
  track_deadlines(bytes);
  session_->feed(bytes);
  pump();
}

void SmtpConnection::track_deadlines(std::string_view bytes) {
  // The message deadline covers its bytes; between messages, a line that has begun must
  // end in time. The session keeps at most one partial line: it is open exactly when the
  // last byte received is not its LF.
  if (in_message_ || bytes.empty()) return;
  bool ended_one = bytes.find('\n') != std::string_view::npos;
  bool open = bytes.back() != '\n';
  if (open && (!line_open_ || ended_one)) {
    start_deadline(line_deadline_, ms(context_.config->limits.smtp_idle_timeout),
                   shared_from_this(),
                   [](SmtpConnection& s) { s.deadline_passed("command line"); });
  } else if (!open) {
    line_deadline_.stop();
  }
  line_open_ = open;
}

void SmtpConnection::deadline_passed(std::string_view which) {
  if (connection_->closed()) return;
  log_line("session=", id_, " smtp ", which, " deadline passed peer=", connection_->peer_ip());
  session_->on_idle_timeout();  // 421 4.4.2, then close (after a commit under way)
  pump();
}

void SmtpConnection::pump() {
  // The session stops running pipelined commands once their replies fill its budget; they
  // run on from here while the socket takes the replies, else when it has drained.
  while (run_actions()) session_->feed({});
}

bool SmtpConnection::run_actions() {
  if (connection_->closed()) return false;
  for (auto& action : session_->take_actions()) {
    if (auto* send = std::get_if<smtp::Send>(&action)) {
      connection_->write(send->bytes);
    } else if (std::holds_alternative<smtp::StartTls>(action)) {
      connection_->start_tls(context_.tls, net::TlsEngine::Role::server);
    } else if (auto* auth = std::get_if<smtp::Authenticate>(&action)) {
      authenticate(auth->user, auth->password);
      wipe(auth->password);  // the auth service holds its own copy until it has verified
    } else if (auto* check = std::get_if<smtp::CheckRecipient>(&action)) {
      check_recipient(*check);
    } else if (auto* begin = std::get_if<smtp::MessageBegin>(&action)) {
      envelope_ = std::move(begin->envelope);
      sink_.begin(envelope_->return_path_length);
      start_filters();
      in_message_ = true;
      line_open_ = false;
      line_deadline_.stop();
      const auto& limits = context_.config->limits;
      auto whole = ms(limits.smtp_idle_timeout) +
                   std::chrono::milliseconds(limits.max_message_size * 1000 / kMinDataRate);
      start_deadline(message_deadline_, whole, shared_from_this(),
                     [](SmtpConnection& s) { s.deadline_passed("message"); });
    } else if (auto* data = std::get_if<smtp::MessageData>(&action)) {
      sink_.append(data->bytes);
    } else if (std::holds_alternative<smtp::MessageEnd>(action)) {
      in_message_ = false;
      message_deadline_.stop();
      finish_message();
    } else if (std::holds_alternative<smtp::MessageAbort>(action)) {
      in_message_ = false;
      message_deadline_.stop();
      sink_.abort();
      filters_.reset();
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
  return !connection_->closed() && session_->replies_held() && connection_->reading();
}

void SmtpConnection::update_reading() {
  if (connection_->closed()) return;
  // Back-pressure: no reading while the session waits for an answer, the writer is behind,
  // a filter (a milter) is behind, or the replies already written wait for a client that
  // does not read them (on_drain).
  if (session_->waiting() || sink_.chunks_in_flight() > kMaxChunksInFlight ||
      (filters_ && filters_->backlog() > kFilterBacklogHighWater) ||
      connection_->pending_write_bytes() > kReplyHighWater) {
    connection_->pause_reading();
  } else {
    connection_->resume_reading();
  }
}

void SmtpConnection::check_recipient(const smtp::CheckRecipient& check) {
  std::weak_ptr<SmtpConnection> weak = shared_from_this();
  checking_ = check.address;  // one RCPT at a time: the session waits for the answer
  // The route ("<postmaster>" and postmaster@ every local domain per RFC 5321 §4.5.1), the
  // quotas of its mailboxes and whether one has an away reply: one read.
  context_.store->recipient_facts(
      check.address, context_.config->domains, quota_defaults(context_.config->quota),
      [weak, check](Result<store::RecipientFacts> facts) {
        auto s = weak.lock();
        if (!s || s->connection_->closed()) return;
        smtp::RecipientVerdict verdict;
        using Kind = smtp::RecipientVerdict::Kind;
        if (!facts) {
          log_line("session=", s->id_, " recipient lookup failed: ", facts.error().message);
          verdict.kind = Kind::temp_failure;
        } else {
          const auto& route = facts->route;
          switch (route.kind) {
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
          verdict.mailboxes = route.accounts;
          verdict.forward_to = route.remote;
          verdict.may_be_away = facts->may_be_away;
          // A bounce to an SRS address of ours goes back to the original sender.
          if (verdict.kind == Kind::unknown_user)
            route_srs_bounce(s->context_, s->checking_, verdict, s->id_);
          // Quotas (quota_check.cpp), then greylisting (greylisting.cpp) for mail to local
          // mailboxes from outside.
          apply_quota(s->id_, check.declared_size, *facts, verdict);
        }
        if (verdict.kind != Kind::local) {
          s->session_->on_recipient_checked(std::move(verdict));
          return s->pump();
        }
        s->greylist_then_answer(check, std::move(verdict));
      });
}

void SmtpConnection::greylist_then_answer(const smtp::CheckRecipient& check,
                                          smtp::RecipientVerdict verdict) {
  std::weak_ptr<SmtpConnection> weak = shared_from_this();
  greylist_recipient(context_, connection_->peer_ip(), kind_ == Kind::mx,
                     kind_ == Kind::mx && context_.config->is_trusted(connection_->peer()),
                     check.authenticated, check.reverse_path, check.address,
                     [weak, verdict = std::move(verdict)](GreylistDecision d) mutable {
                       auto s = weak.lock();
                       if (!s || s->connection_->closed()) return;
                       verdict.greylist_unless_aligned = d == GreylistDecision::unless_aligned;
                       if (d == GreylistDecision::defer) {
                         verdict.kind = smtp::RecipientVerdict::Kind::refused;
                         verdict.code = 451;
                         verdict.enhanced = "4.7.1";
                         verdict.text = "Greylisted, please try again later";
                       }
                       s->session_->on_recipient_checked(std::move(verdict));
                       s->pump();
                     });
}

void SmtpConnection::authenticate(const std::string& user, const std::string& password) {
  std::weak_ptr<SmtpConnection> weak = shared_from_this();
  AuthService::Peer who{connection_->peer_ip(), id_, AuthService::Service::smtp};
  context_.auth->check_password(who, user, password, [weak](AuthResult result) {
    auto s = weak.lock();
    if (!s || s->connection_->closed()) return;
    bool ok = result.outcome == AuthResult::Outcome::ok;
    if (ok) {
      s->context_.connections.logged_in(s->connection_->id());
      s->login_deadline_.stop();
      s->device_ = std::move(result.device);
    }
    s->session_->on_auth_result(ok, std::move(result.sender_addresses));
    s->pump();
  });
}

FilterEnvelope SmtpConnection::filter_envelope() {
  FilterEnvelope e;
  e.submission = kind_ == Kind::submission;
  e.authenticated = !envelope_->auth_user.empty();
  e.auth_user = envelope_->auth_user;
  if (e.authenticated && device_) {
    e.device_id = device_->id;
    e.device_name = device_->name;
    e.device_rate_per_hour = device_->rate_per_hour;
  }
  e.trusted = kind_ == Kind::mx && context_.config->is_trusted(connection_->peer());
  e.tls = connection_->tls_active();
  e.peer_ip = connection_->peer_ip();
  e.helo = envelope_->helo;
  e.hostname = context_.config->hostname;
  e.reverse_path = envelope_->reverse_path;
  for (const auto& rcpt : envelope_->recipients) {
    e.recipients.push_back(rcpt.address);
    if (!rcpt.verdict.mailboxes.empty()) e.has_local_recipients = true;
    if (rcpt.verdict.greylist_unless_aligned) e.greylist_unless_aligned.push_back(rcpt.address);
    for (const auto& remote : rcpt.verdict.forward_to) {
      if (std::find(e.remote_recipients.begin(), e.remote_recipients.end(), remote) ==
          e.remote_recipients.end())
        e.remote_recipients.push_back(remote);
    }
  }
  e.transaction_id = envelope_->transaction_id;
  std::weak_ptr<SmtpConnection> weak = weak_from_this();
  e.backlog_shrank = [weak] {
    if (auto s = weak.lock()) s->update_reading();
  };
  return e;
}

void SmtpConnection::start_filters() {
  filters_.reset();
  sink_.on_headers = nullptr;
  sink_.on_body = nullptr;
  if (context_.filters.empty()) return;
  filters_ = std::make_unique<FilterChain>(context_.filters, filter_envelope());
  if (filters_->empty()) return filters_.reset();
  // The sink outlives neither the connection nor the chain it calls into (both members).
  sink_.on_headers = [this](const HeaderSection& headers) {
    if (filters_) filters_->headers_complete(headers);
  };
  sink_.on_body = [this](std::string_view bytes) {
    if (filters_) filters_->body(bytes);
  };
}

void SmtpConnection::finish_message() {
  if (sink_.header_too_large()) {
    refuse(552, "5.3.4",
           "Message header section exceeds " + std::to_string(MessageSink::kMaxHeaderSection) +
               " octets",
           "header section too large");
    return;
  }
  if (!filters_) return commit();
  std::weak_ptr<SmtpConnection> weak = shared_from_this();
  filters_->finish(sink_.headers(), [weak](FilterVerdict verdict) {
    auto s = weak.lock();
    if (!s || s->connection_->closed()) return;
    s->filters_.reset();
    s->filter_log_ = std::move(verdict.log);
    using Action = FilterVerdict::Action;
    switch (verdict.action) {
      case Action::accept:
        return s->commit();
      case Action::reject:
      case Action::tempfail: {
        int fallback = verdict.action == Action::reject ? 550 : 451;
        bool fits = verdict.action == Action::reject ? verdict.code >= 500 && verdict.code < 600
                                                     : verdict.code >= 400 && verdict.code < 500;
        int code = fits ? verdict.code : fallback;
        std::string enhanced = verdict.enhanced;
        if (enhanced.empty() || enhanced[0] != static_cast<char>('0' + code / 100))
          enhanced = code >= 500 ? "5.7.1" : "4.7.1";
        std::string text = verdict.text.empty() ? "Message refused" : verdict.text;
        return s->refuse(code, enhanced, text, "refused by a filter");
      }
      case Action::discard:
        s->log_verdicts("discarded");
        s->sink_.abort();
        s->envelope_.reset();
        s->session_->on_message_stored(std::string("discarded"));
        return s->pump();
    }
  });
}

void SmtpConnection::refuse(int code, const std::string& enhanced, const std::string& text,
                            std::string_view why) {
  log_verdicts(why);
  context_.metrics.refuse(std::string(why));
  sink_.abort();
  filters_.reset();
  envelope_.reset();
  session_->on_message_refused(code, enhanced, text);
  pump();
}

void SmtpConnection::log_verdicts(std::string_view outcome) {
  if (filter_log_.empty() && outcome.empty()) return;
  log_line("session=", id_, " message verdicts peer=", connection_->peer_ip(), " ", filter_log_,
           filter_log_.empty() ? "" : " ", "outcome=\"", outcome, "\"");
  filter_log_.clear();
}

void SmtpConnection::commit() {
  if (!filter_log_.empty()) log_verdicts("accepted");
  store::Destination destination;
  store::QueueRequest queue;
  queue.sender = envelope_ && envelope_->reverse_path ? envelope_->reverse_path->str() : "";
  queue.smtputf8 = envelope_ && envelope_->smtputf8;
  queue.body_8bit = envelope_ && envelope_->body == smtp::BodyType::eight_bit_mime;
  std::vector<std::int64_t> quota_limited;  // looked at for warnings once stored
  bool may_be_away = false;
  if (envelope_) {
    for (const auto& rcpt : envelope_->recipients) {
      may_be_away = may_be_away || rcpt.verdict.may_be_away;
      for (auto id : rcpt.verdict.mailboxes) {
        if (std::find(destination.accounts.begin(), destination.accounts.end(), id) ==
            destination.accounts.end()) {
          destination.accounts.push_back(id);
          if (rcpt.verdict.quota_limited) quota_limited.push_back(id);
        }
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
  // Away replies go out only for mail that was delivered here, once it is (vacation.hpp).
  auto away = may_be_away ? away_candidate({envelope_ ? envelope_->reverse_path : std::nullopt},
                                           destination.accounts, sink_.headers())
                          : std::nullopt;
  envelope_.reset();
  std::weak_ptr<SmtpConnection> weak = shared_from_this();
  sink_.commit(std::move(destination), [weak, queued, &context = context_, away = std::move(away),
                                        quota_limited = std::move(quota_limited)](
                                           Result<store::StoredMessage> stored) mutable {
    if (stored && queued && context.wake_relay) context.wake_relay();
    if (stored && away) send_away_replies(context, std::move(*away));
    if (stored) ++context.metrics.messages_received;
    if (stored) send_quota_warnings(context, quota_limited);
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
  login_deadline_.stop();
  line_deadline_.stop();
  message_deadline_.stop();
  sink_.abort();  // a message still arriving was never acknowledged
  filters_.reset();
  context_.connections.release(connection_->id());
  log_line("session=", id_, " smtp closed peer=", connection_->peer_ip(), " reason=", reason);
  if (on_finished) on_finished();
}

}  // namespace postroom::service
