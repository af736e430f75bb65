// Which account postroom runs as, and owns its files as, decided from the config and the
// identity the process was started with.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace postroom::system {

// The account used when the config names none.
inline constexpr const char* kDefaultUser = "postroom";

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;              // the primary group
  std::string group;          // its name, for messages ("chgrp postroom FILE")
  std::vector<gid_t> groups;  // every group the account is in, the primary one included
};

// The account from the password and group databases, or nullopt when there is none.
std::optional<Account> lookup_account(const std::string& name);

using Lookup = std::function<std::optional<Account>(const std::string&)>;

struct RunAs {
  enum class Kind {
    stay,       // keep the identity the process has
    switch_to,  // started as root: drop to `account` once ports are bound
    refuse,     // do not run: `message` says why and what to set
  };
  Kind kind = Kind::stay;
  // switch_to: the account. stay: the configured account when it is the current one.
  std::optional<Account> account;
  std::string message;  // refuse: the reason; stay as root: a warning worth logging
};

// The rules, in order:
// - started as root: the configured `user`, else "postroom" if that account exists, is
//   switched to; with neither, the process refuses unless run_as_root is true (then it
//   stays root, with a warning). A configured account that does not exist, or has uid 0,
//   is refused.
// - started as another user: it stays. A configured `user` must then be that user (nothing
//   else could be reached without root), or the process refuses.
// `lookup` is lookup_account outside tests.
RunAs decide_run_as(uid_t euid, const std::optional<std::string>& user, bool run_as_root,
                    const Lookup& lookup);

}  // namespace postroom::system
