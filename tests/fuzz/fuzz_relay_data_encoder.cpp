// Fuzzes the DATA encoder: any chunking gives the same bytes, only CRLF line ends, and the
// only end-of-data sequence is the final one.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "postroom/relay/data_encoder.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  postroom::fuzz::Input in(postroom::fuzz::as_view(data, size));
  std::uint32_t seed = in.u32();
  std::string_view message = in.rest();

  postroom::relay::DataEncoder whole_encoder;
  std::string whole;
  whole_encoder.encode(message, whole);
  whole_encoder.finish(whole);

  postroom::relay::DataEncoder chunk_encoder;
  std::string chunked;
  for (std::string_view piece : postroom::fuzz::chunks(message, seed))
    chunk_encoder.encode(piece, chunked);
  chunk_encoder.finish(chunked);
  FUZZ_CHECK(whole == chunked);

  FUZZ_CHECK(postroom::fuzz::crlf_only(whole));
  FUZZ_CHECK(whole.ends_with(".\r\n"));
  // RFC 5321 §4.1.1.4: "CRLF.CRLF" (or "." as the very first line) ends the data; it must
  // appear only at the end.
  std::string framed = "\r\n" + whole;
  FUZZ_CHECK(framed.find("\r\n.\r\n") == framed.size() - 5);

  // The encoder is ready for the next message: a second one encodes the same way.
  std::string again;
  whole_encoder.encode(message, again);
  whole_encoder.finish(again);
  FUZZ_CHECK(again == whole);

  // Undoing the stuffing gives the message with every line end (CRLF, bare LF, bare CR) as CRLF
  // and a final CRLF added where it was missing.
  std::string body = whole.substr(0, whole.size() - 3);
  std::string unstuffed;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if ((i == 0 || body[i - 1] == '\n') && body[i] == '.') continue;
    unstuffed += body[i];
  }
  std::string expected;
  for (std::size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\r') {
      expected += "\r\n";
      if (i + 1 < message.size() && message[i + 1] == '\n') ++i;
    } else if (message[i] == '\n') {
      expected += "\r\n";
    } else {
      expected += message[i];
    }
  }
  if (!expected.empty() && !expected.ends_with("\r\n")) expected += "\r\n";
  FUZZ_CHECK(unstuffed == expected);
  return 0;
}
