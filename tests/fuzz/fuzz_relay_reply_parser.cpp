// Fuzzes the SMTP reply parser with arbitrary server bytes: bounded buffering, well-formed
// replies, and the same replies for any chunking.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "postroom/relay/extensions.hpp"
#include "postroom/relay/reply_parser.hpp"

namespace {

using namespace postroom::relay;

// Every reply (or the error that ends the stream) rendered as text, for comparison.
std::string parse(const std::vector<std::string_view>& pieces, std::size_t max_line) {
  ReplyParser parser(max_line);
  std::string out;
  for (std::string_view piece : pieces) {
    parser.append(piece);
    while (auto next = parser.next()) {
      if (!*next) {
        out += "[error]";  // the stream is unusable now: the host would close
        return out;
      }
      const Reply& reply = **next;
      FUZZ_CHECK(reply.code >= 200 && reply.code <= 599);
      FUZZ_CHECK(!reply.lines.empty() && reply.lines.size() <= kMaxReplyLines);
      for (const std::string& line : reply.lines) {
        FUZZ_CHECK(line.size() <= max_line);
        FUZZ_CHECK(line.find('\n') == std::string::npos);
      }
      std::string one = reply.one_line();
      FUZZ_CHECK(one.size() <= kMaxOneLine);
      for (char c : one) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
      std::string status = reply.enhanced_status();
      if (!status.empty()) FUZZ_CHECK(status[0] - '0' == reply.kind() && status[1] == '.');
      Extensions ext = Extensions::parse(reply);
      (void)ext.offers_auth("PLAIN");
      out += std::to_string(reply.code);
      for (const std::string& line : reply.lines) out += "|" + line;
      out += "\n";
    }
    // The LineReader bound: one partial line of at most max_line octets.
    FUZZ_CHECK(parser.buffered_size() <= max_line);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  postroom::fuzz::Input in(postroom::fuzz::as_view(data, size));
  std::uint8_t mode = in.byte();
  std::uint32_t seed = in.u32();
  std::string_view server = in.rest();
  std::size_t max_line = (mode & 1) ? 64 : kMaxReplyLine;

  std::string whole = parse({server}, max_line);
  std::string chunked = parse(postroom::fuzz::chunks(server, seed), max_line);
  FUZZ_CHECK(whole == chunked);
  return 0;
}
