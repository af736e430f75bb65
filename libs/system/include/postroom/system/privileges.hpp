// Giving up what the process does not need once it runs: root, capabilities, core dumps.
#pragma once

#include "postroom/base/error.hpp"
#include "postroom/system/run_as.hpp"

namespace postroom::system {

// Makes the process not dumpable (PR_SET_DUMPABLE 0: no core file, no ptrace or gcore by
// other processes of the same user, /proc/PID files owned by root) and sets the core size
// limit to 0, so a crash or a debugger does not spill passwords and keys. Call it again
// after a change of identity: the kernel resets dumpability then.
Result<void> forbid_core_dumps();

// Switches the whole process (every thread) from root to `account`: supplementary groups,
// then group, then user, all three of real, effective and saved ids. Then checks that the
// switch holds and cannot be undone: setuid(0) must fail. An error means the process must
// not go on.
Result<void> drop_root(const Account& account);

// Drops every capability a non-root process was given (systemd's
// AmbientCapabilities=CAP_NET_BIND_SERVICE binds ports below 1024): once the listeners are
// bound, nothing else needs them. Capabilities belong to threads: call it before any
// thread starts.
Result<void> drop_capabilities();

}  // namespace postroom::system
