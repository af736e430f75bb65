// The session loop: command lines to handlers, replies to Send actions, host answers to resumption.
#include "session_core.hpp"

#include <optional>
#include <utility>

#include "commands.hpp"

namespace postroom::pop3::detail {

namespace {

// RFC 1939 §3: a reply line is at most 512 octets including its CRLF.
constexpr std::size_t kMaxReplyLine = 512;

std::string plural(std::size_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

}  // namespace

SessionCore::SessionCore(SessionParams session_params)
    : params(std::move(session_params)), reader(params.limits.max_command_line) {
  if (params.tls_active) params.stls_available = false;
  // RFC 1939 §4 greeting, with the APOP timestamp of §7 at its end.
  std::string greeting = "+OK ";
  if (!params.hostname.empty()) greeting += params.hostname + " ";
  greeting += "POP3 server ready";
  if (!params.apop_timestamp.empty()) greeting += " " + params.apop_timestamp;
  send_line(greeting);
}

void SessionCore::feed(std::string_view bytes) {
  // RFC 2595 §4: nothing received between STLS and the handshake is a command
  // (the CVE-2011-0411 injection class); after Close nothing matters.
  if (state == State::closed || pending == Pending::tls) return;
  reader.append(bytes);
  process();
}

void SessionCore::process() {
  replies_held = false;
  while (state != State::closed && pending == Pending::nothing) {
    // Pipelined commands wait once their replies fill the budget: a client that sends LIST
    // after LIST and never reads must not grow the host's write queue without bound.
    if (queued_reply_bytes >= kReplyBudget && reader.buffered_size() > 0) {
      replies_held = true;
      return;
    }
    std::optional<Line> line = reader.next();
    if (!line) return;
    handle_line(*line);
  }
}

void SessionCore::handle_line(const Line& line) {
  if (line.too_long) {
    // The reader already dropped the line's bytes; a SASL exchange cannot go on without them.
    awaiting_sasl_response = false;
    reply_bad("line too long");
    return;
  }
  if (awaiting_sasl_response) {
    awaiting_sasl_response = false;
    handle_sasl_response(*this, line.text);
    return;
  }
  std::optional<CommandLine> command = parse_command_line(line.text);
  if (!command) {
    reply_bad("unknown command");
    return;
  }
  const CommandSpec* spec = find_command(commands_for(state), command->verb);
  if (spec == nullptr) {
    reply_bad(is_known_command(command->verb) ? "command not valid in this state"
                                              : "unknown command");
    return;
  }
  if (!check_arguments(*this, *spec, *command)) return;
  spec->handler(*this, *command);
}

void SessionCore::push(Action action) {
  if (auto* send_action = std::get_if<Send>(&action); send_action && !actions.empty()) {
    if (auto* last = std::get_if<Send>(&actions.back())) {
      last->bytes += send_action->bytes;  // One write for a pipelined burst of replies.
      return;
    }
  }
  actions.push_back(std::move(action));
}

namespace {
// Our own texts are short; host-supplied strings (hostname, timestamp, UIDLs) are
// kept to one line and within the limit here.
std::string wire_line(std::string_view line) {
  std::string text(line.substr(0, kMaxReplyLine - 2));
  for (char& c : text) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  text += "\r\n";
  return text;
}
}  // namespace

void SessionCore::send(std::string_view bytes) {
  send_owned(std::string(bytes));
}

void SessionCore::send_owned(std::string bytes) {
  queued_reply_bytes += bytes.size();
  push(Send{std::move(bytes)});
}

void SessionCore::send_line(std::string_view line) {
  send_owned(wire_line(line));
}

void SessionCore::reply_ok(std::string_view text) {
  bad_commands = 0;
  send_line(text.empty() ? std::string("+OK") : "+OK " + std::string(text));
}

void SessionCore::reply_bad(std::string_view text) {
  if (++bad_commands >= params.limits.max_bad_commands) {
    send_line("-ERR too many bad commands");
    close("too many bad commands");
    return;
  }
  send_line("-ERR " + std::string(text));
}

void SessionCore::reply_failure(std::string_view text) {
  send_line("-ERR " + std::string(text));
}

void SessionCore::reply_listing(std::string_view text,
                                const std::function<void(std::size_t, std::string&)>& rest) {
  bad_commands = 0;  // as reply_ok: the command succeeded
  // The status line and the whole listing in one buffer, no string per line (RFC 1939
  // §7: "n uidl", §5: "n size", undeleted only). It is sized exactly in a first pass and
  // handed on without a copy: on a mailbox of 100,000 messages the listing is ~3 MiB,
  // and a buffer that doubles while it fills, then copies, held three to four times that
  // at the session's peak.
  std::string status = wire_line(text.empty() ? std::string("+OK") : "+OK " + std::string(text));
  std::string line;
  auto each_line = [&](auto&& use) {
    for (std::size_t i = 0; i < maildrop.size(); ++i) {
      if (marked[i]) continue;
      line = std::to_string(i + 1);
      line += ' ';
      rest(i, line);
      use(std::string_view(line).substr(0, kMaxReplyLine - 2));
    }
  };
  std::size_t total = status.size() + 3;
  each_line([&](std::string_view l) { total += l.size() + 2; });
  std::string body;
  body.reserve(total);
  body += status;
  each_line([&](std::string_view l) {
    body += l;
    body += "\r\n";
  });
  body += ".\r\n";
  send_owned(std::move(body));
}

void SessionCore::reply_multiline(std::string_view text, const std::vector<std::string>& lines) {
  reply_ok(text);
  std::string body;
  for (const std::string& line : lines) {
    // Every line we list starts with a digit or a capability name, never ".",
    // so no dot-stuffing is needed; the cap still applies.
    body.append(line.substr(0, kMaxReplyLine - 2));
    body += "\r\n";
  }
  body += ".\r\n";
  send(body);
}

void SessionCore::enter_state(State next) {
  state = next;
}

void SessionCore::wait_for(Pending what) {
  pending = what;
}

void SessionCore::close(std::string reason) {
  push(Close{std::move(reason)});
  enter_state(State::closed);
  pending = Pending::nothing;
  awaiting_sasl_response = false;
  retrieval.reset();
  reader.take_buffered();  // Whatever the client pipelined after this is never answered.
}

std::size_t SessionCore::live_count() const {
  std::size_t count = 0;
  for (std::size_t i = 0; i < maildrop.size(); ++i) count += marked[i] ? 0 : 1;
  return count;
}

std::uint64_t SessionCore::live_size() const {
  std::uint64_t size = 0;
  for (std::size_t i = 0; i < maildrop.size(); ++i) size += marked[i] ? 0 : maildrop.octets(i);
  return size;
}

void SessionCore::login_result(Session::LoginOutcome outcome, Maildrop snapshot,
                               std::optional<Announced> user_policy) {
  if (pending != Pending::login) return;
  pending = Pending::nothing;
  switch (outcome) {
    case Session::LoginOutcome::ok:
      // RFC 2449 §6.5, §6.7: after login CAPA gives this user's values, without USER.
      if (user_policy) {
        params.announced = *user_policy;
        params.announced.expire_per_user = false;
        params.announced.login_delay_per_user = false;
      }
      maildrop = std::move(snapshot);
      marked.assign(maildrop.size(), false);
      authenticated = true;
      enter_state(State::transaction);
      reply_ok("maildrop has " + plural(live_count(), "message") + " (" +
               std::to_string(live_size()) + " octets)");
      break;
    case Session::LoginOutcome::bad_credentials:
      login_failed();
      break;
    case Session::LoginOutcome::in_use:
      reply_failure("[IN-USE] Maildrop is in use by another session");  // RFC 2449 §8.1.1
      break;
    case Session::LoginOutcome::temp_failure:
      reply_failure("[SYS/TEMP] Temporary failure, try again later");  // RFC 3206 §5
      break;
    case Session::LoginOutcome::login_delay:
      // RFC 2449 §8.1.1: not a wrong password, so it does not count toward the failures.
      reply_failure("[LOGIN-DELAY] Minimum time between logins has not passed yet");
      break;
  }
  process();
}

void SessionCore::login_failed() {
  // RFC 3206 §4 [AUTH]; one text for unknown users and wrong passwords alike.
  reply_failure("[AUTH] Invalid login");
  if (++failed_logins >= params.limits.max_failed_logins) close("too many failed logins");
}

void SessionCore::content(std::string_view chunk) {
  if (pending != Pending::content || !retrieval) return;
  std::string out;
  if (!retrieval->status_sent) {
    bad_commands = 0;
    out = "+OK " + retrieval->status + "\r\n";
    retrieval->status_sent = true;
  }
  retrieval->encoder.encode(chunk, out);
  if (!out.empty()) send(out);
}

void SessionCore::content_end() {
  if (pending != Pending::content || !retrieval) return;
  content({});  // Sends the status line if no content came (an empty message).
  std::string out;
  retrieval->encoder.finish(out);
  out += ".\r\n";
  send(out);
  if (!retrieval->is_top) ++retrieved;
  // A TOP whose encoder still wanted more passed the whole message (RFC 2449 §6.7 retention
  // counts from the first whole download).
  if (!retrieval->is_top || retrieval->encoder.wants_more()) retrieved_ids.push_back(retrieval->id);
  retrieval.reset();
  pending = Pending::nothing;
  process();
}

void SessionCore::content_failed() {
  if (pending != Pending::content || !retrieval) return;
  if (retrieval->status_sent) {
    // Part of the multi-line reply is out; no "-ERR" can follow it.
    close("message could not be read");
    return;
  }
  retrieval.reset();
  pending = Pending::nothing;
  reply_failure("[SYS/TEMP] Message could not be read");
  process();
}

void SessionCore::update_done(bool ok) {
  if (pending != Pending::update) return;
  pending = Pending::nothing;
  if (ok) {
    deleted = marked_for_update;
    send_line("+OK postroom signing off (" + plural(static_cast<std::size_t>(deleted), "message") +
              " deleted)");
    close("client quit");
  } else {
    // RFC 1939 §6: the deletions did not happen; say so and end the session.
    reply_failure("[SYS/TEMP] Deletions could not be committed, no message was deleted");
    close("update failed");
  }
}

void SessionCore::tls_started() {
  if (pending != Pending::tls) return;
  pending = Pending::nothing;
  // RFC 2595 §4: forget everything learned before the handshake.
  params.tls_active = true;
  params.stls_available = false;
  params.plaintext_allowed = true;
  user_given.reset();
  awaiting_sasl_response = false;
  bad_commands = 0;
  user.clear();
  reader.take_buffered();
  enter_state(State::authorization);
}

}  // namespace postroom::pop3::detail
