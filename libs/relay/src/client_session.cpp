// The SMTP client state machine: greeting, EHLO/HELO, STARTTLS, AUTH, envelope, DATA, QUIT.
#include "postroom/relay/client_session.hpp"

#include <algorithm>
#include <utility>

#include "postroom/base/log.hpp"
#include "sasl_client.hpp"

namespace postroom::relay {

namespace {

// Addresses go into "MAIL FROM:<...>" and "RCPT TO:<...>" verbatim; anything
// that could end the command or the path early is refused before sending.
bool is_safe_path(std::string_view address) {
  return std::none_of(address.begin(), address.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f || c == '<' || c == '>';
  });
}

Outcome outcome_of(int kind) {
  if (kind == 2) return Outcome::delivered;
  return kind == 5 ? Outcome::permanent : Outcome::temporary;
}

// The status a reply stands for: its enhanced code, else "N.0.0" from its class.
std::string status_of(const Reply& reply) {
  std::string status = reply.enhanced_status();
  if (status.empty()) status = std::to_string(reply.kind()) + ".0.0";
  return status;
}

// What the session is waiting for, in words, for timeout and disconnect texts.
std::string_view waiting_for(ClientSession::State state) {
  using State = ClientSession::State;
  switch (state) {
    case State::greeting:
      return "the greeting";
    case State::ehlo:
      return "the reply to EHLO";
    case State::helo:
      return "the reply to HELO";
    case State::starttls:
      return "the reply to STARTTLS";
    case State::tls_handshake:
      return "the TLS handshake";
    case State::auth:
    case State::auth_login_user:
    case State::auth_login_pass:
      return "the reply to AUTH";
    case State::mail_rcpt:
      return "the reply to MAIL or RCPT";
    case State::data:
      return "the reply to DATA";
    case State::body:
      return "the message body to be sent";
    case State::data_end:
      return "the reply to the end of data";
    case State::rset:
      return "the reply to RSET";
    case State::idle:
      return "the next message";
    case State::quit:
      return "the reply to QUIT";
    case State::closed:
      break;
  }
  return "nothing";
}

}  // namespace

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::delivered:
      return "delivered";
    case Outcome::temporary:
      return "temporary";
    case Outcome::permanent:
      return "permanent";
  }
  return "unknown";
}

std::string_view to_string(ClientSession::State state) {
  using State = ClientSession::State;
  switch (state) {
    case State::greeting:
      return "greeting";
    case State::ehlo:
      return "ehlo";
    case State::helo:
      return "helo";
    case State::starttls:
      return "starttls";
    case State::tls_handshake:
      return "tls_handshake";
    case State::auth:
      return "auth";
    case State::auth_login_user:
      return "auth_login_user";
    case State::auth_login_pass:
      return "auth_login_pass";
    case State::mail_rcpt:
      return "mail_rcpt";
    case State::data:
      return "data";
    case State::body:
      return "body";
    case State::data_end:
      return "data_end";
    case State::rset:
      return "rset";
    case State::idle:
      return "idle";
    case State::quit:
      return "quit";
    case State::closed:
      return "closed";
  }
  return "unknown";
}

std::string describe(const Action& action) {
  struct Describe {
    std::string operator()(const Send& send) const {
      if (send.sensitive) return "send <redacted>";
      return "send " + std::to_string(send.bytes.size()) + " octets";
    }
    std::string operator()(const StartTls&) const { return "start tls"; }
    std::string operator()(const NeedBody&) const { return "need body"; }
    std::string operator()(const Done& done) const {
      std::string out = "done";
      for (const RecipientResult& result : done.results) {
        out += ' ';
        out += result.address;
        out += '=';
        out += to_string(result.kind);
      }
      return out;
    }
    std::string operator()(const Ready&) const { return "ready"; }
    std::string operator()(const Close& close) const { return "close reason=" + close.reason; }
  };
  return std::visit(Describe{}, action);
}

ClientSession::ClientSession(ClientParams params) : params_(std::move(params)) {
  tls_active_ = params_.tls == TlsMode::implicit;
  if (!load_envelope()) close_now("nothing to deliver");
}

