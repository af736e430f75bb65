// Tests for the client-side framing: status and listing lines, and the RETR body decoder.
#include "postroom/pop3/client_protocol.hpp"

#include <doctest/doctest.h>

#include <string>

#include "postroom/pop3/transfer_encoder.hpp"

using namespace postroom::pop3;

namespace {

struct Decoded {
  std::string body;
  std::size_t used = 0;
  bool done = false;
};

Decoded decode_whole(std::string_view wire) {
  TransferDecoder decoder;
  Decoded d;
  d.used = decoder.decode(wire, d.body);
  d.done = decoder.done();
  return d;
}

// Decodes whole, byte by byte and split at every position; all must agree.
Decoded decode_every_way(std::string_view wire) {
  Decoded whole = decode_whole(wire);
  {
    TransferDecoder decoder;
    std::string out;
    std::size_t used = 0;
    for (char c : wire) {
      if (decoder.done()) break;
      used += decoder.decode(std::string_view(&c, 1), out);
    }
    CHECK(out == whole.body);
    CHECK(used == whole.used);
  }
  for (std::size_t split = 0; split <= wire.size(); ++split) {
    TransferDecoder decoder;
    std::string out;
    std::size_t used = decoder.decode(wire.substr(0, split), out);
    if (!decoder.done()) used += decoder.decode(wire.substr(split), out);
    CHECK(out == whole.body);
    CHECK(used == whole.used);
  }
  return whole;
}

}  // namespace

TEST_CASE("pop3 client: status lines") {
  auto ok = parse_status_line("+OK 2 messages");
  REQUIRE(ok);
  CHECK(ok->ok);
  CHECK(ok->text == "2 messages");
  auto bare = parse_status_line("+OK");
  REQUIRE(bare);
  CHECK(bare->text.empty());
  auto err = parse_status_line("-ERR [AUTH] no");
  REQUIRE(err);
  CHECK_FALSE(err->ok);
  CHECK(err->text == "[AUTH] no");
  CHECK_FALSE(parse_status_line("+OKAY"));
  CHECK_FALSE(parse_status_line("* OK imap"));
  CHECK_FALSE(parse_status_line(""));
}

TEST_CASE("pop3 client: listing lines") {
  auto line = parse_listing_line("3 000000035f5e1000");
  REQUIRE(line);
  CHECK(line->number == 3);
  CHECK(line->token == "000000035f5e1000");
  auto padded = parse_listing_line("12  4711 ");
  REQUIRE(padded);
  CHECK(padded->token == "4711");
  CHECK_FALSE(parse_listing_line("0 abc"));
  CHECK_FALSE(parse_listing_line("x abc"));
  CHECK_FALSE(parse_listing_line("1"));
  CHECK_FALSE(parse_listing_line("1 a b"));
  CHECK_FALSE(parse_listing_line(" 1 a"));
}

TEST_CASE("pop3 client: UIDL characters (RFC 1939 §7)") {
  CHECK(valid_uidl("UID12-1700000000"));
  CHECK(valid_uidl(std::string(70, '~')));
  CHECK_FALSE(valid_uidl(std::string(71, 'a')));
  CHECK_FALSE(valid_uidl(""));
  CHECK_FALSE(valid_uidl("a b"));
  CHECK_FALSE(valid_uidl("caf\xc3\xa9"));
}

TEST_CASE("pop3 client: decoding keeps CRLF and removes only the stuffed dot") {
  auto d = decode_every_way("Subject: x\r\n\r\n..hidden\r\n.\r\n");
  CHECK(d.done);
  CHECK(d.body == "Subject: x\r\n\r\n.hidden\r\n");
  CHECK(d.used == 27);
}

TEST_CASE("pop3 client: decoding stops at the terminator and leaves what follows") {
  std::string wire = "a\r\n.\r\n+OK next";
  auto d = decode_every_way(wire);
  CHECK(d.done);
  CHECK(d.body == "a\r\n");
  CHECK(wire.substr(d.used) == "+OK next");
}

TEST_CASE("pop3 client: an empty body, dots mid-line, lone CR and LF pass through") {
  CHECK(decode_every_way(".\r\n").body.empty());
  CHECK(decode_every_way("a.b\r\n.\r\n").body == "a.b\r\n");
  CHECK(decode_every_way("x\ry\r\n.\r\n").body == "x\ry\r\n");
  CHECK(decode_every_way("x\n.\n").body == "x\n");
  CHECK(decode_every_way(".\rz\r\n.\r\n").body == "\rz\r\n");
  auto open = decode_every_way("no end yet\r\n..");
  CHECK_FALSE(open.done);
  CHECK(open.body == "no end yet\r\n.");
}

TEST_CASE("pop3 client: decoding undoes the server's encoder byte for byte") {
  std::string message = "From: a@b\r\n\r\n.\r\n..\r\n.x\r\nend\r\n";
  TransferEncoder encoder;
  std::string wire;
  encoder.encode(message, wire);
  encoder.finish(wire);
  wire += ".\r\n";
  auto d = decode_every_way(wire);
  CHECK(d.done);
  CHECK(d.body == message);
}
