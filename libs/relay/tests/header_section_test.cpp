// Header section extraction for bounces: line ends, the blank line, the cap, any chunking.
#include "postroom/relay/header_section.hpp"

#include <doctest/doctest.h>

using namespace postroom::relay;

TEST_CASE("header section: stops at the blank line, normalizes line ends, any chunking") {
  const std::string message = "From: a\nSubject: b\r\n folded\r\n\r\nbody\r\n";
  for (std::size_t chunk = 1; chunk <= message.size(); ++chunk) {
    HeaderSectionReader reader;
    bool complete = false;
    for (std::size_t i = 0; i < message.size() && !complete; i += chunk) {
      complete = reader.feed(std::string_view(message).substr(i, chunk));
    }
    CAPTURE(chunk);
    CHECK(complete);
    CHECK_FALSE(reader.truncated());
    CHECK(reader.headers() == "From: a\r\nSubject: b\r\n folded\r\n");
  }
}

TEST_CASE("header section: a message without a body, and stray CRs") {
  CHECK(extract_header_section("Subject: only\r\nX: y") == "Subject: only\r\nX: y\r\n");
  CHECK(extract_header_section("Subject: a\rb\n\nbody") == "Subject: a b\r\n");
  CHECK(extract_header_section("\r\nbody") == "");
}

TEST_CASE("header section: the cap cuts at a whole line and says so") {
  HeaderSectionReader reader(40);
  CHECK(reader.feed("A: 0123456789\r\nB: 0123456789\r\nC: 0123456789\r\n\r\n"));
  CHECK(reader.truncated());
  CHECK(reader.headers() == "A: 0123456789\r\nB: 0123456789\r\n");
  CHECK(reader.headers().size() <= 40);

  HeaderSectionReader endless(kMaxHeaderSection);
  std::string junk(1 << 20, 'x');
  CHECK(endless.feed(junk));
  CHECK(endless.truncated());
  CHECK(endless.headers().empty());
}

TEST_CASE("header section: a line over 998 octets is cut so a DSN quoting it stays valid") {
  std::string subject = "Subject: " + std::string(2000, 'y');
  auto headers = extract_header_section(subject + "\r\nX: 1\r\n\r\nbody");
  CHECK(headers == subject.substr(0, 998) + "\r\nX: 1\r\n");
}
