// The statements of a message write and their checks.
#include "message_steps.hpp"

#include <algorithm>
#include <ctime>

#include "postroom/pgstore/statement.hpp"

namespace postroom::pgstore {

namespace {

constexpr Statement kStartContent{"start_content",
                                  "INSERT INTO contents (id, created_at) VALUES ($1, $2)"};
constexpr Statement kAppendChunk{
    "append_chunk", "INSERT INTO content_chunks (content_id, seq, data) VALUES ($1, $2, $3)"};
// octet_length of a bytea reads its header, not the (possibly TOASTed) value.
constexpr Statement kChunkSummary{
    "chunk_summary",
    "SELECT count(*), coalesce(sum(octet_length(data)), 0)::int8, coalesce(min(seq), 0),"
    " coalesce(max(seq), -1) FROM content_chunks WHERE content_id = $1"};
constexpr Statement kSeal{"seal_content",
                          "UPDATE contents SET size = $2, pop3_size = $3, chunks = $4,"
                          " complete = 1 WHERE id = $1 AND complete = 0"};
constexpr Statement kDeliver{"deliver",
                             "INSERT INTO deliveries (account_id, content_id, uidl, delivered_at)"
                             " SELECT id, $1, $2, $3 FROM accounts WHERE id = $4 AND deleting = 0"};
constexpr Statement kQueue{
    "queue_message",
    "INSERT INTO queue (queue_id, content_id, sender, smtputf8, body_8bit, created_at)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"};
constexpr Statement kQueueRecipients{
    "queue_recipients",
    "INSERT INTO queue_recipients (queue_row, recipient, next_attempt)"
    " SELECT $1, r, $3 FROM unnest($2::text[]) WITH ORDINALITY AS t(r, n) ORDER BY n"};
constexpr Statement kDropContent{"drop_content", "DELETE FROM contents WHERE id = $1"};

PgResult<void> refuse(std::string why) {
  return pg_fail(PgError::Kind::check_failed, std::move(why));
}

// As the SQLite store's: seconds in base 32, then randomness (UIDLs sort by arrival).
std::string new_uidl(std::int64_t seconds) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuv";
  std::string out(7, '0');
  auto left = static_cast<std::uint64_t>(seconds);
  for (int i = 6; i >= 0; --i, left >>= 5) out[static_cast<std::size_t>(i)] = kDigits[left & 31];
  return out + store::random_token(11);
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace

std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

void start_content(Steps& steps, store::ContentId id, std::int64_t now) {
  // The primary key refuses an id already taken: a session never shares a content.
  steps.then(kStartContent, Params().add(id).add(now));
}

void append_chunk(Steps& steps, store::ContentId id, std::int64_t seq, std::string bytes) {
  // The foreign key refuses a chunk whose content is gone.
  steps.then(kAppendChunk, Params().add(id).add(seq).add_bytes(std::move(bytes)));
}

void commit_content(Steps& steps, store::ContentId id, const store::ContentSummary& summary,
                    const store::Destination& destination, std::int64_t now,
                    const std::shared_ptr<store::StoredMessage>& stored) {
  stored->content_id = id;
  steps.then(kChunkSummary, Params().add(id), [id, summary](Rows& r, Steps&) {
    auto chunks = r.int64(0, 0), bytes = r.int64(0, 1);
    auto first = r.int64(0, 2), last = r.int64(0, 3);
    if (chunks != summary.chunks || bytes != static_cast<std::int64_t>(summary.size) ||
        first != 0 || last != summary.chunks - 1)
      return refuse("message content " + std::to_string(id) +
                    " is incomplete: " + std::to_string(chunks) + " chunk(s) of " +
                    std::to_string(bytes) + " octets stored, " + std::to_string(summary.chunks) +
                    " of " + std::to_string(summary.size) + " sent");
    return PgResult<void>{};
  });
  steps.then(kSeal,
             Params()
                 .add(id)
                 .add(static_cast<std::int64_t>(summary.size))
                 .add(static_cast<std::int64_t>(summary.pop3_size))
                 .add(summary.chunks),
             [id](Rows& r, Steps&) {
               if (r.affected() != 1)
                 return refuse("message content " + std::to_string(id) +
                               " is not an open content of this session");
               return PgResult<void>{};
             });
  for (auto account : destination.accounts) {
    // A mailbox deleted (or being deleted) since its recipient was checked takes nothing.
    steps.then(kDeliver, Params().add(id).add(new_uidl(now)).add(now).add(account),
               [account](Rows& r, Steps&) {
                 if (r.affected() != 1)
                   return refuse("mailbox " + std::to_string(account) + " no longer exists");
                 return PgResult<void>{};
               });
  }
  const auto& queue = destination.queue;
  if (queue && !queue->recipients.empty()) {
    stored->queue_id = store::random_token(10);
    steps.then(kQueue,
               Params()
                   .add(stored->queue_id)
                   .add(id)
                   .add(queue->sender)
                   .add(std::int64_t{queue->smtputf8})
                   .add(std::int64_t{queue->body_8bit})
                   .add(now),
               [recipients = queue->recipients, now](Rows& r, Steps& next) {
                 next.then(kQueueRecipients,
                           Params().add(r.int64(0, 0)).add_array(recipients).add(now));
                 return PgResult<void>{};
               });
  }
  if (destination.accounts.empty() && stored->queue_id.empty())
    steps.then(kDropContent, Params().add(id));
}

void store_from_null_sender(Steps& steps, std::string_view message, store::Destination destination,
                            std::int64_t now, const std::shared_ptr<store::StoredMessage>& stored) {
  if (destination.queue) destination.queue->body_8bit = !is_ascii(message);
  auto id = store::new_content_id();
  start_content(steps, id, now);
  store::MessageChunker chunker;
  auto add = [&](std::int64_t seq, std::string chunk) {
    append_chunk(steps, id, seq, std::move(chunk));
  };
  chunker.add("Return-Path: <>\r\n", add);
  chunker.add(message, add);
  auto [seq, last] = chunker.finish();
  if (!last.empty()) append_chunk(steps, id, seq, std::move(last));
  commit_content(steps, id, chunker.summary(), destination, now, stored);
}

}  // namespace postroom::pgstore
