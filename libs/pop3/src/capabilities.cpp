// CAPA (RFC 2449 §5): the capability list; EXPIRE and LOGIN-DELAY may change at login.
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
  // RFC 2449 §6.7 and §6.5: the policy the host enforces, "USER" where it varies per user
  // (only in AUTHORIZATION: the host replaces these with the user's own at login).
  const Announced& policy = params.announced;
  std::string expire =
      "EXPIRE " + (policy.expire_days ? std::to_string(*policy.expire_days) : std::string("NEVER"));
  lines.push_back(policy.expire_per_user ? expire + " USER" : expire);
  if (policy.login_delay > 0 || policy.login_delay_per_user) {
    std::string delay = "LOGIN-DELAY " + std::to_string(policy.login_delay);
    lines.push_back(policy.login_delay_per_user ? delay + " USER" : delay);
  }
  lines.push_back("IMPLEMENTATION " + params.implementation);  // RFC 2449 §6.9
  return lines;
}

void cmd_capa(SessionCore& core, const CommandLine& /*command*/) {
  core.reply_multiline("capability list follows", capability_lines(core.params));
}

}  // namespace postroom::pop3::detail
