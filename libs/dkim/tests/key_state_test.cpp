// The rotation rule: published before signing, activation by hand or by age, one signer per
// domain and algorithm.
#include "postroom/dkim/key_state.hpp"

#include <doctest/doctest.h>

using namespace postroom::dkim;

namespace {

KeyInfo key(std::string selector, Algorithm algorithm, State state, std::int64_t since,
            std::string domain = "example.test") {
  return {std::move(domain), std::move(selector), algorithm, {state, since}};
}

constexpr std::int64_t kDay = 86400;

}  // namespace

TEST_CASE("dkim: state files round-trip and bad ones are refused") {
  auto parsed = parse_state(state_text({State::active, 1796190980}));
  REQUIRE(parsed);
  CHECK(parsed->state == State::active);
  CHECK(parsed->since == 1796190980);
  CHECK(state_text({State::published, 5}) == "published 5\n");
  CHECK(parse_state("retired 7\r\n")->state == State::retired);
  for (auto bad : {"", "active", "active x", "signing 5", "active -1", "active 5 6", "active 5x"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_state(bad));
  }
}

TEST_CASE("dkim: a published key does not sign before it is due, then does") {
  std::vector<KeyInfo> keys = {key("new", Algorithm::rsa, State::published, 1000)};
  CHECK(effective_states(keys, 1000 + 2 * kDay - 1, 2 * kDay)[0] == State::published);
  CHECK(effective_states(keys, 1000 + 2 * kDay, 2 * kDay)[0] == State::active);
  // Without automatic activation it waits for the admin for ever.
  CHECK(effective_states(keys, 1000 + 400 * kDay, std::nullopt)[0] == State::published);
}

TEST_CASE("dkim: activating a new selector retires the old one, per algorithm") {
  std::vector<KeyInfo> keys = {
      key("old", Algorithm::rsa, State::active, 100),
      key("ed", Algorithm::ed25519, State::active, 100),
      key("new", Algorithm::rsa, State::published, 5000),
  };
  auto before = effective_states(keys, 6000, std::nullopt);
  CHECK(before == std::vector<State>{State::active, State::active, State::published});
  keys[2].stored = {State::active, 6000};
  auto after = effective_states(keys, 6000, std::nullopt);
  CHECK(after == std::vector<State>{State::retired, State::active, State::active});
  // The order the directory was read in does not matter.
  std::swap(keys[0], keys[2]);
  CHECK(effective_states(keys, 6000, std::nullopt) ==
        std::vector<State>{State::active, State::active, State::retired});
}

TEST_CASE("dkim: a key published long enough takes over from an older active key") {
  std::vector<KeyInfo> keys = {
      key("old", Algorithm::rsa, State::active, 100),
      key("new", Algorithm::rsa, State::published, 1000),
  };
  CHECK(effective_states(keys, 1000 + kDay - 1, kDay) ==
        std::vector<State>{State::active, State::published});
  CHECK(effective_states(keys, 1000 + kDay, kDay) ==
        std::vector<State>{State::retired, State::active});
  // But an admin's later activation of the old one wins back.
  keys[0].stored = {State::active, 1000 + 2 * kDay};
  CHECK(effective_states(keys, 1000 + 2 * kDay, kDay) ==
        std::vector<State>{State::active, State::retired});
}

TEST_CASE("dkim: domains rotate independently; retired stays retired") {
  std::vector<KeyInfo> keys = {
      key("a", Algorithm::rsa, State::active, 100, "one.test"),
      key("a", Algorithm::rsa, State::active, 200, "two.test"),
      key("b", Algorithm::rsa, State::retired, 300, "two.test"),
  };
  CHECK(effective_states(keys, 1000, kDay) ==
        std::vector<State>{State::active, State::active, State::retired});
}

TEST_CASE("dkim: a key activated in the future (the clock went back) does not sign yet") {
  std::vector<KeyInfo> keys = {key("a", Algorithm::rsa, State::active, 5000)};
  CHECK(effective_states(keys, 4000, std::nullopt)[0] == State::published);
}
