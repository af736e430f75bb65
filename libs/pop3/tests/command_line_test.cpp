// Tests for splitting POP3 command lines into keyword and arguments.
#include "command_line.hpp"

#include <doctest/doctest.h>

using postroom::pop3::detail::parse_command_line;

TEST_CASE("pop3 parser: keywords are case-insensitive and upper-cased") {
  auto command = parse_command_line("sTaT");
  REQUIRE(command);
  CHECK(command->verb == "STAT");
  CHECK(command->args.empty());
  CHECK(command->rest.empty());
}

TEST_CASE("pop3 parser: arguments are split at spaces") {
  auto command = parse_command_line("TOP 1 10");
  REQUIRE(command);
  CHECK(command->verb == "TOP");
  REQUIRE(command->args.size() == 2);
  CHECK(command->args[0] == "1");
  CHECK(command->args[1] == "10");
}

TEST_CASE("pop3 parser: runs of spaces and trailing spaces are tolerated") {
  auto command = parse_command_line("TOP  1   10 ");
  REQUIRE(command);
  REQUIRE(command->args.size() == 2);
  CHECK(command->args[0] == "1");
  CHECK(command->args[1] == "10");
  auto list = parse_command_line("LIST ");
  REQUIRE(list);
  CHECK(list->args.empty());
}

TEST_CASE("pop3 parser: the rest of the line is kept verbatim for PASS") {
  auto command = parse_command_line("PASS  two  spaces ");
  REQUIRE(command);
  CHECK(command->rest == " two  spaces ");
}

TEST_CASE("pop3 parser: keywords of 1 to 4 letters only") {
  CHECK(parse_command_line("TOP"));
  CHECK(parse_command_line("X"));
  CHECK_FALSE(parse_command_line(""));
  CHECK_FALSE(parse_command_line("STATS"));
  CHECK_FALSE(parse_command_line("ST1T"));
  CHECK_FALSE(parse_command_line(" STAT"));
  CHECK_FALSE(parse_command_line("LIST\t1"));
  CHECK_FALSE(parse_command_line("ÄB"));
}
