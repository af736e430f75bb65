// Choosing the account postroom runs as: the config's `user`, the default, or an explicit root.
#include "postroom/system/run_as.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

namespace postroom::system {

std::optional<Account> lookup_account(const std::string& name) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || !found)
    return std::nullopt;
  Account account{found->pw_name, found->pw_uid, found->pw_gid, std::to_string(found->pw_gid), {}};
  group group_entry{};
  group* group_found = nullptr;
  std::vector<char> group_buffer(16384);
  if (::getgrgid_r(account.gid, &group_entry, group_buffer.data(), group_buffer.size(),
                   &group_found) == 0 &&
      group_found)
    account.group = group_found->gr_name;
  // Supplementary groups (ssl-cert, say) are how a shared key stays readable after the drop.
  int count = 32;
  account.groups.resize(static_cast<std::size_t>(count));
  while (::getgrouplist(account.name.c_str(), account.gid, account.groups.data(), &count) < 0) {
    account.groups.resize(static_cast<std::size_t>(count) * 2);
    count = static_cast<int>(account.groups.size());
  }
  account.groups.resize(static_cast<std::size_t>(count));
  return account;
}

RunAs decide_run_as(uid_t euid, const std::optional<std::string>& user, bool run_as_root,
                    const Lookup& lookup) {
  RunAs out;
  if (euid != 0) {
    if (!user) return out;
    auto account = lookup(*user);
    if (account && account->uid == euid) {
      out.account = account;
      return out;
    }
    out.kind = RunAs::Kind::refuse;
    out.message = "the config says user: " + *user + ", but this process runs as uid " +
                  std::to_string(euid) + " and cannot switch without root: start it as " + *user +
                  " or as root";
    return out;
  }
  if (run_as_root) {
    out.message = "running as root (run_as_root: true): every exploitable bug gets root";
    return out;
  }
  std::string name = user.value_or(kDefaultUser);
  auto account = lookup(name);
  if (!account) {
    out.kind = RunAs::Kind::refuse;
    out.message = user ? "user " + name + " (from the config) does not exist"
                       : std::string("started as root and no user is configured, and no '") +
                             kDefaultUser +
                             "' account exists: set user: NAME (an unprivileged account), "
                             "create the account, or set run_as_root: true";
    return out;
  }
  if (account->uid == 0) {
    out.kind = RunAs::Kind::refuse;
    out.message = "user " + name +
                  " has uid 0: it would not drop root; name an unprivileged "
                  "account, or set run_as_root: true";
    return out;
  }
  out.kind = RunAs::Kind::switch_to;
  out.account = std::move(account);
  return out;
}

}  // namespace postroom::system