bool ClientSession::load_envelope() {
  const Envelope& envelope = params_.envelope;
  results_.assign(envelope.recipients.size(), std::nullopt);
  accepted_.assign(envelope.recipients.size(), false);
  pending_.clear();
  next_rcpt_ = 0;
  mail_failed_ = false;
  done_emitted_ = false;
  transaction_replied_ = false;
  unanswered_ = false;
  encoder_ = DataEncoder{};
  if (!is_safe_path(envelope.sender)) {
    finalize_local(Outcome::permanent, "5.1.7 invalid sender address");
  }
  for (std::size_t i = 0; i < envelope.recipients.size(); ++i) {
    const std::string& address = envelope.recipients[i];
    if (!results_[i] && (address.empty() || !is_safe_path(address))) {
      results_[i] = RecipientResult{
          address, Outcome::permanent, "5.1.3 invalid recipient address", 0, "5.1.3", {}};
    }
  }
  return !std::all_of(results_.begin(), results_.end(),
                      [](const auto& r) { return r.has_value(); });
}

void ClientSession::next_envelope(Envelope envelope) {
  if (state_ != State::idle) return;
  params_.envelope = std::move(envelope);
  if (!load_envelope()) {
    // Nothing to send: the results are ours, and the session stays as it was.
    emit_done();
    actions_.emplace_back(Ready{});
    return;
  }
  start_transaction();
}

void ClientSession::quit() {
  if (state_ != State::idle) return;
  send("QUIT\r\n");
  enter(State::quit);
}

void ClientSession::enter(State next) {
  if (params_.trace) log_line("relay: state ", to_string(state_), " -> ", to_string(next));
  state_ = next;
}

std::vector<Action> ClientSession::take_actions() {
  return std::exchange(actions_, {});
}

void ClientSession::send(std::string bytes, bool sensitive) {
  actions_.emplace_back(Send{std::move(bytes), sensitive});
}

void ClientSession::feed(std::string_view bytes) {
  if (state_ == State::closed) return;
  if (state_ == State::tls_handshake) {
    // RFC 3207 §5: nothing may arrive in plaintext between the 220 and the
    // handshake; acting on it would let an attacker inject replies.
    abort("4.7.0 server sent plaintext during the TLS handshake");
    return;
  }
  parser_.append(bytes);
  while (state_ != State::closed && state_ != State::tls_handshake) {
    std::optional<Result<Reply>> next = parser_.next();
    if (!next) break;
    if (!next->has_value()) {
      abort("4.5.0 protocol error: " + next->error().message);
      break;
    }
    handle(next->value());
  }
}

void ClientSession::handle(const Reply& reply) {
  if (state_ == State::quit) {
    close_now("QUIT answered");
    return;
  }
  // RFC 5321 §3.8: 421 may come in reply to any command; the server is closing.
  if (reply.code == 421) {
    if (state_ == State::mail_rcpt && !transaction_replied_) unanswered_ = true;
    finalize_pending(Outcome::temporary, reply.one_line(), reply.code, status_of(reply));
    close_now("server said 421");
    return;
  }
  switch (state_) {
    case State::greeting:
      on_greeting(reply);
      break;
    case State::ehlo:
      on_hello(reply, true);
      break;
    case State::helo:
      on_hello(reply, false);
      break;
    case State::starttls:
      on_starttls(reply);
      break;
    case State::auth:
    case State::auth_login_user:
    case State::auth_login_pass:
      on_auth(reply);
      break;
    case State::mail_rcpt:
      on_mail_rcpt(reply);
      break;
    case State::data:
      on_data(reply);
      break;
    case State::body:
      // The server spoke before the end of data (a 552 or 554 mid-message): its
      // word holds for every accepted recipient; we cannot QUIT inside DATA.
      finalize_pending(reply.kind() == 5 ? Outcome::permanent : Outcome::temporary,
                       reply.one_line(), reply.code, status_of(reply));
      close_now("server replied during the message body");
      break;
    case State::data_end:
      on_data_end(reply);
      break;
    case State::rset:
      on_rset(reply);
      break;
    case State::idle:
      // Nothing was asked: a reply now is out of step (a 421 was handled above).
      abort("4.5.0 protocol error: unexpected reply between transactions " + reply.one_line());
      break;
    case State::tls_handshake:
    case State::quit:
    case State::closed:
      break;
  }
}

void ClientSession::on_greeting(const Reply& reply) {
  // RFC 5321 §3.1: 220 opens the session; 554 (or any 5xx) refuses service,
  // and the client should still send QUIT.
  if (reply.kind() == 2) {
    send_ehlo();
  } else if (reply.kind() == 4 || reply.kind() == 5) {
    finalize_from_reply(reply);
    finish();
  } else {
    abort("4.5.0 protocol error: unexpected greeting " + reply.one_line());
  }
}

void ClientSession::send_ehlo() {
  send("EHLO " + params_.hostname + "\r\n");
  enter(State::ehlo);
}

