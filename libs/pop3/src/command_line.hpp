// Splits one POP3 command line into its keyword and arguments (RFC 1939 §3, RFC 2449 §4).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postroom::pop3::detail {

struct CommandLine {
  std::string verb;       // the keyword, upper-cased
  std::string_view rest;  // everything after the keyword and its one space, verbatim (PASS)
  std::vector<std::string_view> args;  // `rest` split at runs of spaces, empty pieces dropped
};

// Parses `line` (without its line end). The keyword must be 1 to 4 ASCII
// letters (RFC 2449 §4 allows keywords up to four characters) followed by the
// end of the line or a space; anything else yields nullopt. Arguments are
// separated by single spaces in the RFC; we also accept runs of spaces and
// trailing spaces, which some clients send. The views point into `line`.
std::optional<CommandLine> parse_command_line(std::string_view line);

}  // namespace postroom::pop3::detail
