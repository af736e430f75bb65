// Per-device passwords: the rows `postroom device` edits and the logins read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::store {

class Database;

// What a device may do, as the admin gave it.
struct DeviceRights {
  bool pop3 = true;
  bool smtp = true;
  std::vector<std::string> senders;  // lower-case; empty: the account's own sender addresses
  std::int64_t rate_per_hour = 0;    // messages per hour sent with it; 0: no own limit
};

struct Device {
  std::int64_t id = 0;
  std::int64_t account_id = 0;
  std::string address;  // the account's
  std::string name;
  std::string selector;       // the password's public first group
  std::string password_hash;  // filled by find_device only: listing never reads it
  DeviceRights rights;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> last_used_at;
  std::string last_ip;  // empty when never used
};

// Adds a device to the account `address` (lower-case). Fails when the account does not
// exist, the name is taken, or the selector is (the caller draws another password).
Result<std::int64_t> add_device(Database& db, const std::string& address, const std::string& name,
                                const std::string& selector, const std::string& password_hash,
                                const DeviceRights& rights);
// True when the account already has a device with this selector.
Result<bool> device_selector_taken(Database& db, std::int64_t account_id,
                                   const std::string& selector);
// Removes one device; fails when there is no such device.
Result<void> delete_device(Database& db, const std::string& address, const std::string& name);
// Every device, or those of one account, by address then name; without password hashes.
Result<std::vector<Device>> list_devices(Database& db,
                                         const std::optional<std::string>& address = std::nullopt);
// The device a login presents, with its hash and rights, or nullopt.
Result<std::optional<Device>> find_device(Database& db, std::int64_t account_id,
                                          const std::string& selector);
// Records a successful login: when (unix seconds) and from which client address.
Result<void> record_device_use(Database& db, std::int64_t device_id, std::int64_t at,
                               const std::string& ip);

}  // namespace postroom::store
