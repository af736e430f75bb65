// Chunked, group-committed message writes from the loop thread to the store writer.
#include "postroom/service/message_sink.hpp"

#include "postroom/service/context.hpp"
#include "postroom/store/writer.hpp"

namespace postroom::service {

namespace {

// Runs on the writer thread: makes sure the content row exists.
Result<void> ensure_content(store::Database& db, std::int64_t& content_id) {
  if (content_id != 0) return {};
  auto created = store::create_content(db);
  if (!created) return std::unexpected(created.error());
  content_id = *created;
  return {};
}

}  // namespace

MessageSink::~MessageSink() {
  abort();
}

void MessageSink::begin() {
  abort();
  state_ = std::make_shared<State>();
  buffer_.clear();
  sizes_ = {};
}

void MessageSink::append(std::string_view bytes) {
  if (!state_) return;
  sizes_.add(bytes);
  buffer_.append(bytes);
  if (buffer_.size() >= store::kChunkSize) submit_chunk();
}

void MessageSink::submit_chunk() {
  auto state = state_;
  auto chunk = std::make_shared<std::string>(std::move(buffer_));
  buffer_.clear();
  std::int64_t seq = state->next_seq++;
  ++state->in_flight;
  context_.write(
      [state, chunk, seq](store::Database& db) -> Result<void> {
        if (state->failed) return {};
        auto r = ensure_content(db, state->content_id);
        if (r) r = store::append_chunk(db, state->content_id, seq, *chunk);
        if (!r) {
          state->failed = true;
          state->error = r.error().message;
        }
        return r;
      },
      [alive = std::weak_ptr<bool>(alive_), this, state](Result<void>) {
        --state->in_flight;
        if (alive.expired()) return;  // the sink (and its connection) went away meanwhile
        if (state == state_ && on_chunk_written) on_chunk_written();
      });
}

void MessageSink::commit(Destination destination, Done done) {
  if (!state_) return done(fail("no message in progress"));
  auto state = std::move(state_);
  auto last = std::make_shared<std::string>(std::move(buffer_));
  buffer_.clear();
  std::int64_t seq = state->next_seq++;
  auto size = sizes_.size();
  auto pop3_size = sizes_.pop3_size();
  auto stored = std::make_shared<store::StoredMessage>();
  context_.write(
      [state, last, seq, size, pop3_size, destination = std::move(destination),
       stored](store::Database& db) -> Result<void> {
        if (state->failed) return fail(state->error);
        auto r = ensure_content(db, state->content_id);
        if (r && !last->empty()) r = store::append_chunk(db, state->content_id, seq, *last);
        if (!r) return r;
        auto complete = store::complete_content(db, state->content_id, size, pop3_size,
                                                destination.accounts, destination.queue);
        if (!complete) return std::unexpected(complete.error());
        *stored = *complete;
        return {};
      },
      [&context = context_, state, stored, done = std::move(done)](Result<void> r) {
        if (!r) {
          // Chunks committed earlier belong to a message that will never complete.
          if (state->content_id != 0) {
            auto id = state->content_id;
            context.write([id](store::Database& db) { return store::discard_content(db, id); },
                          nullptr);
          }
          return done(std::unexpected(r.error()));
        }
        done(*stored);
      });
}

void MessageSink::abort() {
  if (!state_) return;
  auto state = std::move(state_);
  buffer_.clear();
  if (state->next_seq == 0) return;  // nothing reached the writer
  // Runs after the chunk jobs (the writer keeps order), so content_id is known by then.
  context_.write(
      [state](store::Database& db) -> Result<void> {
        if (state->content_id == 0) return {};
        return store::discard_content(db, state->content_id);
      },
      nullptr);
}

}  // namespace postroom::service
