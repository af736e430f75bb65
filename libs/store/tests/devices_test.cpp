// Device passwords in the store: added, found by selector, listed without hashes, revoked.
#include "postroom/store/devices.hpp"

#include <doctest/doctest.h>

#include "postroom/store/accounts.hpp"
#include "postroom/store/database.hpp"
#include "temp_dir.hpp"

using namespace postroom::store;

TEST_CASE("store: a device is added, found by its selector, used, listed and revoked") {
  TempDir dir;
  auto db = Database::open(dir.db());
  REQUIRE(db);
  auto alice = add_account(*db, "alice@example.test", "main-hash");
  REQUIRE(alice);
  REQUIRE(add_account(*db, "bob@example.test", "h2"));
  DeviceRights scanner{false, true, {"scanner@example.test", "alice@example.test"}, 10};
  auto id = add_device(*db, "alice@example.test", "scanner", "abcd", "device-hash", scanner);
  REQUIRE(id);
  // Names are unique per mailbox, selectors too; another mailbox may reuse both.
  CHECK_FALSE(add_device(*db, "alice@example.test", "scanner", "wxyz", "h", {}));
  CHECK_FALSE(add_device(*db, "alice@example.test", "phone", "abcd", "h", {}));
  CHECK(*device_selector_taken(*db, *alice, "abcd"));
  CHECK_FALSE(*device_selector_taken(*db, *alice, "wxyz"));
  REQUIRE(add_device(*db, "bob@example.test", "scanner", "abcd", "h3", {}));
  CHECK_FALSE(add_device(*db, "nobody@example.test", "x", "efgh", "h", {}));

  auto found = find_device(*db, *alice, "abcd");
  REQUIRE(found);
  REQUIRE(found->has_value());
  const Device& d = **found;
  CHECK(d.id == *id);
  CHECK(d.name == "scanner");
  CHECK(d.address == "alice@example.test");
  CHECK(d.password_hash == "device-hash");
  CHECK_FALSE(d.rights.pop3);
  CHECK(d.rights.smtp);
  CHECK(d.rights.rate_per_hour == 10);
  CHECK(d.rights.senders == std::vector<std::string>{"alice@example.test", "scanner@example.test"});
  CHECK_FALSE(find_device(*db, *alice, "wxyz")->has_value());

  auto listed = list_devices(*db, std::string("alice@example.test"));
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].password_hash.empty());  // a listing never reads the hash
  CHECK_FALSE((*listed)[0].last_used_at);
  REQUIRE(record_device_use(*db, *id, 1'800'000'000, "192.0.2.7"));
  listed = list_devices(*db);
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].address == "alice@example.test");
  CHECK((*listed)[0].last_used_at == std::optional<std::int64_t>(1'800'000'000));
  CHECK((*listed)[0].last_ip == "192.0.2.7");
  CHECK((*listed)[1].address == "bob@example.test");
  CHECK((*listed)[1].rights.senders.empty());

  REQUIRE(delete_device(*db, "alice@example.test", "scanner"));
  CHECK_FALSE(find_device(*db, *alice, "abcd")->has_value());
  CHECK_FALSE(delete_device(*db, "alice@example.test", "scanner"));
  // Recording the use of a revoked device changes nothing and is no error.
  CHECK(record_device_use(*db, *id, 1'800'000'100, "192.0.2.7"));
  // Deleting the mailbox takes its devices with it.
  REQUIRE(delete_account(*db, "bob@example.test"));
  CHECK(list_devices(*db)->empty());
}