void ClientSession::on_hello(const Reply& reply, bool was_ehlo) {
  if (reply.kind() == 2) {
    extensions_ = was_ehlo ? Extensions::parse(reply) : Extensions{};
    proceed();
  } else if (reply.kind() == 5 && was_ehlo) {
    // RFC 5321 §4.1.4: a server that does not know EHLO gets HELO, and then no extensions.
    send("HELO " + params_.hostname + "\r\n");
    enter(State::helo);
  } else if (reply.kind() == 4 || reply.kind() == 5) {
    finalize_from_reply(reply);
    finish();
  } else {
    abort("4.5.0 protocol error: unexpected reply to " + std::string(was_ehlo ? "EHLO " : "HELO ") +
          reply.one_line());
  }
}

void ClientSession::proceed() {
  const TlsMode mode = params_.tls;
  if (!tls_active_ && !starttls_tried_ &&
      (mode == TlsMode::opportunistic || mode == TlsMode::required)) {
    if (mode == TlsMode::required && !params_.tls_available) {
      finalize_local(Outcome::temporary, "4.7.0 TLS required but not available here");
      finish();
      return;
    }
    if (params_.tls_available && extensions_.starttls) {
      starttls_tried_ = true;
      send("STARTTLS\r\n");
      enter(State::starttls);
      return;
    }
    if (mode == TlsMode::required) {
      finalize_local(Outcome::temporary, "4.7.0 TLS required but not offered");
      finish();
      return;
    }
  }
  if (params_.credentials && !authenticated_) {
    // RFC 4954 §4 lets PLAIN and LOGIN go only over a protected channel
    // unless the admin explicitly chose a plaintext smarthost (TlsMode::none).
    if (!tls_active_ && mode != TlsMode::none) {
      finalize_local(Outcome::temporary, "4.7.0 not sending credentials without TLS");
      finish();
      return;
    }
    const Credentials& credentials = *params_.credentials;
    if (extensions_.offers_auth("PLAIN")) {
      // RFC 4954 §4: the initial response saves a round trip.
      send("AUTH PLAIN " + detail::plain_response(credentials.username, credentials.password) +
               "\r\n",
           true);
      enter(State::auth);
      return;
    }
    if (extensions_.offers_auth("LOGIN")) {
      send("AUTH LOGIN\r\n");
      enter(State::auth_login_user);
      return;
    }
    finalize_local(Outcome::temporary,
                   extensions_.auth_mechanisms.empty()
                       ? "4.7.0 credentials configured but the server offers no AUTH"
                       : "4.7.0 the server offers no AUTH mechanism we support (PLAIN, LOGIN)");
    finish();
    return;
  }
  start_transaction();
}

void ClientSession::on_starttls(const Reply& reply) {
  if (reply.kind() == 2) {
    if (parser_.buffered_size() > 0) {
      // RFC 3207 §5: bytes pipelined behind the 220 are plaintext injection.
      abort("4.7.0 server sent data after its STARTTLS reply");
      return;
    }
    actions_.emplace_back(StartTls{});
    enter(State::tls_handshake);
  } else if (reply.kind() == 4 || reply.kind() == 5) {
    if (params_.tls == TlsMode::required) {
      finalize_local(Outcome::temporary,
                     "4.7.0 TLS required but STARTTLS failed: " + reply.one_line());
      finish();
    } else {
      proceed();  // RFC 3207 §4: the client may go on without TLS.
    }
  } else {
    abort("4.5.0 protocol error: unexpected reply to STARTTLS " + reply.one_line());
  }
}

void ClientSession::on_tls_started() {
  if (state_ != State::tls_handshake) return;
  // RFC 3207 §4.2: forget everything learned in plaintext and ask again.
  tls_active_ = true;
  extensions_ = Extensions{};
  send_ehlo();
}

void ClientSession::on_tls_failed(std::string_view reason) {
  if (state_ == State::closed) return;
  abort("4.7.0 TLS handshake failed: " + std::string(reason));
}

void ClientSession::on_auth(const Reply& reply) {
  const Credentials& credentials = *params_.credentials;
  if (reply.code == 334 && state_ == State::auth_login_user) {
    // The LOGIN mechanism's prompts ("Username:", "Password:") are fixed; we answer in order.
    send(sasl::base64_encode(credentials.username) + "\r\n", true);
    enter(State::auth_login_pass);
  } else if (reply.code == 334 && state_ == State::auth_login_pass) {
    send(sasl::base64_encode(credentials.password) + "\r\n", true);
    enter(State::auth);
  } else if (reply.kind() == 2 && state_ == State::auth) {
    authenticated_ = true;  // RFC 4954 §4: 235; no new EHLO is needed.
    proceed();
  } else if (reply.kind() == 4 || reply.kind() == 5) {
    // RFC 4954 §6: 535 5.7.8 bad credentials (permanent), 454 4.7.0 temporary failure.
    finalize_from_reply(reply);
    finish();
  } else {
    abort("4.5.0 protocol error: unexpected reply to AUTH " + reply.one_line());
  }
}

