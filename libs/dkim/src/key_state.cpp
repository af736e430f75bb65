// The rotation rule, as a pure function of the stored states and the clock.
#include "postroom/dkim/key_state.hpp"

#include <charconv>
#include <map>
#include <tuple>

namespace postroom::dkim {

std::string_view state_name(State state) {
  switch (state) {
    case State::published:
      return "published";
    case State::active:
      return "active";
    case State::retired:
      return "retired";
  }
  return "?";
}

std::string state_text(const StoredState& stored) {
  return std::string(state_name(stored.state)) + " " + std::to_string(stored.since) + "\n";
}

Result<StoredState> parse_state(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  auto space = text.find(' ');
  if (space == std::string_view::npos) return fail("expected 'STATE SECONDS'");
  std::string_view word = text.substr(0, space), number = text.substr(space + 1);
  StoredState out;
  if (word == "published") {
    out.state = State::published;
  } else if (word == "active") {
    out.state = State::active;
  } else if (word == "retired") {
    out.state = State::retired;
  } else {
    return fail("unknown state '" + std::string(word.substr(0, 20)) + "'");
  }
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), out.since);
  if (ec != std::errc() || end != number.data() + number.size() || out.since < 0)
    return fail("bad time");
  return out;
}

std::vector<State> effective_states(const std::vector<KeyInfo>& keys, std::int64_t now,
                                    std::optional<std::int64_t> activate_after) {
  std::vector<State> out(keys.size());
  // When each key became (or becomes) active; nullopt when it never was.
  std::vector<std::optional<std::int64_t>> activation(keys.size());
  // Per (domain, algorithm): the key that became active last, ties to the later selector
  // so the outcome never depends on the order the directory was read in.
  std::map<std::pair<std::string, Algorithm>, std::size_t> winner;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& key = keys[i];
    out[i] = key.stored.state;
    if (key.stored.state == State::active && key.stored.since <= now) {
      activation[i] = key.stored.since;
    } else if (key.stored.state == State::published && activate_after &&
               key.stored.since + *activate_after <= now) {
      activation[i] = key.stored.since + *activate_after;
    } else if (key.stored.state == State::active) {
      out[i] = State::published;  // activated "in the future": a clock that went back
    }
    if (!activation[i]) continue;
    auto [it, first] = winner.try_emplace({key.domain, key.algorithm}, i);
    if (first) continue;
    const auto& best = keys[it->second];
    if (std::tie(*activation[i], key.selector) > std::tie(*activation[it->second], best.selector))
      it->second = i;
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!activation[i]) continue;
    out[i] = winner.at({keys[i].domain, keys[i].algorithm}) == i ? State::active : State::retired;
  }
  return out;
}

}  // namespace postroom::dkim
