// Where an admin import stands, so one cut short resumes without adding a message twice.
#pragma once

#include <cstdint>
#include <string>

#include "postroom/base/error.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::store {

class Database;

struct ImportPosition {
  std::string position;  // the source's own resume mark (a message count, a file name)
  int messages = 0;      // imported from this source into this account so far
};

// The position saved for (account, source), or an empty one.
Result<ImportPosition> import_position(Database& db, std::int64_t account,
                                       const std::string& source);
// Saves it in the caller's transaction, with the messages it counts.
Result<void> save_import_position(Database& db, std::int64_t account, const std::string& source,
                                  const ImportPosition& position);

// Imported mail keeps the UIDL the old server gave it (RFC 1939 §7 asks only that a UIDL be
// unique within its mailbox, which the schema enforces). The functions below run inside
// the import's transaction.

// The content of the account's message with this UIDL, if there is one.
Result<std::optional<ContentId>> content_with_uidl(Database& db, std::int64_t account,
                                                   const std::string& uidl);
// Gives the account's delivery of `content` the UIDL `uidl` in place of the random one it
// was stored with; fails when the mailbox has that UIDL already.
Result<void> set_uidl(Database& db, std::int64_t account, ContentId content,
                      const std::string& uidl);
// Removes the account's delivery of `content` (a duplicate found after it was stored).
Result<void> drop_delivery(Database& db, std::int64_t account, ContentId content);
// Whether two stored contents are the same message as RETR sends it (bare LF and CRLF line
// ends, and a missing last line end, compare alike); read chunk by chunk.
Result<bool> same_content(Database& db, ContentId a, ContentId b);

}  // namespace postroom::store
