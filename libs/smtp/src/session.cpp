// The session core: input pumping, state changes, replies, host answers and the one teardown path.
#include <utility>

#include "postroom/base/log.hpp"
#include "postroom/base/sasl.hpp"
#include "session_impl.hpp"

namespace postroom::smtp {

const char* state_name(State state) {
  switch (state) {
    case State::initial:
      return "initial";
    case State::ready:
      return "ready";
    case State::auth_response:
      return "auth_response";
    case State::wait_auth:
      return "wait_auth";
    case State::wait_recipient:
      return "wait_recipient";
    case State::data:
      return "data";
    case State::bdat:
      return "bdat";
    case State::wait_store:
      return "wait_store";
    case State::tls_pending:
      return "tls_pending";
    case State::closed:
      return "closed";
  }
  return "?";
}

Session::Impl::Impl(SessionParams p) : params(std::move(p)) {
  if (!params.clock) params.clock = [] { return std::time(nullptr); };
  // RFC 5321 §4.3.1 / §4.2: the greeting names the server; no enhanced code (RFC 2034 §3).
  send(make_reply(220, "", params.hostname + " ESMTP postroom"));
}

// The only place the state changes.
void Session::Impl::enter(State next) {
  if (params.trace_states && next != state) {
    log_line("session=", params.session_id, " smtp state ", state_name(state), " -> ",
             state_name(next));
  }
  state = next;
}

void Session::Impl::push(Action action) {
  actions.push_back(std::move(action));
}

// Consecutive replies share one Send, so a pipelined batch is answered with one write
// (RFC 2920 §3.2 lets the server group its responses).
void Session::Impl::send(const Reply& reply) {
  std::string bytes = format_reply(reply);
  queued_reply_bytes += bytes.size();
  if (!actions.empty()) {
    if (auto* last = std::get_if<Send>(&actions.back())) {
      last->bytes += bytes;
      return;
    }
  }
  push(Send{std::move(bytes)});
}

void Session::Impl::send_error(const Reply& reply) {
  send(reply);
  if (++errors >= kMaxErrors && state != State::closed) {
    close(make_reply(421, "4.7.0", params.hostname + " Too many errors"), "too many errors");
  }
}

void Session::Impl::end_transaction(std::string outcome, std::string store_error) {
  if (!transaction) return;
  Transaction& t = *transaction;
  // A message the host was told about but that will not be committed.
  if (t.message && !t.message_ended) push(MessageAbort{});
  TransactionRecord record;
  record.id = t.envelope.transaction_id;
  record.reverse_path =
      "<" + (t.envelope.reverse_path ? t.envelope.reverse_path->str() : std::string()) + ">";
  for (const Recipient& r : t.envelope.recipients) record.recipients.push_back(r.address.str());
  record.size = t.message ? t.message->stream.size() : 0;
  record.outcome = std::move(outcome);
  record.store_error = std::move(store_error);
  log.push_back(std::move(record));
  transaction.reset();
}

// The one teardown path: roll back the open transaction, say the last word, emit Close.
void Session::Impl::close(const std::optional<Reply>& last, std::string reason) {
  if (state == State::closed) return;
  if (state == State::wait_store) {
    // Never abandon a commit in flight: finish it, then close (see on_message_stored).
    if (!deferred_close) {
      deferred_close = last;
      deferred_close_reason = std::move(reason);
    }
    return;
  }
  end_transaction("aborted: " + reason);
  if (auth) {
    sasl::wipe(auth->user);
    auth.reset();
  }
  if (last) send(*last);
  push(Close{std::move(reason)});
  enter(State::closed);
}

void Session::Impl::use_reader(std::size_t max_line) {
  LineReader next(max_line);
  next.append(reader.take_buffered());
  reader = std::move(next);
}

bool Session::Impl::waiting() const {
  return state == State::wait_auth || state == State::wait_recipient ||
         state == State::wait_store || state == State::tls_pending;
}

std::string Session::Impl::transaction_id() const {
  return params.session_id + "." + std::to_string(transactions);
}

// Runs commands (and message bytes) from the buffered input until input runs out or the
// host's answer is needed.
void Session::Impl::pump() {
  replies_held = false;
  while (state != State::closed && !waiting()) {
    // Pipelined commands wait once their replies fill the budget, so a client that never
    // reads cannot grow the host's write queue without bound (RFC 2920 §3.1 lets a server
    // stop reading while its replies are not read).
    if (!in_body() && queued_reply_bytes >= kReplyBudget && reader.buffered_size() > 0) {
      replies_held = true;
      return;
    }
    if (in_body()) {
      if (reader.buffered_size() == 0) return;
      std::string rest = reader.take_buffered();
      std::size_t used = consume_body(rest);
      if (used < rest.size()) reader.append(std::string_view(rest).substr(used));
      continue;
    }
    auto line = reader.next();
    if (!line) return;
    handle_line(*line);
  }
}

Session::Session(SessionParams params) : impl_(std::make_unique<Impl>(std::move(params))) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

void Session::feed(std::string_view bytes) {
  Impl& s = *impl_;
  // After STARTTLS, plaintext that was pipelined behind it is dropped unread (RFC 3207 §4.2,
  // CVE-2011-0411).
  if (s.state == State::closed || s.state == State::tls_pending) return;
  // Message bytes with nothing queued ahead of them skip the line buffer (no copy).
  if (s.in_body() && s.reader.buffered_size() == 0) bytes.remove_prefix(s.consume_body(bytes));
  if (!bytes.empty()) s.reader.append(bytes);
  s.pump();
}

std::vector<Action> Session::take_actions() {
  impl_->queued_reply_bytes = 0;
  return std::exchange(impl_->actions, {});
}

bool Session::replies_held() const {
  return impl_->replies_held && impl_->state != State::closed;
}

bool Session::waiting() const {
  return impl_->waiting();
}
bool Session::closed() const {
  return impl_->state == State::closed;
}

std::vector<TransactionRecord> Session::take_transaction_log() {
  return std::exchange(impl_->log, {});
}

void Session::on_recipient_checked(RecipientVerdict verdict) {
  Impl& s = *impl_;
  if (s.state != State::wait_recipient || !s.transaction || !s.transaction->pending_recipient) {
    return;
  }
  Address address = std::move(*s.transaction->pending_recipient);
  s.transaction->pending_recipient.reset();
  s.enter(State::ready);
  using Kind = RecipientVerdict::Kind;
  std::string who = "<" + address.str() + ">: ";
  bool accept = false;
  switch (verdict.kind) {
    case Kind::local:
      accept = true;
      break;
    case Kind::remote:
      // Relaying needs AUTH or a trusted peer on the mx listener; the host decided only
      // whether the address is ours.
      accept = !s.auth_user.empty() || (s.params.peer_trusted && s.params.listener == Listener::mx);
      if (!accept) s.send(make_reply(554, "5.7.1", who + "Relay access denied"));
      break;
    case Kind::unknown_user:
      s.send(make_reply(550, "5.1.1", who + "Recipient address rejected: User unknown"));
      break;
    case Kind::temp_failure:
      s.send(make_reply(451, "4.3.0", who + "Temporary lookup failure, try again later"));
      break;
    case Kind::refused:
      s.send(make_reply(verdict.code, verdict.enhanced, who + verdict.text));
      break;
  }
  if (accept) {
    s.transaction->envelope.recipients.push_back(Recipient{std::move(address), std::move(verdict)});
    s.send(make_reply(250, "2.1.5", "Ok"));
  }
  s.pump();
}

void Session::on_auth_result(bool ok, std::vector<std::string> allowed_senders) {
  Impl& s = *impl_;
  if (s.state != State::wait_auth || !s.auth) return;
  std::string user = std::move(s.auth->user);
  s.auth.reset();
  s.enter(State::ready);
  if (ok) {
    s.auth_user = std::move(user);
    s.allowed_senders.clear();
    for (const std::string& a : allowed_senders) s.allowed_senders.push_back(to_lower_ascii(a));
    s.send(make_reply(235, "2.7.0", "Authentication successful"));
  } else {
    s.send_error(make_reply(535, "5.7.8", "Authentication credentials invalid"));
  }
  s.pump();
}

void Session::on_message_stored(Result<std::string> stored_id) {
  Impl& s = *impl_;
  if (s.state != State::wait_store) return;
  s.enter(State::ready);
  if (stored_id) {
    Reply ok = make_reply(250, "2.0.0", "Ok: queued as " + *stored_id);
    s.send(ok);
    s.end_transaction(ok.first_line());
  } else {
    // Nothing was stored: a temporary failure, so the client keeps the message (RFC 5321 §4.2.5).
    Reply retry = make_reply(451, "4.3.0", "Error: message not stored, try again later");
    s.send(retry);
    s.end_transaction(retry.first_line(), stored_id.error().message);
  }
  if (s.deferred_close) {
    auto last = std::exchange(s.deferred_close, std::nullopt);
    s.close(last, s.deferred_close_reason);
    return;
  }
  s.pump();
}

void Session::on_message_refused(int code, std::string_view enhanced, std::string_view text) {
  Impl& s = *impl_;
  if (s.state != State::wait_store) return;
  s.enter(State::ready);
  // Only refusals: an answer that would claim success must come from on_message_stored.
  std::string enhanced_code(enhanced);
  if (code < 400 || code > 599) {
    code = 451;
    enhanced_code = "4.7.1";
  }
  // The text may come from outside (a milter): no line break may split the reply.
  std::string line(text);
  for (char& c : line) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  Reply refused = make_reply(code, enhanced_code, line);
  s.send(refused);
  s.end_transaction(refused.first_line());
  if (s.deferred_close) {
    auto last = std::exchange(s.deferred_close, std::nullopt);
    s.close(last, s.deferred_close_reason);
    return;
  }
  s.pump();
}

void Session::on_tls_started() {
  Impl& s = *impl_;
  if (s.state != State::tls_pending) return;
  // RFC 3207 §4.2: forget everything learned from the client before TLS.
  s.params.tls_active = true;
  s.params.starttls_available = false;
  s.params.plaintext_auth_allowed = true;
  s.helo.clear();
  s.esmtp = false;
  s.auth_user.clear();
  s.allowed_senders.clear();
  s.transaction.reset();
  s.auth.reset();
  s.reader = LineReader(kMaxCommandLine);
  s.enter(State::initial);
}

void Session::on_idle_timeout() {
  Impl& s = *impl_;
  s.close(make_reply(421, "4.4.2", s.params.hostname + " Error: timeout exceeded"), "idle timeout");
}

void Session::on_shutdown() {
  Impl& s = *impl_;
  s.close(make_reply(421, "4.3.2", s.params.hostname + " Service shutting down"), "shutdown");
}

}  // namespace postroom::smtp
