// Fuzzes the milter reply decoder and the conversation that consumes its answers with arbitrary
// milter bytes: bounded buffering, sane decoded values, the same result for any chunking, and
// a conversation that never sends after it ended.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "postroom/milter/codec.hpp"
#include "postroom/milter/conversation.hpp"

namespace {

using namespace postroom::milter;

// Every reply (or the error that ends the stream) rendered as text, for comparison; each
// decoded reply is also fed to a conversation for one message.
std::string run(const std::vector<std::string_view>& pieces) {
  ReplyDecoder decoder;
  Envelope envelope;
  envelope.client_ip = "192.0.2.1";
  envelope.client_name = "[192.0.2.1]";
  envelope.helo = "h";
  envelope.sender = "a@b.test";
  envelope.recipients = {"c@d.test"};
  envelope.macros = {{"j", "mx.test"}, {"i", "T"}};
  Conversation conversation(envelope);
  conversation.headers({{"Subject", " x"}});
  conversation.body("body\r\n");
  conversation.end_of_message();
  (void)conversation.output();
  bool conversation_broken = false;
  std::string out;
  for (std::string_view piece : pieces) {
    decoder.append(piece);
    while (auto next = decoder.next()) {
      if (!*next) {
        out += "[error]";
        return out;
      }
      const Reply& r = **next;
      if (r.kind == Reply::Kind::reply_code) {
        FUZZ_CHECK(r.code >= 400 && r.code <= 599);
        if (!r.enhanced.empty()) FUZZ_CHECK(r.enhanced[0] - '0' == r.code / 100);
      }
      for (char c : r.text) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
      FUZZ_CHECK(r.name.find(':') == std::string::npos);
      out += static_cast<char>(r.kind);
      out += std::to_string(r.code) + r.enhanced + "|" + r.text + "|" + r.name + "|" + r.value +
             "|" + std::to_string(r.index) + "\n";
      if (!conversation_broken) {
        bool was_done = conversation.done();
        if (!conversation.on_reply(r)) {
          conversation_broken = true;
        } else {
          std::string sent = conversation.output();
          if (was_done) FUZZ_CHECK(sent.empty());
          FUZZ_CHECK(!conversation.done() || conversation.queued_bytes() == 0);
          for (const Reply& edit : conversation.outcome().edits) {
            // Values stored from a milter never hold a line end that starts a new field.
            for (std::size_t i = edit.value.find('\n'); i != std::string::npos;
                 i = edit.value.find('\n', i + 1)) {
              FUZZ_CHECK(i > 0 && edit.value[i - 1] == '\r');
              FUZZ_CHECK(i + 1 < edit.value.size() &&
                         (edit.value[i + 1] == ' ' || edit.value[i + 1] == '\t'));
            }
          }
        }
      }
    }
    FUZZ_CHECK(decoder.buffered() <= kMaxReplyPacket + 4 + piece.size());
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  postroom::fuzz::Input in(postroom::fuzz::as_view(data, size));
  std::uint32_t seed = in.u32();
  std::string_view milter = in.rest();
  std::string whole = run({milter});
  std::string chunked = run(postroom::fuzz::chunks(milter, seed));
  FUZZ_CHECK(whole == chunked);
  return 0;
}
