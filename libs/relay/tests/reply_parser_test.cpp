// Reply parsing (RFC 5321 §4.2): single and multi-line replies, errors, limits; fed whole and byte
// by byte.
#include "postroom/relay/reply_parser.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace postroom::relay;

namespace {

struct Parsed {
  std::vector<Reply> replies;
  std::vector<std::string> errors;
};

Parsed parse(std::string_view input, bool byte_by_byte) {
  ReplyParser parser;
  Parsed out;
  auto drain = [&] {
    while (auto next = parser.next()) {
      if (next->has_value()) {
        out.replies.push_back(next->value());
      } else {
        out.errors.push_back(next->error().message);
        return false;
      }
    }
    return true;
  };
  if (byte_by_byte) {
    for (char c : input) {
      parser.append(std::string_view(&c, 1));
      if (!drain()) break;
    }
  } else {
    parser.append(input);
    drain();
  }
  return out;
}

}  // namespace

TEST_CASE("reply parser: single and multi-line replies, whole and byte by byte") {
  for (bool bytewise : {false, true}) {
    CAPTURE(bytewise);
    Parsed parsed = parse(
        "220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n221\r\n"
        "354 go",
        bytewise);
    CHECK(parsed.errors.empty());
    REQUIRE(parsed.replies.size() == 3);
    CHECK(parsed.replies[0].code == 220);
    CHECK(parsed.replies[0].lines == std::vector<std::string>{"mx.example ESMTP"});
    CHECK(parsed.replies[1].code == 250);
    CHECK(parsed.replies[1].lines ==
          std::vector<std::string>{"mx.example", "PIPELINING", "SIZE 100"});
    CHECK(parsed.replies[2].code == 221);  // RFC 5321 §4.2: the text is optional
    CHECK(parsed.replies[2].lines == std::vector<std::string>{""});
  }
}

TEST_CASE("reply parser: bare LF line ends are accepted") {
  Parsed parsed = parse("250-a\n250 b\n", false);
  REQUIRE(parsed.replies.size() == 1);
  CHECK(parsed.replies[0].lines.size() == 2);
}

TEST_CASE("reply parser: malformed lines are errors") {
  for (std::string_view bad : {"hello\r\n", "25\r\n", "250x\r\n", "650 no\r\n", "199 no\r\n",
                               "2a0 no\r\n", "260 bad second digit\r\n"}) {
    for (bool bytewise : {false, true}) {
      CAPTURE(bad);
      Parsed parsed = parse(bad, bytewise);
      CHECK(parsed.replies.empty());
      REQUIRE(parsed.errors.size() == 1);
      CHECK(parsed.errors[0] == "unparseable reply line");
    }
  }
}

TEST_CASE("reply parser: a continuation with another code is an error") {
  Parsed parsed = parse("250-a\r\n251 b\r\n", false);
  REQUIRE(parsed.errors.size() == 1);
  CHECK(parsed.errors[0] == "reply line with code 251 inside a 250 reply");
}

TEST_CASE("reply parser: over-long lines and endless replies are bounded") {
  for (bool bytewise : {false, true}) {
    Parsed parsed = parse("250 " + std::string(kMaxReplyLine, 'x') + "\r\n", bytewise);
    REQUIRE(parsed.errors.size() == 1);
    CHECK(parsed.errors[0] == "reply line longer than 4096 octets");
  }
  // The longest acceptable line: kMaxReplyLine octets including the CRLF.
  Parsed fits = parse("250 " + std::string(kMaxReplyLine - 6, 'x') + "\r\n", false);
  CHECK(fits.errors.empty());
  CHECK(fits.replies.size() == 1);

  std::string endless;
  for (std::size_t i = 0; i <= kMaxReplyLines; ++i) endless += "250-more\r\n";
  Parsed parsed = parse(endless, false);
  REQUIRE(parsed.errors.size() == 1);
  CHECK(parsed.errors[0] == "reply longer than 100 lines");

  ReplyParser parser;
  parser.append(std::string(10000, 'x'));
  CHECK_FALSE(parser.next().has_value());
  CHECK(parser.buffered_size() <= kMaxReplyLine);
}

TEST_CASE("reply: enhanced status and one-line rendering") {
  Reply reply{550, {"5.1.1 no such user", "5.1.1 see the help page", "really"}};
  CHECK(reply.enhanced_status() == "5.1.1");
  CHECK(reply.one_line() == "550 5.1.1 no such user see the help page really");

  CHECK(Reply{250, {"2.0.0"}}.enhanced_status() == "2.0.0");
  CHECK(Reply{250, {"ok"}}.enhanced_status().empty());
  CHECK(Reply{550, {"4.1.1 class mismatch"}}.enhanced_status().empty());  // RFC 2034 §4
  CHECK(Reply{550, {"5.1234.1 too many digits"}}.enhanced_status().empty());
  CHECK(Reply{550, {"5.1.1x"}}.enhanced_status().empty());
  CHECK(Reply{250, {"2.1.0 ok"}}.one_line() == "250 2.1.0 ok");
  CHECK(Reply{221, {""}}.one_line() == "221");
  CHECK(Reply{554, {"bad\tthing\x7f"}}.one_line() == "554 bad?thing?");

  Reply huge{550, {std::string(3000, 'y')}};
  std::string line = huge.one_line();
  CHECK(line.size() == kMaxOneLine);
  CHECK(line.ends_with("..."));
}
