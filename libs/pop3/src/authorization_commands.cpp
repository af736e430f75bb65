// The AUTHORIZATION state's command table: USER, PASS, APOP, AUTH, STLS, CAPA, QUIT (RFC 1939 §4).
#include <array>
#include <utility>

#include "commands.hpp"
#include "postroom/base/address.hpp"
#include "sasl_plain.hpp"

namespace postroom::pop3::detail {

namespace {

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The password would cross the wire in the clear, and the host's policy says no.
void refuse_plaintext(SessionCore& core) {
  core.reply_bad(core.params.stls_available
                     ? "[AUTH] Plaintext authentication requires TLS, use STLS first"
                     : "[AUTH] Plaintext authentication is not allowed on this connection");
}

void request_login(SessionCore& core, std::string user, std::string password) {
  core.user = user;
  core.push(Login{std::move(user), std::move(password)});
  core.wait_for(Pending::login);
}

// RFC 1939 §7 USER: any name is accepted here, so the reply never reveals
// whether a mailbox exists; PASS decides.
void cmd_user(SessionCore& core, const CommandLine& command) {
  if (!core.params.plaintext_allowed) {
    refuse_plaintext(core);
    return;
  }
  core.user_given = std::string(command.args[0]);
  core.reply_ok("send PASS");
}

// RFC 1939 §7 PASS: the password is the rest of the line, spaces included.
void cmd_pass(SessionCore& core, const CommandLine& command) {
  if (!core.user_given) {
    core.reply_bad("no USER given");
    return;
  }
  std::string user = std::move(*core.user_given);
  core.user_given.reset();
  if (!core.params.plaintext_allowed) {
    refuse_plaintext(core);
    return;
  }
  request_login(core, std::move(user), std::string(command.rest));
}

// RFC 1939 §7 APOP name digest: the host checks md5(timestamp + secret).
void cmd_apop(SessionCore& core, const CommandLine& command) {
  core.user_given.reset();
  if (core.params.apop_timestamp.empty()) {
    core.reply_bad("APOP not available");
    return;
  }
  std::string_view digest = command.args[1];
  bool valid = digest.size() == 32;
  for (char c : digest) valid = valid && is_hex_digit(c);
  if (!valid) {
    core.reply_bad("malformed APOP digest");
    return;
  }
  core.user = std::string(command.args[0]);
  core.push(LoginApop{core.user, to_lower_ascii(digest)});
  core.wait_for(Pending::login);
}

// Checks the PLAIN response and asks the host to verify it (RFC 4616 §2).
void finish_plain(SessionCore& core, std::string_view response) {
  auto credentials = parse_sasl_plain(response);
  if (!credentials) {
    core.reply_bad("malformed SASL response");  // RFC 5034 §4: undecodable, so rejected
    return;
  }
  // Acting for another user is not supported: the authorization identity must
  // be absent or name the authenticated user (RFC 4616 §2).
  if (!credentials->authzid.empty() &&
      to_lower_ascii(credentials->authzid) != to_lower_ascii(credentials->authcid)) {
    core.user = credentials->authcid;
    sasl::wipe(credentials->password);
    core.login_failed();
    return;
  }
  request_login(core, std::move(credentials->authcid), std::move(credentials->password));
  sasl::wipe(credentials->password);  // moved from, but a short one keeps its bytes in place
}

// RFC 5034 §4 AUTH mechanism [initial-response]. Without a mechanism we list
// the ones offered, as RFC 1734 clients expect.
void cmd_auth(SessionCore& core, const CommandLine& command) {
  core.user_given.reset();
  if (command.args.empty()) {
    core.reply_multiline("", sasl_mechanisms(core.params));
    return;
  }
  if (to_lower_ascii(command.args[0]) != "plain") {
    core.reply_bad("unsupported authentication mechanism");
    return;
  }
  if (!core.params.plaintext_allowed) {
    refuse_plaintext(core);
    return;
  }
  if (command.args.size() == 2) {
    finish_plain(core, command.args[1]);
    return;
  }
  core.send_line("+ ");  // An empty challenge; the response comes on the next line.
  core.awaiting_sasl_response = true;
}

// RFC 2595 §4 STLS. Whatever the client sent after the STLS line is dropped
// here and anything fed before the handshake completes is ignored, so no
// plaintext command can ride into the TLS session (CVE-2011-0411).
void cmd_stls(SessionCore& core, const CommandLine& /*command*/) {
  if (core.params.tls_active) {
    core.reply_bad("TLS already active");
    return;
  }
  if (!core.params.stls_available) {
    core.reply_bad("STLS not available");
    return;
  }
  core.reply_ok("Begin TLS negotiation");
  core.push(StartTls{});
  core.reader.take_buffered();
  core.wait_for(Pending::tls);
}

// RFC 1939 §5: QUIT before login ends the session without UPDATE.
void cmd_quit(SessionCore& core, const CommandLine& /*command*/) {
  core.reply_ok("postroom signing off");
  core.close("client quit");
}

constexpr std::array kAuthorizationCommands = {
    CommandSpec{"USER", 1, 1, true, cmd_user},  CommandSpec{"PASS", 1, kAnyArgs, true, cmd_pass},
    CommandSpec{"APOP", 2, 2, true, cmd_apop},  CommandSpec{"AUTH", 0, 2, true, cmd_auth},
    CommandSpec{"STLS", 0, 0, false, cmd_stls}, CommandSpec{"CAPA", 0, 0, false, cmd_capa},
    CommandSpec{"QUIT", 0, 0, false, cmd_quit},
};

}  // namespace

std::span<const CommandSpec> authorization_commands() {
  return kAuthorizationCommands;
}

void handle_sasl_response(SessionCore& core, std::string_view line) {
  if (line == "*") {
    core.reply_bad("authentication cancelled");  // RFC 5034 §4 requires an -ERR here
    return;
  }
  finish_plain(core, line);
}

}  // namespace postroom::pop3::detail
