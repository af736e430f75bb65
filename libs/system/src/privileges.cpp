// The privilege drop and core-dump refusal, with the checks that prove they took effect.
#include "postroom/system/privileges.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace postroom::system {

namespace {

std::string why() {
  return std::strerror(errno);
}

}  // namespace

Result<void> forbid_core_dumps() {
  rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0) return fail("cannot set the core size to 0: " + why());
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return fail("cannot make the process not dumpable: " + why());
  return {};
}

Result<void> drop_root(const Account& account) {
  if (account.uid == 0) return fail("refusing to 'drop' to uid 0");
  if (::setgroups(account.groups.size(), account.groups.data()) != 0)
    return fail("setgroups for " + account.name + ": " + why());
  // Group first: once the uid is gone, changing the group is no longer allowed.
  if (::setresgid(account.gid, account.gid, account.gid) != 0)
    return fail("setresgid " + std::to_string(account.gid) + ": " + why());
  if (::setresuid(account.uid, account.uid, account.uid) != 0)
    return fail("setresuid " + std::to_string(account.uid) + ": " + why());
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  if (::getresuid(&ruid, &euid, &suid) != 0 || ::getresgid(&rgid, &egid, &sgid) != 0)
    return fail("cannot read back the ids after the switch: " + why());
  if (ruid != account.uid || euid != account.uid || suid != account.uid || rgid != account.gid ||
      egid != account.gid || sgid != account.gid)
    return fail("the switch to " + account.name + " did not hold");
  // The proof that matters: root is out of reach (no saved uid 0, no CAP_SETUID left).
  if (::setuid(0) == 0 || ::seteuid(0) == 0) return fail("root could be regained after the switch");
  return {};
}

Result<void> drop_capabilities() {
  // Ambient capabilities first: they would come back into the permitted set on exec.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return fail("cannot clear the ambient capabilities: " + why());
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, data) != 0) return fail("cannot drop capabilities: " + why());
  return {};
}

}  // namespace postroom::system
