#include "postroom/system/run_as.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace postroom::system;

namespace {

// A fake account database: postroom (uid 105) and mail (uid 8) exist, toor is uid 0.
std::optional<Account> fake(const std::string& name) {
  static const std::map<std::string, Account> accounts = {
      {"postroom", {"postroom", 105, 110, "postroom", {110}}},
      {"mail", {"mail", 8, 8, "mail", {8}}},
      {"toor", {"toor", 0, 0, "root", {0}}}};
  auto it = accounts.find(name);
  if (it == accounts.end()) return std::nullopt;
  return it->second;
}

std::optional<Account> nobody_exists(const std::string&) {
  return std::nullopt;
}

}  // namespace

TEST_CASE("run as: root switches to the configured user") {
  auto r = decide_run_as(0, std::string("mail"), false, fake);
  CHECK(r.kind == RunAs::Kind::switch_to);
  REQUIRE(r.account);
  CHECK(r.account->uid == 8);
}

TEST_CASE("run as: root with no user switches to postroom when it exists") {
  auto r = decide_run_as(0, std::nullopt, false, fake);
  CHECK(r.kind == RunAs::Kind::switch_to);
  REQUIRE(r.account);
  CHECK(r.account->name == "postroom");
}

TEST_CASE("run as: root with no account to switch to refuses, unless run_as_root") {
  auto r = decide_run_as(0, std::nullopt, false, nobody_exists);
  CHECK(r.kind == RunAs::Kind::refuse);
  CHECK(r.message.find("run_as_root: true") != std::string::npos);
  auto kept = decide_run_as(0, std::nullopt, true, nobody_exists);
  CHECK(kept.kind == RunAs::Kind::stay);
  CHECK_FALSE(kept.account);
  CHECK(kept.message.find("running as root") != std::string::npos);
  // run_as_root wins over an existing default account: the admin asked for it explicitly.
  CHECK(decide_run_as(0, std::nullopt, true, fake).kind == RunAs::Kind::stay);
}

TEST_CASE("run as: a configured account that is missing or uid 0 is refused") {
  auto missing = decide_run_as(0, std::string("ghost"), false, fake);
  CHECK(missing.kind == RunAs::Kind::refuse);
  CHECK(missing.message.find("ghost") != std::string::npos);
  CHECK(decide_run_as(0, std::string("toor"), false, fake).kind == RunAs::Kind::refuse);
}

TEST_CASE("run as: a non-root process stays, and must be the configured user") {
  CHECK(decide_run_as(1000, std::nullopt, false, fake).kind == RunAs::Kind::stay);
  auto same = decide_run_as(105, std::string("postroom"), false, fake);
  CHECK(same.kind == RunAs::Kind::stay);
  REQUIRE(same.account);
  CHECK(same.account->name == "postroom");
  auto other = decide_run_as(1000, std::string("postroom"), false, fake);
  CHECK(other.kind == RunAs::Kind::refuse);
  CHECK(other.message.find("cannot switch") != std::string::npos);
}

TEST_CASE("run as: the real account database knows root and its groups") {
  auto root = lookup_account("root");
  REQUIRE(root);
  CHECK(root->uid == 0);
  CHECK(root->group == "root");
  CHECK_FALSE(root->groups.empty());
  CHECK_FALSE(lookup_account("no-such-user-postroom-test"));
}
