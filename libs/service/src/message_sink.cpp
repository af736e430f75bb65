// Chunked, group-committed message writes from the loop thread to the store.
#include "postroom/service/message_sink.hpp"

#include "postroom/service/context.hpp"
#include "postroom/store/mail_store.hpp"

namespace postroom::service {

MessageSink::~MessageSink() {
  abort();
}

void MessageSink::begin() {
  abort();
  state_ = std::make_shared<State>();
  state_->content = store::new_content_id();
  chunker_ = {};
}

void MessageSink::append(std::string_view bytes) {
  if (!state_) return;
  chunker_.add(bytes, [this](std::int64_t seq, std::string chunk) {
    auto state = state_;
    ++state->in_flight;
    context_.store->append_chunk(
        state->content, seq, std::move(chunk),
        [alive = std::weak_ptr<bool>(alive_), this, state](Result<void> written) {
          --state->in_flight;
          if (!written && !state->lost) state->lost = written.error();
          if (alive.expired()) return;  // the sink (and its connection) went away meanwhile
          if (state == state_ && on_chunk_written) on_chunk_written();
        });
  });
}

void MessageSink::commit(store::Destination destination, Done done) {
  if (!state_) return done(fail("no message in progress"));
  auto state = std::move(state_);
  auto [last_seq, last_chunk] = chunker_.finish();
  if (state->lost) {
    // A chunk is already known lost: the message cannot be whole.
    context_.store->discard_message(state->content);
    return done(std::unexpected(*state->lost));
  }
  store::MessageCommit commit{state->content, last_seq, std::move(last_chunk), chunker_.summary(),
                              std::move(destination)};
  bool wrote_before = last_seq > 0;
  context_.store->commit_message(std::move(commit),
                                 [&context = context_, state, wrote_before,
                                  done = std::move(done)](Result<store::StoredMessage> stored) {
                                   // A chunk write that failed after the commit was submitted fails
                                   // the commit's own check (it counts the chunks in its
                                   // transaction): the commit's result decides.
                                   if (!stored) {
                                     // Chunks committed earlier belong to a message that will never
                                     // complete.
                                     if (wrote_before)
                                       context.store->discard_message(state->content);
                                     return done(std::unexpected(stored.error()));
                                   }
                                   done(std::move(*stored));
                                 });
}

void MessageSink::abort() {
  if (!state_) return;
  auto state = std::move(state_);
  bool wrote = chunker_.chunks_handed_out() > 0;
  chunker_ = {};
  // Runs after the chunk writes (writes keep their order), so it finds what they left.
  if (wrote) context_.store->discard_message(state->content);
}

}  // namespace postroom::service
