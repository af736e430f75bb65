// Command dispatch: one table per POP3 state, and the handlers they point to.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "command_line.hpp"
#include "session_core.hpp"

namespace postroom::pop3::detail {

using Handler = void (*)(SessionCore&, const CommandLine&);

// One row of a dispatch table. The loop checks the argument count and length
// (sending the error itself), so a handler starts from well-formed input.
struct CommandSpec {
  std::string_view verb;
  std::size_t min_args;
  std::size_t max_args;
  // Names, passwords and SASL responses may fill the 255-octet line (RFC 2449
  // §4) instead of the 40-character argument limit of RFC 1939 §3.
  bool long_args;
  Handler handler;
};

inline constexpr std::size_t kAnyArgs = static_cast<std::size_t>(-1);

std::span<const CommandSpec> authorization_commands();  // authorization_commands.cpp
std::span<const CommandSpec> transaction_commands();    // transaction_commands.cpp

// The table for `state` (empty in UPDATE and after close).
std::span<const CommandSpec> commands_for(State state);
const CommandSpec* find_command(std::span<const CommandSpec> table, std::string_view verb);
// True when some state's table knows `verb` (to tell "wrong state" from "unknown").
bool is_known_command(std::string_view verb);

// Checks the argument count and lengths against `spec`; on failure sends the
// "-ERR" naming the problem and returns false.
bool check_arguments(SessionCore& core, const CommandSpec& spec, const CommandLine& command);

// Shared by both states: CAPA (capabilities.cpp).
void cmd_capa(SessionCore& core, const CommandLine& command);
// The RFC 2449 §5 capability lines for this session's current settings.
std::vector<std::string> capability_lines(const SessionParams& params);
// The AUTH mechanisms offered now (RFC 5034 §6): PLAIN only while plaintext is allowed.
std::vector<std::string> sasl_mechanisms(const SessionParams& params);

// Continues AUTH PLAIN with the client's response line (authorization_commands.cpp).
void handle_sasl_response(SessionCore& core, std::string_view line);

}  // namespace postroom::pop3::detail
