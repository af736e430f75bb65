// Overwriting secrets (passwords, AUTH payloads) before their memory is reused or released.
#pragma once

#include <string>

namespace postroom {

// Zeroes the string's whole buffer, then empties it. The whole capacity, not just the size:
// a short string that was moved from, or shrunk, still holds its old bytes there. The
// zeroing goes through libsodium so the compiler cannot drop it as a dead store.
void wipe(std::string& secret);

}  // namespace postroom