void ClientSession::start_transaction() {
  const Envelope& envelope = params_.envelope;
  if (envelope.needs_smtputf8 && !extensions_.smtputf8) {
    // RFC 6531 §3.4: without SMTPUTF8 the message cannot be sent as it is.
    finalize_local(Outcome::permanent, "5.6.7 server does not support SMTPUTF8");
    end_transaction(false);
    return;
  }
  if (extensions_.size && *extensions_.size > 0 && envelope.size > *extensions_.size) {
    // RFC 1870 §6: do not send a message the server has said it will refuse.
    finalize_local(Outcome::permanent, "5.3.4 message size " + std::to_string(envelope.size) +
                                           " exceeds the server's limit of " +
                                           std::to_string(*extensions_.size) + " octets");
    end_transaction(false);
    return;
  }
  std::string commands = "MAIL FROM:<" + envelope.sender + ">";
  if (extensions_.size) commands += " SIZE=" + std::to_string(envelope.size);
  // RFC 6152 §3: without 8BITMIME an 8-bit body is sent unlabelled, as most
  // MTAs do; downgrading it would change the stored message.
  if (envelope.body_8bit && extensions_.eightbitmime) commands += " BODY=8BITMIME";
  if (envelope.needs_smtputf8) commands += " SMTPUTF8";
  commands += "\r\n";
  pending_.push_back({Pending::mail, 0});
  next_rcpt_ = 0;
  transaction_replied_ = false;
  if (extensions_.pipelining) {
    // RFC 2920 §3.1: MAIL and every RCPT in one write; DATA waits for their
    // replies so it is sent only when a recipient was accepted.
    for (std::size_t i = 0; i < envelope.recipients.size(); ++i) {
      if (results_[i]) continue;
      commands += "RCPT TO:<" + envelope.recipients[i] + ">\r\n";
      pending_.push_back({Pending::rcpt, i});
    }
    next_rcpt_ = envelope.recipients.size();
  }
  send(std::move(commands));
  enter(State::mail_rcpt);
}

bool ClientSession::send_next_rcpt() {
  const std::vector<std::string>& recipients = params_.envelope.recipients;
  while (next_rcpt_ < recipients.size() && results_[next_rcpt_]) ++next_rcpt_;
  if (next_rcpt_ >= recipients.size()) return false;
  send("RCPT TO:<" + recipients[next_rcpt_] + ">\r\n");
  pending_.push_back({Pending::rcpt, next_rcpt_});
  ++next_rcpt_;
  return true;
}

void ClientSession::on_mail_rcpt(const Reply& reply) {
  const int kind = reply.kind();
  if (pending_.empty() || (kind != 2 && kind != 4 && kind != 5)) {
    abort("4.5.0 protocol error: unexpected reply to MAIL or RCPT " + reply.one_line());
    return;
  }
  transaction_replied_ = true;
  PendingReply answered = pending_.front();
  pending_.pop_front();
  if (answered.what == Pending::mail) {
    if (kind != 2) {
      // The transaction never started; pipelined RCPT replies (503s) are read and ignored.
      mail_failed_ = true;
      finalize_from_reply(reply);
    }
  } else if (!mail_failed_) {
    if (kind == 2) {
      accepted_[answered.recipient] = true;  // RFC 5321 §4.1.1.3: 250 or 251.
    } else {
      results_[answered.recipient] =
          RecipientResult{params_.envelope.recipients[answered.recipient],
                          outcome_of(kind),
                          reply.one_line(),
                          reply.code,
                          status_of(reply),
                          {}};
    }
  }
  if (!pending_.empty()) return;
  if (!mail_failed_ && send_next_rcpt()) return;
  if (std::find(accepted_.begin(), accepted_.end(), true) != accepted_.end()) {
    send("DATA\r\n");
    enter(State::data);
  } else {
    // A refused MAIL opened no transaction; refused recipients leave MAIL's open.
    end_transaction(!mail_failed_);
  }
}

void ClientSession::on_data(const Reply& reply) {
  if (reply.code == 354) {
    actions_.emplace_back(NeedBody{});
    enter(State::body);
  } else if (reply.kind() == 4 || reply.kind() == 5) {
    finalize_from_reply(reply);
    end_transaction(true);
  } else {
    abort("4.5.0 protocol error: unexpected reply to DATA " + reply.one_line());
  }
}

