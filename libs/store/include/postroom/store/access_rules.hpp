// The allow and block lists (`postroom allow|block`): rules on sender addresses, sender
// domains and client networks, for the whole server or one local domain or user.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/store/database.hpp"

namespace postroom::store {

struct AccessRule {
  enum class List { allow, block };
  enum class Kind { address, domain, network };
  List list = List::allow;
  Kind kind = Kind::address;
  std::string value;  // lower-case address or domain, or a CIDR network as written
  std::string scope;  // "" (everyone), a local domain, or a local address
};

std::string_view list_name(AccessRule::List list);
// A rule from its stored columns (what list_name and kind_name wrote).
AccessRule access_rule_from(std::string_view list, std::string_view kind, std::string value,
                            std::string scope);
std::string_view kind_name(AccessRule::Kind kind);

// Adds a rule; an existing identical rule is an error naming it.
Result<void> add_access_rule(Database& db, const AccessRule& rule);
// Removes a rule; an error when there is none.
Result<void> delete_access_rule(Database& db, const AccessRule& rule);
// Every rule, allow first, then by scope, kind and value.
Result<std::vector<AccessRule>> list_access_rules(Database& db);

}  // namespace postroom::store
