// Milter packet encoding and the reply decoder, fed whole and one byte at a time.
#include <doctest/doctest.h>

#include "postroom/milter/codec.hpp"

using namespace postroom::milter;

namespace {

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string reply_packet(char command, std::string_view data) {
  return be32(static_cast<std::uint32_t>(data.size() + 1)) + command + std::string(data);
}

// Every reply decoded from `stream`, fed in pieces of `step` octets (0: whole).
std::vector<Reply> decode_all(const std::string& stream, std::size_t step, bool* error = nullptr) {
  ReplyDecoder decoder;
  std::vector<Reply> out;
  std::size_t n = step == 0 ? stream.size() : step;
  for (std::size_t i = 0; i < stream.size(); i += n) {
    decoder.append(std::string_view(stream).substr(i, n));
    while (auto next = decoder.next()) {
      if (!*next) {
        if (error) *error = true;
        return out;
      }
      out.push_back(**next);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("milter codec: option negotiation packet is length, 'O', version, actions, steps") {
  std::string p = encode_negotiate(6, 0x31, 0x1fffff);
  CHECK(p == be32(13) + "O" + be32(6) + be32(0x31) + be32(0x1fffff));
}

TEST_CASE("milter codec: macros name single letters bare and others in braces") {
  std::string p = encode_macros(Command::connect, {{"j", "mx.test"}, {"client_addr", "192.0.2.1"}});
  std::string data = std::string("C") + "j" + '\0' + "mx.test" + '\0' + "{client_addr}" + '\0' +
                     "192.0.2.1" + '\0';
  CHECK(p == reply_packet('D', data));
}

TEST_CASE("milter codec: connect carries family, port and address, or U when unknown") {
  std::string v4 = encode_connect("[192.0.2.1]", "192.0.2.1", 2525, false);
  CHECK(v4 == reply_packet(
                  'C', std::string("[192.0.2.1]") + '\0' + "4" + "\x09\xdd" + "192.0.2.1" + '\0'));
  std::string none = encode_connect("localhost", "", 0, false);
  CHECK(none == reply_packet('C', std::string("localhost") + '\0' + "U"));
}

TEST_CASE("milter codec: strings are NUL-terminated and a NUL inside one cuts it") {
  std::string p = encode_strings(Command::header, {"Subject", std::string_view("a\0b", 3)});
  CHECK(p == reply_packet('L', std::string("Subject") + '\0' + "a" + '\0'));
}

TEST_CASE("milter codec: a stream of answers decodes the same whole and byte by byte") {
  std::string stream =
      reply_packet('O', be32(6) + be32(0x11) + be32(0x80) + be32(1) + "{rcpt_addr} i" + '\0') +
      reply_packet('c', "") + reply_packet('h', std::string("X-Spam") + '\0' + "yes" + '\0') +
      reply_packet('m', be32(2) + "Subject" + '\0' + "" + '\0') +
      reply_packet('i', be32(0) + "X-First" + '\0' + "1" + '\0') +
      reply_packet('q', std::string("held") + '\0') +
      reply_packet('y', std::string("554 5.7.1 Gtube pattern") + '\0');
  for (std::size_t step : {0, 1, 3, 7}) {
    CAPTURE(step);
    auto replies = decode_all(stream, step);
    REQUIRE(replies.size() == 7);
    CHECK(replies[0].kind == Reply::Kind::negotiate);
    CHECK(replies[0].version == 6);
    CHECK(replies[0].actions == 0x11);
    CHECK(replies[0].steps == 0x80);
    REQUIRE(replies[0].macro_lists.size() == 1);
    CHECK(replies[0].macro_lists[0].first == Stage::helo);
    CHECK(replies[0].macro_lists[0].second == std::vector<std::string>{"rcpt_addr", "i"});
    CHECK(replies[1].kind == Reply::Kind::continue_);
    CHECK(replies[2].kind == Reply::Kind::add_header);
    CHECK(replies[2].name == "X-Spam");
    CHECK(replies[2].value == "yes");
    CHECK(replies[3].kind == Reply::Kind::change_header);
    CHECK(replies[3].index == 2);
    CHECK(replies[3].value.empty());
    CHECK(replies[4].kind == Reply::Kind::insert_header);
    CHECK(replies[4].index == 0);
    CHECK(replies[5].kind == Reply::Kind::quarantine);
    CHECK(replies[5].text == "held");
    CHECK(replies[6].kind == Reply::Kind::reply_code);
    CHECK(replies[6].code == 554);
    CHECK(replies[6].enhanced == "5.7.1");
    CHECK(replies[6].text == "Gtube pattern");
  }
}

TEST_CASE("milter codec: a length past the bound or zero breaks the stream") {
  for (std::uint32_t length : {0u, static_cast<std::uint32_t>(kMaxReplyPacket + 1), 0xffffffffu}) {
    bool error = false;
    auto replies = decode_all(be32(length) + "c", 0, &error);
    CHECK(error);
    CHECK(replies.empty());
  }
}

TEST_CASE("milter codec: malformed answers are errors, not guesses") {
  CHECK_FALSE(decode_reply('Z', ""));
  CHECK_FALSE(decode_reply('h', std::string("X-A") + '\0' + "unterminated"));
  CHECK_FALSE(decode_reply('h', std::string("Bad Name") + '\0' + "v" + '\0'));
  CHECK_FALSE(decode_reply('m', "ab"));
  CHECK_FALSE(decode_reply('O', "short"));
  CHECK_FALSE(decode_reply('y', std::string("250 ok") + '\0'));
  CHECK_FALSE(decode_reply('y', std::string("55") + '\0'));
}

TEST_CASE(
    "milter codec: reply codes keep the code, a matching enhanced status and printable text") {
  auto multi = parse_reply_code("451-4.7.1 first line\r\n451 4.7.1 second");
  REQUIRE(multi);
  CHECK(multi->code == 451);
  CHECK(multi->enhanced == "4.7.1");
  CHECK(multi->text == "first line");
  auto mismatched = parse_reply_code("550 4.7.1 mixed classes");
  REQUIRE(mismatched);
  CHECK(mismatched->enhanced.empty());
  CHECK(mismatched->text == "4.7.1 mixed classes");
  auto control = parse_reply_code("550 5.7.1 bad\x01text");
  REQUIRE(control);
  CHECK(control->text == "bad\\x01text");
}
