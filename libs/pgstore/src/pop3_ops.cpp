// The POP3 path: a maildrop's listing, reading a message in chunks with read-ahead, and
// the deletions of UPDATE.
#include "postroom/pgstore/pg_mail_store.hpp"
#include "store_units.hpp"

namespace postroom::pgstore {

namespace {

constexpr Statement kListMailbox{
    "list_mailbox",
    "SELECT d.id, c.pop3_size, d.uidl FROM deliveries d JOIN contents c ON c.id = d.content_id"
    " WHERE d.account_id = $1 ORDER BY d.id"};
constexpr Statement kContentOf{
    "content_of",
    "SELECT d.content_id, c.chunks FROM deliveries d JOIN contents c ON c.id = d.content_id"
    " WHERE d.id = $1 AND d.account_id = $2"};
// Chunks from $2 on while the octets before each are under $3 (at least one), as
// store::read_chunks stops; the running sum reads bytea headers only.
constexpr Statement kReadChunks{
    "read_chunks",
    "SELECT seq, data FROM (SELECT seq, data, coalesce(sum(octet_length(data)) OVER"
    " (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before"
    " FROM content_chunks WHERE content_id = $1 AND seq >= $2) t"
    " WHERE before < $3 OR seq = $2 ORDER BY seq"};
constexpr Statement kAheadSizes{
    "ahead_sizes",
    "SELECT d.id, c.id, c.size FROM deliveries d JOIN contents c ON c.id = d.content_id"
    " WHERE d.account_id = $1 AND d.id = ANY($2::int8[])"};
constexpr Statement kWholeContent{
    "whole_content", "SELECT data FROM content_chunks WHERE content_id = $1 ORDER BY seq"};
constexpr Statement kDeleteDeliveries{
    "delete_deliveries", "DELETE FROM deliveries WHERE account_id = $1 AND id = ANY($2::int8[])"};

}  // namespace

void PgMailStore::list_mailbox(std::int64_t account, MailboxVisitor visitor,
                               Reply<std::size_t> done) {
  auto count = std::make_shared<std::size_t>(0);
  Unit unit{.begin = "", .steps = {}};
  unit.steps.then(
      kListMailbox, Params().add(account), [count, visitor = std::move(visitor)](Rows& r, Steps&) {
        if (visitor.expect) {
          std::size_t uidl_bytes = 0;
          for (int i = 0; i < r.size(); ++i) uidl_bytes += r.bytes(i, 2).size();
          visitor.expect(static_cast<std::size_t>(r.size()), uidl_bytes);
        }
        for (int i = 0; i < r.size(); ++i)
          visitor.each(r.int64(i, 0), static_cast<std::uint64_t>(r.int64(i, 1)), r.bytes(i, 2));
        *count = static_cast<std::size_t>(r.size());
        return PgResult<void>{};
      });
  answer(pool_, std::move(unit), count, std::move(done));
}

void PgMailStore::read_message(MessageRead read, Reply<MessageChunks> done) {
  auto out = std::make_shared<MessageChunks>();
  Unit unit{.begin = kReadSnapshot, .steps = {}};
  auto request = std::make_shared<MessageRead>(std::move(read));
  unit.steps.then(
      kContentOf, Params().add(request->delivery).add(request->account),
      [out, request](Rows& r, Steps& next) -> PgResult<void> {
        if (r.size() == 0)
          return refuse("message " + std::to_string(request->delivery) + " is gone");
        auto chunks = r.int64(0, 1);
        next.then(kReadChunks,
                  Params()
                      .add(r.int64(0, 0))
                      .add(request->first_seq)
                      .add(static_cast<std::int64_t>(request->max_bytes)),
                  [out, request, chunks](Rows& c, Steps& more) -> PgResult<void> {
                    std::int64_t last = request->first_seq - 1;
                    for (int i = 0; i < c.size(); ++i) {
                      out->batch.chunks.emplace_back(c.bytes(i, 1));
                      last = c.int64(i, 0);
                    }
                    out->batch.complete = last >= chunks - 1;
                    if (!out->batch.complete || request->ahead.empty()) return {};
                    more.then(kAheadSizes, Params().add(request->account).add_array(request->ahead),
                              [out, request](Rows& s, Steps& whole) -> PgResult<void> {
                                // Whole messages in the order asked, while they fit.
                                std::size_t left = request->ahead_budget;
                                for (auto delivery : request->ahead) {
                                  int row = -1;
                                  for (int i = 0; i < s.size(); ++i)
                                    if (s.int64(i, 0) == delivery) row = i;
                                  if (row < 0) break;
                                  auto size = static_cast<std::size_t>(s.int64(row, 2));
                                  if (size == 0 || size > left) break;
                                  left -= size;
                                  auto slot = out->ahead.size();
                                  out->ahead.emplace_back(delivery, std::string());
                                  whole.then(kWholeContent, Params().add(s.int64(row, 1)),
                                             [out, slot](Rows& w, Steps&) -> PgResult<void> {
                                               for (int i = 0; i < w.size(); ++i)
                                                 out->ahead[slot].second += w.bytes(i, 0);
                                               return {};
                                             });
                                }
                                return {};
                              });
                    return {};
                  });
        return {};
      });
  answer(pool_, std::move(unit), out, std::move(done));
}

void PgMailStore::delete_deliveries(std::int64_t account, std::vector<std::int64_t> delivery_ids,
                                    Reply<int> done) {
  auto removed = std::make_shared<int>(0);
  Unit unit;
  unit.steps.then(kDeleteDeliveries, Params().add(account).add_array(delivery_ids),
                  [removed](Rows& r, Steps&) {
                    *removed = static_cast<int>(r.affected());
                    return PgResult<void>{};
                  });
  ++*writes_in_flight_;
  answer<int>(*account_lanes_, account, std::move(unit), removed,
              [writes = writes_in_flight_, done = std::move(done)](Result<int> r) {
                --*writes;
                if (done) done(std::move(r));
              });
}

}  // namespace postroom::pgstore