void ClientSession::send_body_chunk(std::string_view bytes) {
  if (state_ != State::body) return;
  std::string out;
  encoder_.encode(bytes, out);
  if (!out.empty()) send(std::move(out));
}

void ClientSession::end_body() {
  if (state_ != State::body) return;
  std::string out;
  encoder_.finish(out);
  send(std::move(out));
  enter(State::data_end);
}

void ClientSession::on_data_end(const Reply& reply) {
  // RFC 5321 §4.1.1.4 (and §3.3): one reply for the whole message, so it holds
  // for every recipient that RCPT accepted.
  if (reply.kind() == 2 || reply.kind() == 4 || reply.kind() == 5) {
    // RFC 5321 §4.1.1.4: the reply clears the transaction, whatever it says.
    finalize_from_reply(reply);
    end_transaction(false);
  } else {
    abort("4.5.0 protocol error: unexpected reply to end of data " + reply.one_line());
  }
}

void ClientSession::on_rset(const Reply& reply) {
  if (reply.kind() == 2) {
    enter(State::idle);
    actions_.emplace_back(Ready{});
  } else {
    // A server that will not reset cannot be trusted with another envelope.
    finish();
  }
}

void ClientSession::end_transaction(bool open) {
  if (!params_.reuse) return finish();
  emit_done();
  if (open) {
    send("RSET\r\n");
    enter(State::rset);
    return;
  }
  enter(State::idle);
  actions_.emplace_back(Ready{});
}

void ClientSession::on_timeout() {
  if (state_ == State::closed) return;
  if (state_ == State::quit) {
    close_now("timed out waiting for the reply to QUIT");
    return;
  }
  abort("4.4.2 timed out waiting for " + std::string(waiting_for(state_)));
}

void ClientSession::on_disconnected() {
  if (state_ == State::closed) return;
  if (state_ == State::quit) {
    close_now("server closed the connection after QUIT");
    return;
  }
  if (state_ == State::idle) {
    close_now("server closed the idle connection");
    return;
  }
  if (state_ == State::mail_rcpt && !transaction_replied_) unanswered_ = true;
  abort("4.4.2 connection lost while waiting for " + std::string(waiting_for(state_)));
}

void ClientSession::finalize_pending(Outcome kind, const std::string& reply, int code,
                                     const std::string& status) {
  // RFC 3463 §3.1: the class digit states the outcome. A reply of the wrong class (a server
  // out of step, say 250 before the body) keeps its text but gets "X.5.0", a protocol error.
  char wanted = kind == Outcome::delivered ? '2' : kind == Outcome::temporary ? '4' : '5';
  std::string agreed =
      !status.empty() && status[0] == wanted ? status : std::string(1, wanted) + ".5.0";
  for (std::size_t i = 0; i < results_.size(); ++i) {
    if (results_[i]) continue;
    results_[i] = RecipientResult{params_.envelope.recipients[i], kind, reply, code, agreed, {}};
  }
}

void ClientSession::finalize_from_reply(const Reply& reply) {
  finalize_pending(outcome_of(reply.kind()), reply.one_line(), reply.code, status_of(reply));
}

void ClientSession::finalize_local(Outcome kind, std::string_view text) {
  std::string_view status = text.substr(0, text.find(' '));
  finalize_pending(kind, std::string(text), 0, std::string(status));
}

void ClientSession::finish() {
  send("QUIT\r\n");
  enter(State::quit);
  emit_done();
}

void ClientSession::abort(std::string_view text) {
  finalize_local(Outcome::temporary, text);
  close_now(std::string(text));
}

void ClientSession::close_now(std::string reason) {
  emit_done();
  actions_.emplace_back(Close{std::move(reason)});
  enter(State::closed);
}

void ClientSession::emit_done() {
  if (done_emitted_) return;
  done_emitted_ = true;
  Done done;
  done.unanswered = unanswered_;
  done.results.reserve(results_.size());
  for (std::size_t i = 0; i < results_.size(); ++i) {
    if (results_[i]) {
      done.results.push_back(*results_[i]);
    } else {  // Unreachable by construction; never report a recipient as delivered by accident.
      done.results.push_back(RecipientResult{params_.envelope.recipients[i],
                                             Outcome::temporary,
                                             "4.4.0 delivery not attempted",
                                             0,
                                             "4.4.0",
                                             {}});
    }
  }
  actions_.emplace_back(std::move(done));
}

}  // namespace postroom::relay
