// Writing a message as statements of a unit: its content and chunks, and the commit that
// seals it and hands it to mailboxes and the queue (store::commit_content's checks).
#pragma once

#include <memory>
#include <string>

#include "postroom/pgstore/unit.hpp"
#include "postroom/store/messages.hpp"

namespace postroom::pgstore {

std::int64_t unix_now();

void start_content(Steps& steps, store::ContentId id, std::int64_t now);
void append_chunk(Steps& steps, store::ContentId id, std::int64_t seq, std::string bytes);

// The seal (exactly `summary`'s chunks and octets, the content still open), a delivery per
// account, the queue rows; `stored` learns the queue id. A content nothing refers to is
// dropped rather than left behind.
void commit_content(Steps& steps, store::ContentId id, const store::ContentSummary& summary,
                    const store::Destination& destination, std::int64_t now,
                    const std::shared_ptr<store::StoredMessage>& stored);

// A whole message from the null sender (a bounce), as store::store_from_null_sender writes
// it: a "Return-Path: <>" line first, cut into chunks, committed to `destination`.
void store_from_null_sender(Steps& steps, std::string_view message, store::Destination destination,
                            std::int64_t now, const std::shared_ptr<store::StoredMessage>& stored);

}  // namespace postroom::pgstore
