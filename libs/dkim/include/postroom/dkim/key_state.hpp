// Key rotation: a new key is published (its TXT record goes into DNS) before anything is
// signed with it, because a receiver that cannot find the key treats the signature as
// failed. A key signs once an admin activates it, or once it has been published for
// dkim.activate_after; the key it replaces is retired (kept in DNS a while for mail still
// on its way, then deleted by the admin).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/dkim/key.hpp"

namespace postroom::dkim {

enum class State { published, active, retired };

std::string_view state_name(State state);

// What the state file beside a key says: the state and since when (Unix seconds).
struct StoredState {
  State state = State::published;
  std::int64_t since = 0;
};

// The state file's content, one line: "published 1796190980".
std::string state_text(const StoredState& stored);
Result<StoredState> parse_state(std::string_view text);

struct KeyInfo {
  std::string domain;  // lower-case
  std::string selector;
  Algorithm algorithm = Algorithm::rsa;
  StoredState stored;
};

// The state each key is in at `now` (same order as `keys`). Per domain and algorithm, the
// key that became active last signs: an activated key since its activation, a published
// one since `since + activate_after` (never when activate_after is nullopt); every other key
// that was or would be active is retired.
std::vector<State> effective_states(const std::vector<KeyInfo>& keys, std::int64_t now,
                                    std::optional<std::int64_t> activate_after);

}  // namespace postroom::dkim
