// Tests for the streaming RETR/TOP encoder and the wire-size counter.
#include "postroom/pop3/transfer_encoder.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>

using postroom::pop3::TransferEncoder;
using postroom::pop3::wire_size;
using postroom::pop3::WireSizeCounter;

namespace {

std::string encode_whole(std::string_view message,
                         std::optional<std::uint64_t> top = std::nullopt) {
  TransferEncoder encoder(top);
  std::string out;
  encoder.encode(message, out);
  encoder.finish(out);
  return out;
}

std::string encode_bytewise(std::string_view message,
                            std::optional<std::uint64_t> top = std::nullopt) {
  TransferEncoder encoder(top);
  std::string out;
  for (char c : message) encoder.encode(std::string_view(&c, 1), out);
  encoder.finish(out);
  return out;
}

// Encodes whole, byte by byte and split at every position; all must agree.
std::string encode_every_way(std::string_view message,
                             std::optional<std::uint64_t> top = std::nullopt) {
  std::string whole = encode_whole(message, top);
  CHECK(encode_bytewise(message, top) == whole);
  for (std::size_t split = 0; split <= message.size(); ++split) {
    TransferEncoder encoder(top);
    std::string out;
    encoder.encode(message.substr(0, split), out);
    encoder.encode(message.substr(split), out);
    encoder.finish(out);
    CAPTURE(split);
    CHECK(out == whole);
  }
  return whole;
}

}  // namespace

TEST_CASE("pop3 encoder: a CRLF message passes unchanged") {
  CHECK(encode_every_way("Subject: a\r\n\r\nbody\r\n") == "Subject: a\r\n\r\nbody\r\n");
}

TEST_CASE("pop3 encoder: bare LF line ends become CRLF") {
  CHECK(encode_every_way("Subject: a\n\nline 1\nline 2\n") ==
        "Subject: a\r\n\r\nline 1\r\nline 2\r\n");
  CHECK(encode_every_way("mixed\r\nends\nhere\r\n") == "mixed\r\nends\r\nhere\r\n");
}

TEST_CASE("pop3 encoder: lines starting with a dot get one more dot") {
  CHECK(encode_every_way(".first\r\nmid.dle\r\n.\r\n..two\n.\n") ==
        "..first\r\nmid.dle\r\n..\r\n...two\r\n..\r\n");
}

TEST_CASE("pop3 encoder: a message without a final line end gets CRLF") {
  CHECK(encode_every_way("a\r\nlast") == "a\r\nlast\r\n");
  CHECK(encode_every_way(".") == "..\r\n");
  CHECK(encode_every_way("ends in CR\r") == "ends in CR\r\n");
}

TEST_CASE("pop3 encoder: an empty message encodes to nothing") {
  CHECK(encode_every_way("").empty());
}

TEST_CASE("pop3 encoder: a CR inside a line is data, not a line end") {
  CHECK(encode_every_way("a\rb\n.c\r\n") == "a\rb\r\n..c\r\n");
}

TEST_CASE("pop3 encoder: output follows input without holding a line back") {
  // Memory independent of message size: a chunk without any line end is
  // passed through at once instead of being buffered until the line ends.
  TransferEncoder encoder;
  std::string out;
  std::string long_line(100000, 'x');
  encoder.encode(long_line, out);
  CHECK(out.size() == long_line.size());
  encoder.encode(".y", out);  // mid-line: no stuffing
  CHECK(out.size() == long_line.size() + 2);
}

TEST_CASE("pop3 encoder: TOP 0 sends the header and the blank line only") {
  CHECK(encode_every_way("A: 1\r\nB: 2\r\n\r\nbody 1\r\nbody 2\r\n", 0) == "A: 1\r\nB: 2\r\n\r\n");
  CHECK(encode_every_way("A: 1\nB: 2\n\nbody 1\n", 0) == "A: 1\r\nB: 2\r\n\r\n");
}

TEST_CASE("pop3 encoder: TOP n sends n body lines") {
  std::string message = "A: 1\r\n\r\nbody 1\r\n.body 2\r\nbody 3\r\n";
  CHECK(encode_every_way(message, 1) == "A: 1\r\n\r\nbody 1\r\n");
  CHECK(encode_every_way(message, 2) == "A: 1\r\n\r\nbody 1\r\n..body 2\r\n");
}

TEST_CASE("pop3 encoder: TOP with more lines than the body sends the whole message") {
  CHECK(encode_every_way("A: 1\r\n\r\nb1\r\nb2", 10) == "A: 1\r\n\r\nb1\r\nb2\r\n");
}

TEST_CASE("pop3 encoder: TOP of a message without a blank line sends it whole") {
  CHECK(encode_every_way("A: 1\r\nB: 2\r\n", 0) == "A: 1\r\nB: 2\r\n");
  CHECK(encode_every_way("A: 1\nB: 2", 3) == "A: 1\r\nB: 2\r\n");
}

TEST_CASE("pop3 encoder: a header line holding only a CR before LF counts as blank") {
  CHECK(encode_every_way("A: 1\r\n\r\nbody\r\n", 0) == "A: 1\r\n\r\n");
  // "\r x" is not blank: the CR is content there.
  CHECK(encode_every_way("A: 1\n\rx\n\nbody\n", 0) == "A: 1\r\n\rx\r\n\r\n");
}

TEST_CASE("pop3 encoder: TOP stops wanting input once done and ignores the rest") {
  TransferEncoder encoder(0);
  std::string out;
  CHECK(encoder.wants_more());
  encoder.encode("A: 1\r\n\r\n", out);
  CHECK_FALSE(encoder.wants_more());
  encoder.encode("body\r\n", out);
  encoder.finish(out);
  CHECK(out == "A: 1\r\n\r\n");
}

TEST_CASE("pop3 encoder: RETR always wants input") {
  TransferEncoder encoder;
  std::string out;
  encoder.encode("A: 1\r\n\r\nbody\r\n", out);
  CHECK(encoder.wants_more());
}

TEST_CASE("pop3 wire size: bare LF counts as CRLF, chunk boundaries do not matter") {
  CHECK(wire_size("") == 0);
  CHECK(wire_size("a\r\nb\r\n") == 6);
  CHECK(wire_size("a\nb\n") == 6);
  CHECK(wire_size("a\r\nb") == 6);  // RETR ends the last line: "a\r\nb\r\n"
  CHECK(wire_size("a\r") == 3);
  WireSizeCounter counter;
  counter.add("a\r");
  counter.add("\nb\n");
  CHECK(counter.size() == 6);
}

TEST_CASE("pop3 wire size: equals the RETR octets before dot-stuffing") {
  for (std::string_view message :
       {"Subject: x\n\nbody\n", "A: 1\r\n\r\nb\r\n", "x\ny\r\nz\n", "one line\n", "", "no line end",
        "A: 1\r\n\r\nends in CR\r", "bare\rCR\n"}) {
    CAPTURE(message);
    CHECK(wire_size(message) == encode_whole(message).size());
  }
}
