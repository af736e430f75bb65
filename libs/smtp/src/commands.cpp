// SMTP command dispatch: a table of {verb, handler}; each handler checks sequence and syntax first.
#include <algorithm>
#include <array>
#include <cctype>

#include "bdat.hpp"
#include "path_parser.hpp"
#include "postroom/base/sasl.hpp"
#include "session_impl.hpp"

namespace postroom::smtp {
namespace {

using Impl = Session::Impl;

Reply ok(std::string_view enhanced = "2.0.0") {
  return make_reply(250, enhanced, "Ok");
}
Reply sequence(std::string_view text) {
  return make_reply(503, "5.5.1", text);
}
Reply syntax(std::string_view text) {
  return make_reply(501, "5.5.4", text);
}

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// EHLO/HELO (RFC 5321 §4.1.1.1); both also reset any transaction (§4.1.4). The name is a
// Domain or address literal, US-ASCII either way (SMTPUTF8 is negotiated only after EHLO, and
// the name goes on into Received lines and the log); the rest of the syntax is not enforced,
// since real clients send bare host names and underscores.
void hello(Impl& s, std::string_view args, bool extended) {
  std::string_view name = args.substr(0, args.find(' '));
  if (name.empty() || has_control(name)) {
    s.send_error(syntax(extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname"));
    return;
  }
  if (!is_ascii(name)) {
    s.send_error(syntax(extended ? "Syntax: EHLO hostname (US-ASCII only)"
                                 : "Syntax: HELO hostname (US-ASCII only)"));
    return;
  }
  s.end_transaction("aborted: new EHLO/HELO");
  s.helo = std::string(name);
  s.esmtp = extended;
  s.enter(State::ready);
  if (!extended) {
    s.send(make_reply(250, "", s.params.hostname));
    return;
  }
  Reply r{250, "", {s.params.hostname}};
  r.lines.push_back("PIPELINING");                                         // RFC 2920
  r.lines.push_back("SIZE " + std::to_string(s.params.max_message_size));  // RFC 1870
  r.lines.push_back("8BITMIME");                                           // RFC 6152
  r.lines.push_back("ENHANCEDSTATUSCODES");                                // RFC 2034
  r.lines.push_back("SMTPUTF8");                                           // RFC 6531
  r.lines.push_back("CHUNKING");                                           // RFC 3030
  if (s.params.starttls_available && !s.params.tls_active) r.lines.push_back("STARTTLS");
  if (s.params.plaintext_auth_allowed && s.auth_user.empty()) {
    r.lines.push_back("AUTH PLAIN LOGIN");  // RFC 4954
  }
  s.send(r);
}

void cmd_ehlo(Impl& s, std::string_view args) {
  hello(s, args, true);
}
void cmd_helo(Impl& s, std::string_view args) {
  hello(s, args, false);
}

void cmd_mail(Impl& s, std::string_view args) {
  if (s.state == State::initial) return s.send_error(sequence("Error: send HELO/EHLO first"));
  if (s.transaction) return s.send_error(sequence("Error: nested MAIL command"));
  // RFC 6409 §4.3: the submission port requires authentication before MAIL.
  if (s.params.listener == Listener::submission && s.auth_user.empty()) {
    return s.send_error(make_reply(530, "5.7.0", "Authentication required"));
  }
  auto mail = parse_mail(args);
  if (!mail) return s.send_error(mail.error());
  if (mail->reverse_path && !mail->smtputf8 && !is_ascii(*mail->reverse_path)) {
    // RFC 6531 §3.5: non-ASCII addresses need the SMTPUTF8 parameter.
    return s.send(make_reply(553, "5.6.7", "Non-ASCII sender address requires SMTPUTF8"));
  }
  if (mail->size && *mail->size > s.params.max_message_size) {
    return s.send(make_reply(552, "5.3.4", "Message size exceeds fixed limit"));  // RFC 1870 §6.1
  }
  if (!s.auth_user.empty()) {
    // RFC 6409 §6.1: an authenticated user sends only as an address they own.
    std::string sender = mail->reverse_path ? mail->reverse_path->str() : std::string();
    bool owned = mail->reverse_path && std::find(s.allowed_senders.begin(), s.allowed_senders.end(),
                                                 sender) != s.allowed_senders.end();
    if (!owned) {
      return s.send(
          make_reply(553, "5.7.1", "<" + sender + ">: Sender address rejected: not owned by user"));
    }
  }
  ++s.transactions;
  Transaction t;
  t.envelope.reverse_path = std::move(mail->reverse_path);
  t.envelope.body = mail->body;
  t.envelope.smtputf8 = mail->smtputf8;
  t.envelope.declared_size = mail->size;
  t.envelope.helo = s.helo;
  t.envelope.auth_user = s.auth_user;
  t.envelope.transaction_id = s.transaction_id();
  s.transaction = std::move(t);
  s.send(ok("2.1.0"));
}

void cmd_rcpt(Impl& s, std::string_view args) {
  if (!s.transaction) return s.send_error(sequence("Error: need MAIL command"));
  if (s.transaction->bdat) return s.send_error(sequence("Error: BDAT transfer in progress"));
  auto rcpt = parse_rcpt(args);
  if (!rcpt) return s.send_error(rcpt.error());
  if (!s.transaction->envelope.smtputf8 && !is_ascii(rcpt->forward_path)) {
    return s.send(make_reply(553, "5.6.7", "Non-ASCII recipient address requires SMTPUTF8"));
  }
  if (s.transaction->envelope.recipients.size() >= s.params.max_recipients) {
    return s.send(make_reply(452, "4.5.3", "Too many recipients"));  // RFC 5321 §4.5.3.1.10
  }
  // The address goes to the host exactly as parsed: "u%h@local", "h!u@local" and
  // "\"u@h\"@local" are local parts of a local domain, never re-routed here.
  s.transaction->pending_recipient = rcpt->forward_path;
  s.push(CheckRecipient{std::move(rcpt->forward_path), s.transaction->envelope.reverse_path,
                        !s.auth_user.empty(), s.transaction->envelope.declared_size});
  s.enter(State::wait_recipient);
}

// RFC 5321 §4.1.1.4.
void cmd_data(Impl& s, std::string_view args) {
  if (!args.empty()) return s.send_error(syntax("Syntax: DATA"));
  if (!s.transaction) return s.send_error(sequence("Error: need MAIL command"));
  if (s.transaction->bdat) return s.send_error(sequence("Error: DATA after BDAT"));  // RFC 3030 §3
  if (s.transaction->envelope.recipients.empty()) {
    return s.send_error(make_reply(554, "5.5.1", "Error: no valid recipients"));
  }
  s.begin_message();
  s.send(make_reply(354, "", "End data with <CR><LF>.<CR><LF>"));
  s.enter(State::data);
}

// RFC 3030 §2: the octets of a chunk always follow the command, so they are consumed even when
// the command is refused; only an unreadable size leaves them to be read as commands.
void cmd_bdat(Impl& s, std::string_view args) {
  auto bdat = parse_bdat(args);
  if (!bdat) return s.send_error(bdat.error());
  std::optional<Reply> refusal;
  if (!s.transaction) {
    refusal = sequence("Error: need MAIL command");
  } else if (s.transaction->envelope.recipients.empty()) {
    refusal = make_reply(554, "5.5.1", "Error: no valid recipients");
  }
  if (!refusal && !s.transaction->bdat) {
    s.transaction->bdat = true;
    s.transaction->envelope.chunking = true;
    s.begin_message();
  }
  s.start_bdat_chunk(bdat->size, bdat->last, std::move(refusal));
}

void cmd_rset(Impl& s, std::string_view args) {
  if (!args.empty()) return s.send_error(syntax("Syntax: RSET"));
  s.end_transaction("aborted: rset");
  s.send(ok());
}

void cmd_noop(Impl& s, std::string_view) {
  s.send(ok());
}  // RFC 5321 §4.1.1.9: args ignored

void cmd_quit(Impl& s, std::string_view args) {
  if (!args.empty()) return s.send_error(syntax("Syntax: QUIT"));
  s.close(make_reply(221, "2.0.0", s.params.hostname + " Bye"), "quit");
}

// RFC 5321 §3.5.3: 252 says neither yes nor no, so VRFY cannot be used to harvest users.
void cmd_vrfy(Impl& s, std::string_view args) {
  if (args.empty()) return s.send_error(syntax("Syntax: VRFY address"));
  s.send(
      make_reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"));
}

void cmd_help(Impl& s, std::string_view) {
  s.send(
      make_reply(214, "2.0.0",
                 "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH"));
}

// RFC 3207 §4: after the 220, everything already received in plaintext is thrown away.
void cmd_starttls(Impl& s, std::string_view args) {
  if (!args.empty()) return s.send_error(syntax("Syntax: STARTTLS"));
  if (s.params.tls_active) return s.send_error(sequence("Error: TLS already active"));
  if (!s.params.starttls_available) return s.send(make_reply(454, "4.7.0", "TLS not available"));
  if (s.transaction) return s.send_error(sequence("Error: MAIL transaction in progress"));
  s.send(make_reply(220, "2.0.0", "Ready to start TLS"));
  s.push(StartTls{});
  s.reader.take_buffered();  // CVE-2011-0411: no pipelined plaintext survives into TLS
  s.enter(State::tls_pending);
}

// RFC 4954 §4.
void cmd_auth(Impl& s, std::string_view args) {
  if (!s.esmtp || s.state == State::initial)
    return s.send_error(sequence("Error: send EHLO first"));
  if (!s.auth_user.empty()) return s.send_error(sequence("Error: already authenticated"));
  if (s.transaction) return s.send_error(sequence("Error: MAIL transaction in progress"));
  std::size_t space = args.find(' ');
  std::string mechanism = to_lower_ascii(args.substr(0, space));
  std::optional<std::string_view> initial;
  if (space != std::string_view::npos) initial = args.substr(space + 1);
  if (mechanism.empty() || (initial && initial->find(' ') != std::string_view::npos)) {
    return s.send_error(syntax("Syntax: AUTH mechanism [initial-response]"));
  }
  AuthExchange exchange;
  if (mechanism == "plain") {
    exchange.mechanism = AuthExchange::Mechanism::plain;
  } else if (mechanism == "login") {
    exchange.mechanism = AuthExchange::Mechanism::login;
  } else {
    return s.send_error(make_reply(504, "5.5.4", "Unrecognized authentication type"));
  }
  if (!s.params.plaintext_auth_allowed) {
    return s.send(
        make_reply(538, "5.7.11", "Encryption required for requested authentication mechanism"));
  }
  s.auth = std::move(exchange);
  s.enter(State::auth_response);
  if (initial) {
    // "=" is an empty initial response (RFC 4954 §4).
    s.handle_auth_response(*initial == "=" ? std::string_view() : *initial);
    return;
  }
  // PLAIN: an empty challenge. LOGIN: "Username:" (draft-murchison-sasl-login).
  bool plain = s.auth->mechanism == AuthExchange::Mechanism::plain;
  s.send(make_reply(334, "", plain ? "" : "VXNlcm5hbWU6"));
  s.use_reader(kMaxSaslLine);
}

struct Command {
  std::string_view verb;
  void (*handler)(Impl&, std::string_view args);
};

constexpr std::array<Command, 13> kCommands = {{
    {"EHLO", cmd_ehlo},
    {"HELO", cmd_helo},
    {"MAIL", cmd_mail},
    {"RCPT", cmd_rcpt},
    {"DATA", cmd_data},
    {"BDAT", cmd_bdat},
    {"RSET", cmd_rset},
    {"NOOP", cmd_noop},
    {"QUIT", cmd_quit},
    {"VRFY", cmd_vrfy},
    {"HELP", cmd_help},
    {"STARTTLS", cmd_starttls},
    {"AUTH", cmd_auth},
}};

}  // namespace

void Session::Impl::handle_line(const Line& line) {
  if (state == State::auth_response) {
    if (line.too_long) {
      leave_auth();
      send_error(make_reply(500, "5.5.6", "Authentication exchange line is too long"));
      return;
    }
    handle_auth_response(line.text);
    return;
  }
  if (line.too_long) return send_error(make_reply(500, "5.5.2", "Line too long"));
  std::string_view text = line.text;
  std::size_t space = text.find(' ');
  std::string verb(text.substr(0, space));
  std::string_view args =
      space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
  for (char& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const Command& command : kCommands) {
    if (command.verb == verb) return command.handler(*this, args);
  }
  send_error(make_reply(500, "5.5.2", "Error: command not recognized"));
}

void Session::Impl::leave_auth() {
  if (auth) sasl::wipe(auth->user);
  auth.reset();
  enter(State::ready);
  use_reader(kMaxCommandLine);
}

// One SASL response, from the AUTH line or after a 334 challenge (RFC 4954 §4).
void Session::Impl::handle_auth_response(std::string_view text) {
  if (text == "*") {
    leave_auth();
    return send_error(make_reply(501, "5.7.0", "Authentication aborted"));
  }
  auto decoded = sasl::base64_decode(text);
  if (!decoded) {
    leave_auth();
    return send_error(make_reply(501, "5.5.2", "Invalid base64 data"));
  }
  if (auth->mechanism == AuthExchange::Mechanism::plain) {
    auto creds = sasl::parse_plain(*decoded);
    sasl::wipe(*decoded);
    // An authorization identity other than the user's own would mean acting as someone else
    // (RFC 4616 §2); postroom does not support that.
    if (!creds || (!creds->authzid.empty() && creds->authzid != creds->authcid)) {
      if (creds) sasl::wipe(creds->password);
      leave_auth();
      return send_error(make_reply(535, "5.7.8", "Authentication credentials invalid"));
    }
    finish_auth(std::move(creds->authcid), std::move(creds->password));
    sasl::wipe(creds->password);  // moved from, but a short one keeps its bytes in place
    return;
  }
  if (!auth->have_user) {
    auth->have_user = true;
    auth->user = std::move(*decoded);
    send(make_reply(334, "", "UGFzc3dvcmQ6"));  // "Password:"
    if (state == State::auth_response) use_reader(kMaxSaslLine);
    return;
  }
  finish_auth(std::move(auth->user), std::move(*decoded));
  sasl::wipe(*decoded);
}

void Session::Impl::finish_auth(std::string user, std::string password) {
  auth->user = user;  // kept for on_auth_result; the password lives only in the action
  push(Authenticate{std::move(user), std::move(password)});
  sasl::wipe(password);
  enter(State::wait_auth);
  use_reader(kMaxCommandLine);
}

}  // namespace postroom::smtp
