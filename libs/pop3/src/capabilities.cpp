// CAPA (RFC 2449 §5): the capability list, the same in AUTHORIZATION and TRANSACTION.
#include "commands.hpp"

namespace postroom::pop3::detail {

std::vector<std::string> sasl_mechanisms(const SessionParams& params) {
  // RFC 4616 §4: PLAIN sends the password in the clear, so it follows the
  // plaintext policy exactly as USER/PASS does.
  if (!params.plaintext_allowed) return {};
  return {"PLAIN"};
}

std::vector<std::string> capability_lines(const SessionParams& params) {
  std::vector<std::string> lines = {"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"};
  if (params.plaintext_allowed) lines.emplace_back("USER");  // RFC 2449 §6.8
  std::vector<std::string> mechanisms = sasl_mechanisms(params);
  if (!mechanisms.empty()) {
    std::string sasl = "SASL";  // RFC 5034 §6
    for (const std::string& mechanism : mechanisms) sasl += " " + mechanism;
    lines.push_back(sasl);
  }
  if (params.stls_available && !params.tls_active) lines.emplace_back("STLS");  // RFC 2595 §4
  lines.push_back("IMPLEMENTATION " + params.implementation);                   // RFC 2449 §6.9
  return lines;
}

void cmd_capa(SessionCore& core, const CommandLine& /*command*/) {
  core.reply_multiline("capability list follows", capability_lines(core.params));
}

}  // namespace postroom::pop3::detail
