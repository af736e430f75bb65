#include "postroom/base/line_reader.hpp"

#include <doctest/doctest.h>

#include <vector>

using postroom::Line;
using postroom::LineReader;

namespace {

std::vector<Line> feed_all(LineReader& reader, std::string_view input, bool byte_by_byte) {
  std::vector<Line> lines;
  auto drain = [&] {
    while (auto line = reader.next()) lines.push_back(*line);
  };
  if (byte_by_byte) {
    for (char c : input) {
      reader.append(std::string_view(&c, 1));
      drain();
    }
  } else {
    reader.append(input);
    drain();
  }
  return lines;
}

}  // namespace

TEST_CASE("line reader: splits CRLF lines, whole and byte by byte") {
  for (bool bytewise : {false, true}) {
    LineReader reader(512);
    auto lines = feed_all(reader, "HELO a\r\nNOOP\r\npartial", bytewise);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].text == "HELO a");
    CHECK(lines[1].text == "NOOP");
    CHECK_FALSE(lines[0].bare_lf);
    CHECK(reader.buffered_size() == 7);
    CHECK(reader.take_buffered() == "partial");
  }
}

TEST_CASE("line reader: bare LF is reported") {
  LineReader reader(512);
  auto lines = feed_all(reader, "NOOP\n", false);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].text == "NOOP");
  CHECK(lines[0].bare_lf);
}

TEST_CASE("line reader: an over-long line is discarded without buffering and reported once") {
  for (bool bytewise : {false, true}) {
    LineReader reader(10);
    std::string longline(5000, 'x');
    reader.append("");
    std::vector<Line> lines;
    for (std::size_t i = 0; i < longline.size(); i += 100) {
      reader.append(std::string_view(longline).substr(i, 100));
      while (auto line = reader.next()) lines.push_back(*line);
      CHECK(reader.buffered_size() <= 100);
    }
    auto rest = feed_all(reader, "\r\nNOOP\r\n", bytewise);
    lines.insert(lines.end(), rest.begin(), rest.end());
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].too_long);
    CHECK(lines[0].text.empty());
    CHECK(lines[1].text == "NOOP");
  }
}

TEST_CASE("line reader: the cap counts the CRLF") {
  LineReader reader(6);
  auto lines = feed_all(reader, "1234\r\n12345\r\n", false);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].text == "1234");
  CHECK_FALSE(lines[0].too_long);
  CHECK(lines[1].too_long);
}
