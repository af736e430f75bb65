// Streams one incoming message into the store writer in chunks, and commits it at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::service {

struct Context;

// Loop-side half of a message write. Full chunks go to the writer as they fill, so a
// 25 MiB body never sits in memory; the last chunk, the deliveries and the queue entry
// commit together in one job, and only then is `done` called (design §3).
class MessageSink {
 public:
  struct Destination {
    std::vector<std::int64_t> accounts;        // local mailboxes
    std::optional<store::QueueRequest> queue;  // remote recipients
  };
  using Done = std::function<void(Result<store::StoredMessage>)>;

  explicit MessageSink(Context& context) : context_(context) {}
  ~MessageSink();  // an unfinished message is discarded

  void begin();
  void append(std::string_view bytes);
  void commit(Destination destination, Done done);
  void abort();
  // Chunk writes not yet durable: the connection stops reading above a small number.
  int chunks_in_flight() const { return state_ ? state_->in_flight : 0; }
  std::function<void()> on_chunk_written;  // a chunk write finished (resume reading)

 private:
  struct State {
    std::int64_t content_id = 0;  // touched only on the writer thread
    bool failed = false;          // writer thread only
    std::string error;            // writer thread only
    int in_flight = 0;            // loop thread only
    std::int64_t next_seq = 0;    // loop thread only
  };
  void submit_chunk();

  Context& context_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for callbacks that outlive us
  std::shared_ptr<State> state_;
  std::string buffer_;
  store::SizeCounter sizes_;
};

}  // namespace postroom::service
