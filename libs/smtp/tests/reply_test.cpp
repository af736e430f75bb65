#include "reply.hpp"

#include <doctest/doctest.h>

using namespace postroom::smtp;

TEST_CASE("reply: a single line carries code, enhanced code and text") {
  CHECK(format_reply(make_reply(250, "2.1.0", "Ok")) == "250 2.1.0 Ok\r\n");
}

TEST_CASE("reply: multi-line replies use a hyphen on every line but the last (RFC 5321 4.2.1)") {
  Reply r{250, "", {"mail.example.test", "PIPELINING", "SIZE 10"}};
  CHECK(format_reply(r) == "250-mail.example.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
  Reply e{550, "5.1.1", {"one", "two"}};
  CHECK(format_reply(e) == "550-5.1.1 one\r\n550 5.1.1 two\r\n");
}

TEST_CASE("reply: an empty 334 challenge keeps its space (RFC 4954 4)") {
  CHECK(format_reply(make_reply(334, "", "")) == "334 \r\n");
}

TEST_CASE("reply: permanence and the first line for logs") {
  CHECK(make_reply(552, "5.3.4", "x").permanent());
  CHECK(make_reply(451, "4.3.0", "x").transient());
  CHECK_FALSE(make_reply(250, "2.0.0", "x").permanent());
  CHECK(make_reply(250, "2.0.0", "Ok: queued as 7").first_line() == "250 2.0.0 Ok: queued as 7");
}
