#include <doctest/doctest.h>

#include "postroom/base/header_section.hpp"

using postroom::HeaderSection;

TEST_CASE("header section: parse and text() give the bytes back, folding and odd lines kept") {
  const std::string text =
      "Received: from a\r\n\tby b\r\nSubject:  two  spaces\r\nX-Bare: lf\nnot a field\r\n"
      "To: c@d\r\n";
  auto h = HeaderSection::parse(text);
  CHECK(h.text() == text);
  CHECK(h.size() == text.size());
  REQUIRE(h.fields().size() == 5);
  CHECK(h.fields()[0].value == " from a\r\n\tby b");
  CHECK(h.fields()[2].line_end == "\n");
  CHECK(h.fields()[3].name.empty());  // not a field: kept, never found
  CHECK(h.find("not a field") == nullptr);
  REQUIRE(h.find("subject") != nullptr);
  CHECK(h.find("SUBJECT")->value == "  two  spaces");
}

TEST_CASE("header section: prepend, append, insert, change and remove like a milter") {
  auto h = HeaderSection::parse("From: a\r\nX-Tag: 1\r\nSubject: s\r\nX-Tag: 2\r\n");
  h.prepend("Authentication-Results", "mx; none");
  h.append("X-Last", "z");
  h.insert(1, "X-Second", "y");
  CHECK(h.change("x-tag", 2, "two"));
  CHECK_FALSE(h.change("x-tag", 3, "none such"));
  CHECK(h.change("X-Tag", 1, std::nullopt));
  CHECK(h.count("x-tag") == 1);
  CHECK(h.text() ==
        "Authentication-Results: mx; none\r\nX-Second: y\r\nFrom: a\r\nSubject: s\r\n"
        "X-Tag: two\r\nX-Last: z\r\n");
  CHECK(h.remove_if([](const HeaderSection::Field& f) { return f.name == "From"; }) == 1);
  CHECK(h.find("from") == nullptr);
}

TEST_CASE("header section: a continuation with no field before it is its own line") {
  auto h = HeaderSection::parse(" leading fold\r\nA: b\r\n");
  CHECK(h.text() == " leading fold\r\nA: b\r\n");
  CHECK(h.fields()[0].name.empty());
}
