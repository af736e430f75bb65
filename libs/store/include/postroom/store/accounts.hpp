// Mailbox accounts and aliases: the rows the admin tool edits and the servers read.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"

namespace postroom::store {

class Database;

struct Account {
  std::int64_t id = 0;
  std::string address;
  std::string password_hash;
  std::optional<std::string> apop_secret;
};

struct AccountSummary {
  std::string address;
  std::int64_t messages = 0;
  std::int64_t bytes = 0;
};

// Addresses are passed already normalized (lower-case); see postroom::parse_address.
Result<std::int64_t> add_account(Database& db, const std::string& address,
                                 const std::string& password_hash);
Result<void> set_password(Database& db, const std::string& address,
                          const std::string& password_hash);
// Deletes a mailbox and its mail in short transactions of its own (the caller holds
// none): the admin tool must never keep the daemon's writer waiting. Returns how many
// messages went; `progress` hears the count after each batch. Finishes a deletion that
// was cut short.
Result<int> delete_account(Database& db, const std::string& address,
                           const std::function<void(int)>& progress = nullptr);
Result<std::vector<AccountSummary>> list_accounts(Database& db);
Result<std::optional<Account>> find_account(Database& db, const std::string& address);
// nullopt turns APOP off for the account.
Result<void> set_apop_secret(Database& db, const std::string& address,
                             const std::optional<std::string>& secret);

Result<void> add_alias(Database& db, const std::string& alias,
                       const std::vector<std::string>& targets);
Result<void> delete_alias(Database& db, const std::string& alias);
struct Alias {
  std::string alias;
  std::vector<std::string> targets;
};
Result<std::vector<Alias>> list_aliases(Database& db);
// The addresses whose mail may be sent as `address`'s (its own and aliases pointing at it).
Result<std::vector<std::string>> sender_addresses(Database& db, const std::string& address);

// Where mail for one recipient goes, after alias expansion.
struct Route {
  // local: an address of ours (an account or an alias, whatever its targets);
  // remote: another domain; unknown: ours, but no such account or alias.
  enum class Kind { local, remote, unknown } kind = Kind::unknown;
  std::vector<std::int64_t> accounts;  // local mailboxes
  std::vector<std::string> remote;     // addresses to relay to
};

// Resolves `address` (lower-case): an account, else an alias expanded recursively
// (loops and depth over 10 are cut), else unknown for local domains; any address in
// another domain is remote.
Result<Route> resolve_recipient(Database& db, const std::string& address,
                                const std::function<bool(std::string_view)>& is_local_domain);

}  // namespace postroom::store
