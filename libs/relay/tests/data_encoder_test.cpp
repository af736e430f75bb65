// DATA encoding: dot-stuffing (RFC 5321 §4.5.2), CRLF normalization, end of data, any chunking.
#include "postroom/relay/data_encoder.hpp"

#include <doctest/doctest.h>

using postroom::relay::DataEncoder;

namespace {

std::string encode(std::string_view body, std::size_t chunk) {
  DataEncoder encoder;
  std::string out;
  if (chunk == 0) chunk = body.size() == 0 ? 1 : body.size();
  for (std::size_t i = 0; i < body.size(); i += chunk) encoder.encode(body.substr(i, chunk), out);
  encoder.finish(out);
  return out;
}

}  // namespace

TEST_CASE("data encoder: table of inputs, whole and in every chunk size up to 5") {
  struct Case {
    std::string_view input;
    std::string_view want;
  };
  const Case cases[] = {
      {"", ".\r\n"},
      {"a\r\n", "a\r\n.\r\n"},
      {"a", "a\r\n.\r\n"},
      {"a\nb\n", "a\r\nb\r\n.\r\n"},
      {".a\r\n", "..a\r\n.\r\n"},
      {".\r\n", "..\r\n.\r\n"},
      {"x\n.\n", "x\r\n..\r\n.\r\n"},
      {"x\r\n.\r\ny", "x\r\n..\r\ny\r\n.\r\n"},
      {"a.b\r\n", "a.b\r\n.\r\n"},
      {"bare\rcr", "bare\r\ncr\r\n.\r\n"},
      {"ends in cr\r", "ends in cr\r\n.\r\n"},
      {"\r\r\n", "\r\n\r\n.\r\n"},
      {"\r.\r\n", "\r\n..\r\n.\r\n"},
      {"\n\n", "\r\n\r\n.\r\n"},
      {"8bit \xc3\xa9\n", "8bit \xc3\xa9\r\n.\r\n"},
  };
  for (const Case& c : cases) {
    for (std::size_t chunk = 0; chunk <= 5; ++chunk) {
      CAPTURE(c.input);
      CAPTURE(chunk);
      CHECK(encode(c.input, chunk) == c.want);
    }
  }
}

TEST_CASE("data encoder: ready for another message after finish") {
  DataEncoder encoder;
  std::string out;
  encoder.encode("a", out);
  encoder.finish(out);
  encoder.encode(".b\n", out);
  encoder.finish(out);
  CHECK(out == "a\r\n.\r\n..b\r\n.\r\n");
}
