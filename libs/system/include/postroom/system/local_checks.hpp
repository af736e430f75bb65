// The local security checks shared by postroomd's start and `postroom check-config`.
#pragma once

#include <string>
#include <vector>

#include "postroom/config/config.hpp"
#include "postroom/system/run_as.hpp"

namespace postroom::system {

// decide_run_as for this process with the config's user and run_as_root.
RunAs run_as(const config::Config& config);

// The group that should be able to read key files: the account's, else this process's.
std::string service_group(const RunAs& run_as);

// One warning per secret file of the config (tls.key, relay.smarthost.password_file) that
// every user of the machine can read, with the fix.
std::vector<std::string> secret_file_warnings(const config::Config& config,
                                              const std::string& group);

}  // namespace postroom::system
