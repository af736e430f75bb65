// Test helper: a message stored in chunks of any size through the calls the server uses.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "postroom/store/database.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::store {

inline Result<StoredMessage> put_message(Database& db, std::string_view body,
                                         std::vector<std::int64_t> accounts,
                                         std::size_t chunk = kChunkSize,
                                         std::optional<QueueRequest> queue = std::nullopt) {
  ContentId id = new_content_id();
  if (auto r = start_content(db, id); !r) return std::unexpected(r.error());
  SizeCounter sizes;
  std::int64_t seq = 0;
  for (std::size_t at = 0; at < body.size(); at += chunk) {
    auto piece = body.substr(at, chunk);
    sizes.add(piece);
    if (auto r = append_chunk(db, id, seq++, piece); !r) return std::unexpected(r.error());
  }
  return commit_content(db, id, {seq, sizes.size(), sizes.pop3_size()},
                        {std::move(accounts), std::move(queue)});
}

}  // namespace postroom::store
