// Splits one POP3 command line into its keyword and arguments.
#include "command_line.hpp"

namespace postroom::pop3::detail {

namespace {

bool is_ascii_letter(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

char to_upper_ascii(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

}  // namespace

std::optional<CommandLine> parse_command_line(std::string_view line) {
  std::size_t space = line.find(' ');
  std::string_view keyword = line.substr(0, space);
  if (keyword.empty() || keyword.size() > 4) return std::nullopt;
  CommandLine command;
  for (char c : keyword) {
    if (!is_ascii_letter(c)) return std::nullopt;
    command.verb.push_back(to_upper_ascii(c));
  }
  if (space == std::string_view::npos) return command;
  command.rest = line.substr(space + 1);
  std::string_view remaining = command.rest;
  while (!remaining.empty()) {
    std::size_t start = remaining.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    remaining.remove_prefix(start);
    std::size_t end = remaining.find(' ');
    command.args.push_back(remaining.substr(0, end));
    if (end == std::string_view::npos) break;
    remaining.remove_prefix(end);
  }
  return command;
}

}  // namespace postroom::pop3::detail
