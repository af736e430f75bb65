// Streams one incoming message into the store in chunks, and commits it at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "postroom/base/error.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::service {

struct Context;

// Loop-side half of a message write. Full chunks go to the store as they fill, so a
// 25 MiB body never sits in memory; the last chunk, the deliveries and the queue entry
// commit together, and only then is `done` called (design §3). Every chunk write's
// result is looked at: one that failed fails the message, whatever the commit says.
class MessageSink {
 public:
  using Done = std::function<void(Result<store::StoredMessage>)>;

  explicit MessageSink(Context& context) : context_(context) {}
  ~MessageSink();  // an unfinished message is discarded

  void begin();
  void append(std::string_view bytes);
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
  };

  Context& context_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for callbacks that outlive us
  std::shared_ptr<State> state_;
  store::MessageChunker chunker_;
};

}  // namespace postroom::service
