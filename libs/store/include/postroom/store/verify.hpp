// `postroom verify`: the whole store checked, every problem named.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::store {

class Database;

struct VerifyReport {
  std::vector<std::string> problems;  // one line each; empty: the store is sound
  std::int64_t contents = 0;
  std::int64_t deliveries = 0;
  std::int64_t queued = 0;
  std::int64_t open_contents = 0;  // being written (or abandoned): not a problem by itself
};

// SQLite's integrity_check, then every committed content: its chunks numbered from 0
// without a gap, their octets adding up to its size and, read through, to its POP3 size;
// every delivery and queue entry pointing at a committed content; no committed content
// that nothing points at. Reads every stored byte once.
Result<VerifyReport> verify_store(Database& db);

}  // namespace postroom::store
