// Chunked, group-committed message writes from the loop thread to the store; the header
// section held back for the filters and written with the commit.
#include "postroom/service/message_sink.hpp"

#include "postroom/service/context.hpp"
#include "postroom/store/mail_store.hpp"

namespace postroom::service {

MessageSink::~MessageSink() {
  abort();
}

void MessageSink::begin(std::size_t trace_length) {
  abort();
  state_ = std::make_shared<State>();
  state_->content = store::new_content_id();
  trace_length_ = trace_length;
  pending_head_.clear();
  in_headers_ = true;
  trace_.clear();
  headers_ = {};
  separator_.clear();
  chunker_ = store::MessageChunker(1);
}

void MessageSink::append(std::string_view bytes) {
  if (!state_ || state_->header_too_large) return;
  if (!in_headers_) return append_body(bytes);
  // The empty line may straddle two appends: look from a little before the new bytes.
  std::size_t from = pending_head_.size() < 3 ? 0 : pending_head_.size() - 3;
  pending_head_.append(bytes);
  std::size_t search = std::max(from, trace_length_);
  // A message whose header section is empty starts with the empty line itself.
  if (pending_head_.size() >= trace_length_ + 2 &&
      pending_head_.compare(trace_length_, 2, "\r\n") == 0)
    return end_headers(trace_length_, trace_length_ + 2);
  if (auto end = pending_head_.find("\r\n\r\n", search); end != std::string::npos)
    return end_headers(end + 2, end + 4);
  if (pending_head_.size() > kMaxHeaderSection + trace_length_) too_large();
}

void MessageSink::too_large() {
  state_->header_too_large = true;
  in_headers_ = false;
  pending_head_.clear();
  pending_head_.shrink_to_fit();
}

void MessageSink::end_headers(std::size_t header_end, std::size_t body_start) {
  if (header_end > kMaxHeaderSection + trace_length_) return too_large();
  in_headers_ = false;
  std::size_t trace = std::min(trace_length_, header_end);
  trace_ = pending_head_.substr(0, trace);
  headers_ =
      HeaderSection::parse(std::string_view(pending_head_).substr(trace, header_end - trace));
  separator_ = pending_head_.substr(header_end, body_start - header_end);
  std::string rest = pending_head_.substr(std::min(body_start, pending_head_.size()));
  pending_head_.clear();
  pending_head_.shrink_to_fit();
  if (on_headers) on_headers(headers_);
  if (!rest.empty()) append_body(rest);
}

void MessageSink::append_body(std::string_view bytes) {
  if (on_body) on_body(bytes);
  chunker_.add(bytes, [this](std::int64_t seq, std::string chunk) {
    auto state = state_;
    ++state->in_flight;
    context_.store->append_chunk(
        state->content, seq, seq == 1, std::move(chunk),
        [alive = std::weak_ptr<bool>(alive_), this, state](Result<void> written) {
          --state->in_flight;
          if (!written && !state->lost) state->lost = written.error();
          if (alive.expired()) return;  // the sink (and its connection) went away meanwhile
          if (state == state_ && on_chunk_written) on_chunk_written();
        });
  });
}

HeaderSection& MessageSink::headers() {
  // A message that ended inside its header section: all of it is header.
  if (state_ && in_headers_ && !state_->header_too_large)
    end_headers(pending_head_.size(), pending_head_.size());
  return headers_;
}

void MessageSink::commit(store::Destination destination, Done done) {
  if (!state_) return done(fail("no message in progress"));
  if (state_->header_too_large) {
    abort();
    return done(
        fail("the header section exceeds " + std::to_string(kMaxHeaderSection) + " octets"));
  }
  headers();  // ends the header section if the message ended inside it
  auto state = std::move(state_);
  auto [last_seq, last_chunk] = chunker_.finish();
  if (state->lost) {
    // A chunk is already known lost: the message cannot be whole.
    context_.store->discard_message(state->content);
    return done(std::unexpected(*state->lost));
  }
  std::string head = trace_ + headers_.text() + separator_;
  // Sizes of the whole message: the head (which ends in a line end whenever a body
  // follows, so no bare LF straddles the two) and then the body.
  store::SizeCounter head_sizes;
  head_sizes.add(head);
  auto body = chunker_.summary();
  store::ContentSummary summary{
      body.chunks, head_sizes.size() + body.size,
      body.size == 0 ? head_sizes.pop3_size() : head_sizes.pop3_size() + body.pop3_size};
  bool wrote_before = last_seq > 1;
  store::MessageCommit commit{state->content,        std::move(head), last_seq,
                              std::move(last_chunk), summary,         std::move(destination)};
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
  bool wrote = chunker_.chunks_handed_out() > 1;
  chunker_ = store::MessageChunker(1);
  pending_head_.clear();
  in_headers_ = false;
  // Runs after the chunk writes (writes keep their order), so it finds what they left.
  if (wrote) context_.store->discard_message(state->content);
}

}  // namespace postroom::service
