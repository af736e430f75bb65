// Fuzzes the POP3 RETR/TOP encoder: any chunking gives the same bytes, and no line of the
// output can end the multi-line reply early.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "postroom/pop3/transfer_encoder.hpp"

namespace {

using postroom::fuzz::Input;
using postroom::pop3::TransferEncoder;

std::string encode(std::optional<std::uint64_t> top, std::string_view message, std::uint32_t seed,
                   bool chunked) {
  TransferEncoder encoder(top);
  std::string out;
  if (chunked) {
    for (std::string_view piece : postroom::fuzz::chunks(message, seed)) {
      encoder.encode(piece, out);
      if (!encoder.wants_more()) break;  // what the host does for TOP
    }
  } else {
    encoder.encode(message, out);
  }
  encoder.finish(out);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(postroom::fuzz::as_view(data, size));
  std::uint8_t mode = in.byte();
  std::uint32_t seed = in.u32();
  std::string_view message = in.rest();
  std::optional<std::uint64_t> top;
  if (mode & 1) top = mode >> 4;  // TOP with 0..15 body lines

  std::string whole = encode(top, message, seed, false);
  std::string chunked = encode(top, message, seed, true);
  FUZZ_CHECK(whole == chunked);

  // The reply body ends with a line end (the caller appends ".\r\n"), and every LF is part of
  // a CRLF: a client splitting at CRLF sees exactly these lines.
  FUZZ_CHECK(whole.empty() || whole.ends_with("\r\n"));
  for (std::size_t i = 0; i < whole.size(); ++i) {
    if (whole[i] == '\n') FUZZ_CHECK(i > 0 && whole[i - 1] == '\r');
  }
  // No line is "." alone: that would end the reply before the message does (RFC 1939 §3).
  FUZZ_CHECK(!whole.starts_with(".\r\n"));
  FUZZ_CHECK(whole.find("\r\n.\r\n") == std::string::npos);
  // RETR passes every byte: removing the stuffed dots and turning bare LFs into CRLF must give
  // the output back.
  if (!top) {
    std::string unstuffed;
    bool line_start = true;
    for (std::size_t i = 0; i < whole.size(); ++i) {
      if (line_start && whole[i] == '.') ++i;  // the stuffed dot; the next one is content
      if (i >= whole.size()) break;
      unstuffed += whole[i];
      line_start = whole[i] == '\n';
    }
    std::string expected;
    for (std::size_t i = 0; i < message.size(); ++i) {
      if (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')) expected += '\r';
      expected += message[i];
    }
    if (!expected.empty() && !expected.ends_with("\n"))
      expected += expected.ends_with("\r") ? "\n" : "\r\n";
    FUZZ_CHECK(unstuffed == expected);
  }
  return 0;
}
