// Streams one incoming message into the store in chunks, and commits it at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "postroom/base/error.hpp"
#include "postroom/base/header_section.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::service {

struct Context;

// Loop-side half of a message write. The header section is held in memory until the end,
// so the filters (message_filter.hpp) may still edit it; it becomes chunk 0, written in the
// commit. Body chunks go to the store as they fill (from chunk 1), so a 25 MiB body never
// sits in memory; the header, the last chunk, the deliveries and the queue entry commit
// together, and only then is `done` called (design §3). Every chunk write's result is
// looked at: one that failed fails the message, whatever the commit says.
class MessageSink {
 public:
  using Done = std::function<void(Result<store::StoredMessage>)>;
  // Above this the header section is not held: the message is refused (552 5.3.4). Postfix
  // keeps 100 KiB (header_size_limit); real mail stays far below either.
  static constexpr std::size_t kMaxHeaderSection = 256 * 1024;

  explicit MessageSink(Context& context) : context_(context) {}
  ~MessageSink();  // an unfinished message is discarded

  // A message starts; its first `trace_length` octets (the Return-Path line this server
  // adds) stay above every header field and are not shown to the filters.
  void begin(std::size_t trace_length = 0);
  void append(std::string_view bytes);
  // The header section has ended: the body follows (or the message ended inside it).
  std::function<void(const HeaderSection&)> on_headers;
  std::function<void(std::string_view)> on_body;  // body octets as they arrive
  // The fields after the Return-Path line; valid once on_headers has run, editable until
  // commit(). Ends the header section if the message ended inside it.
  HeaderSection& headers();
  bool header_too_large() const { return state_ && state_->header_too_large; }
  void commit(store::Destination destination, Done done);
  void abort();
  // Chunk writes not yet durable: the connection stops reading above a small number.
  int chunks_in_flight() const { return state_ ? state_->in_flight : 0; }
  std::function<void()> on_chunk_written;  // a chunk write finished (resume reading)

 private:
  // Loop thread only; shared with the completions of its chunk writes.
  struct State {
    store::ContentId content = 0;
    int in_flight = 0;
    std::optional<Error> lost;  // the first chunk write that failed
    bool header_too_large = false;
  };

  void end_headers(std::size_t header_end, std::size_t body_start);
  void too_large();  // the header section passed kMaxHeaderSection: keep nothing more
  void append_body(std::string_view bytes);

  Context& context_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for callbacks that outlive us
  std::shared_ptr<State> state_;
  std::size_t trace_length_ = 0;
  std::string pending_head_;  // the header section until it ends
  bool in_headers_ = false;
  std::string trace_;  // the Return-Path line
  HeaderSection headers_;
  std::string separator_;  // the empty line after the header section ("" if there was none)
  store::MessageChunker chunker_{1};
};

}  // namespace postroom::service
