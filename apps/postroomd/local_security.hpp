// postroomd's local security at start: who it runs as, private files, no core dumps.
#pragma once

#include "postroom/base/error.hpp"
#include "postroom/config/config.hpp"
#include "postroom/system/run_as.hpp"

namespace postroom::daemon {

// Before the config is read: a private umask and no core dumps.
Result<void> lock_down_process();

// Whether this process may run with this config, and as whom.
Result<system::RunAs> choose_identity(const config::Config& config);

// After the listeners are bound and the TLS key is loaded, before the store opens: warns
// about running as root and about readable secret files, makes data_dir private (and the account's, when root), then
// drops root or the capabilities the process was started with.
Result<void> settle_identity(const config::Config& config, const system::RunAs& run_as);

}  // namespace postroom::daemon
