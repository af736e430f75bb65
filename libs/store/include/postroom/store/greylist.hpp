// Greylisting's memory: (client network, sender, recipient) triplets and the sender domains
// that passed from a network. One call decides and records, inside one write transaction.
#pragma once

#include <cstdint>
#include <string>

#include "postroom/base/error.hpp"
#include "postroom/store/database.hpp"

namespace postroom::store {

struct GreylistTriplet {
  std::string network;        // "192.0.2.0/24" or "2001:db8:1:2::/64"
  std::string sender;         // lower-case address, "" for the null reverse-path
  std::string sender_domain;  // lower-case, "" for the null reverse-path
  std::string recipient;      // lower-case address
};

// Whether this attempt passes: the sender domain passed from this network before, or the
// triplet was first seen at least `window` seconds ago (then it is marked passed and its
// sender domain allow-listed from the network). Otherwise the triplet is recorded (the first
// time) and the attempt is deferred. Triplets first seen more than `forget` seconds ago
// that never passed start over.
Result<bool> greylist_check(Database& db, const GreylistTriplet& t, std::int64_t now,
                            std::int64_t window, std::int64_t forget);

// Forgets first tries never retried since `unretried_before`, and passed triplets and sender
// domains not used since `passed_before` (a pass is renewed each time it lets mail in).
// Returns the rows removed.
Result<int> greylist_purge(Database& db, std::int64_t unretried_before, std::int64_t passed_before);

}  // namespace postroom::store
