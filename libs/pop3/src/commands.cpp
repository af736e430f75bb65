// Table lookup and the argument checks every command gets before its handler runs.
#include "commands.hpp"

namespace postroom::pop3::detail {

std::span<const CommandSpec> commands_for(State state) {
  switch (state) {
    case State::authorization:
      return authorization_commands();
    case State::transaction:
      return transaction_commands();
    case State::update:
    case State::closed:
      break;
  }
  return {};
}

const CommandSpec* find_command(std::span<const CommandSpec> table, std::string_view verb) {
  for (const CommandSpec& spec : table) {
    if (spec.verb == verb) return &spec;
  }
  return nullptr;
}

bool is_known_command(std::string_view verb) {
  return find_command(authorization_commands(), verb) != nullptr ||
         find_command(transaction_commands(), verb) != nullptr;
}

bool check_arguments(SessionCore& core, const CommandSpec& spec, const CommandLine& command) {
  if (command.args.size() < spec.min_args) {
    core.reply_bad("missing argument");
    return false;
  }
  if (command.args.size() > spec.max_args) {
    core.reply_bad("too many arguments");
    return false;
  }
  if (!spec.long_args) {
    for (std::string_view arg : command.args) {
      if (arg.size() > core.params.limits.max_argument) {  // RFC 1939 §3: 40 characters
        core.reply_bad("argument too long");
        return false;
      }
    }
  }
  return true;
}

}  // namespace postroom::pop3::detail
