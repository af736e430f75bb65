// Where an admin import stands, so one cut short resumes without adding a message twice.
#pragma once

#include <cstdint>
#include <string>

#include "postroom/base/error.hpp"

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

}  // namespace postroom::store
