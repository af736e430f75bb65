// Overwriting secrets through libsodium, which the optimiser cannot elide.
#include "postroom/base/wipe.hpp"

#include <sodium.h>

namespace postroom {

void wipe(std::string& secret) {
  // resize() within the capacity never reallocates; it only makes the tail addressable.
  secret.resize(secret.capacity());
  sodium_memzero(secret.data(), secret.size());
  secret.clear();
}

}  // namespace postroom
