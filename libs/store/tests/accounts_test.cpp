#include "postroom/store/accounts.hpp"

#include <doctest/doctest.h>

#include "postroom/store/database.hpp"
#include "postroom/store/messages.hpp"
#include "put_message.hpp"
#include "temp_dir.hpp"

using namespace postroom::store;

namespace {
bool local_domain(std::string_view d) {
  return d == "example.test";
}
}  // namespace

TEST_CASE("store: accounts are added, found, listed and deleted") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto id = add_account(*db, "alice@example.test", "$argon2id$hash");
  REQUIRE(id);
  CHECK_FALSE(add_account(*db, "alice@example.test", "x"));
  REQUIRE(add_account(*db, "bob@example.test", "h2"));
  auto found = find_account(*db, "alice@example.test");
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->id == *id);
  CHECK((*found)->password_hash == "$argon2id$hash");
  CHECK_FALSE((*found)->apop_secret);
  REQUIRE(set_password(*db, "alice@example.test", "new"));
  CHECK((*find_account(*db, "alice@example.test"))->password_hash == "new");
  CHECK_FALSE(set_password(*db, "nobody@example.test", "x"));
  auto list = list_accounts(*db);
  REQUIRE(list);
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].address == "alice@example.test");
  CHECK((*list)[0].messages == 0);
  REQUIRE(delete_account(*db, "bob@example.test"));
  CHECK_FALSE(delete_account(*db, "bob@example.test"));
  CHECK(list_accounts(*db)->size() == 1);
}

TEST_CASE("store: APOP secrets are separate and off by default") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(add_account(*db, "alice@example.test", "h"));
  REQUIRE(set_apop_secret(*db, "alice@example.test", "tanstaaf"));
  CHECK(*(*find_account(*db, "alice@example.test"))->apop_secret == "tanstaaf");
  REQUIRE(set_apop_secret(*db, "alice@example.test", "other"));
  CHECK(*(*find_account(*db, "alice@example.test"))->apop_secret == "other");
  REQUIRE(set_apop_secret(*db, "alice@example.test", std::nullopt));
  CHECK_FALSE((*find_account(*db, "alice@example.test"))->apop_secret);
  CHECK_FALSE(set_apop_secret(*db, "nobody@example.test", "x"));
}

TEST_CASE("store: recipients resolve through accounts and aliases, loops cut") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto alice = *add_account(*db, "alice@example.test", "h");
  auto bob = *add_account(*db, "bob@example.test", "h");
  REQUIRE(add_alias(*db, "team@example.test",
                    {"alice@example.test", "bob@example.test", "carol@remote.test"}));
  REQUIRE(add_alias(*db, "loop1@example.test", {"loop2@example.test"}));
  REQUIRE(add_alias(*db, "loop2@example.test", {"loop1@example.test", "alice@example.test"}));
  CHECK_FALSE(add_alias(*db, "alice@example.test", {"bob@example.test"}));

  auto r = resolve_recipient(*db, "alice@example.test", local_domain);
  REQUIRE(r);
  CHECK(r->kind == Route::Kind::local);
  CHECK(r->accounts == std::vector<std::int64_t>{alice});

  r = resolve_recipient(*db, "team@example.test", local_domain);
  CHECK(r->kind == Route::Kind::local);
  CHECK(r->accounts == std::vector<std::int64_t>{alice, bob});
  CHECK(r->remote == std::vector<std::string>{"carol@remote.test"});

  r = resolve_recipient(*db, "loop1@example.test", local_domain);
  CHECK(r->kind == Route::Kind::local);
  CHECK(r->accounts == std::vector<std::int64_t>{alice});

  CHECK(resolve_recipient(*db, "nobody@example.test", local_domain)->kind == Route::Kind::unknown);
  r = resolve_recipient(*db, "someone@remote.test", local_domain);
  CHECK(r->kind == Route::Kind::remote);
  CHECK(r->remote == std::vector<std::string>{"someone@remote.test"});

  auto senders = sender_addresses(*db, "alice@example.test");
  CHECK(*senders ==
        std::vector<std::string>{"alice@example.test", "loop2@example.test", "team@example.test"});
  auto aliases = list_aliases(*db);
  REQUIRE(aliases->size() == 3);
  CHECK((*aliases)[2].alias == "team@example.test");
  CHECK((*aliases)[2].targets.size() == 3);
  REQUIRE(delete_alias(*db, "team@example.test"));
  CHECK_FALSE(delete_alias(*db, "team@example.test"));
}

TEST_CASE(
    "store: a domain's catch-all takes what no mailbox or alias takes, never postmaster or abuse") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto alice = *add_account(*db, "alice@example.test", "h");
  auto bob = *add_account(*db, "bob@example.test", "h");
  REQUIRE(add_alias(*db, "sales@example.test", {"alice@example.test"}));
  REQUIRE(add_alias(*db, "@example.test", {"bob@example.test"}));
  // Mailboxes and aliases come first.
  CHECK(resolve_recipient(*db, "alice@example.test", local_domain)->accounts ==
        std::vector<std::int64_t>{alice});
  CHECK(resolve_recipient(*db, "sales@example.test", local_domain)->accounts ==
        std::vector<std::int64_t>{alice});
  // Anything else in the domain goes to the catch-all.
  auto r = resolve_recipient(*db, "typo@example.test", local_domain);
  CHECK(r->kind == Route::Kind::local);
  CHECK(r->accounts == std::vector<std::int64_t>{bob});
  // Role addresses are not caught; other domains have no catch-all.
  CHECK(resolve_recipient(*db, "postmaster@example.test", local_domain)->kind ==
        Route::Kind::unknown);
  CHECK(resolve_recipient(*db, "abuse@example.test", local_domain)->kind == Route::Kind::unknown);
  auto two_domains = [](std::string_view d) { return d == "example.test" || d == "other.test"; };
  CHECK(resolve_recipient(*db, "typo@other.test", two_domains)->kind == Route::Kind::unknown);
  // A catch-all whose target is missing in its own domain ends, without looping.
  REQUIRE(add_alias(*db, "@other.test", {"gone@other.test"}));
  CHECK(resolve_recipient(*db, "x@other.test", two_domains)->kind == Route::Kind::unknown);
  // The catch-all's target gets no "@example.test" sender address from it.
  CHECK(*sender_addresses(*db, "bob@example.test") == std::vector<std::string>{"bob@example.test"});
}

TEST_CASE("store: deleting an account removes its messages and their contents") {
  TempDir dir;
  auto db = Database::open(dir.db());
  auto alice = *add_account(*db, "alice@example.test", "h");
  REQUIRE(put_message(*db, "Subject: x\r\n\r\nhi\r\n", {alice}));
  CHECK(list_accounts(*db)->at(0).messages == 1);
  CHECK(list_accounts(*db)->at(0).bytes == 18);
  REQUIRE(delete_account(*db, "alice@example.test"));
  auto s =
      db->prepare("SELECT (SELECT count(*) FROM contents) + (SELECT count(*) FROM content_chunks)");
  REQUIRE(s->step().value());
  CHECK(s->column_int(0) == 0);
}
