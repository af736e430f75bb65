// The start-up sequence that leaves postroomd unprivileged, private and not dumpable.
#include "local_security.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include "postroom/base/log.hpp"
#include "postroom/system/data_dir.hpp"
#include "postroom/system/local_checks.hpp"
#include "postroom/system/privileges.hpp"

namespace postroom::daemon {

Result<void> lock_down_process() {
  // Whatever postroomd creates (database, WAL, SHM, keys) is for its own user only.
  ::umask(077);
  return system::forbid_core_dumps();
}

Result<system::RunAs> choose_identity(const config::Config& config) {
  auto run_as = system::run_as(config);
  if (run_as.kind == system::RunAs::Kind::refuse) return fail(run_as.message);
  return run_as;
}

Result<void> settle_identity(const config::Config& config, const system::RunAs& run_as) {
  bool switching = run_as.kind == system::RunAs::Kind::switch_to;
  // Warnings only once the ports are bound: a failed start stays one line.
  if (!run_as.message.empty()) log_line("postroomd: warning: ", run_as.message);
  for (const auto& warning : system::secret_file_warnings(config, system::service_group(run_as)))
    log_line("postroomd: warning: ", warning);
  auto notes = system::prepare_data_dir(config.data_dir, config.database_path(),
                                        switching ? run_as.account : std::nullopt);
  if (!notes) return std::unexpected(notes.error());
  for (const auto& note : *notes) log_line("postroomd: data_dir: ", note);
  if (switching) {
    if (auto r = system::drop_root(*run_as.account); !r) return r;
    // A change of identity resets dumpability to the system default.
    if (auto r = system::forbid_core_dumps(); !r) return r;
    log_line("postroomd: running as ", run_as.account->name, " (uid ", run_as.account->uid,
             ", gid ", run_as.account->gid, ")");
  } else if (::geteuid() != 0) {
    if (auto r = system::drop_capabilities(); !r) return r;
  }
  // Say so plainly now rather than as an SQLite error: the account must reach data_dir and
  // write the database files (root's, say, made by `postroom` before the account existed).
  std::string uid = std::to_string(::geteuid());
  if (::access(config.data_dir.c_str(), R_OK | W_OK | X_OK) != 0)
    return fail("data_dir " + config.data_dir.string() + " is not writable by this process (uid " +
                uid + "): check its owner and that every parent directory is searchable");
  for (const auto& file : system::database_files(config.database_path())) {
    if (::access(file.c_str(), F_OK) == 0 && ::access(file.c_str(), R_OK | W_OK) != 0)
      return fail(file.string() + " is not writable by this process (uid " + uid +
                  "): give it to postroomd's account (chown), or start postroomd as root once");
  }
  return {};
}

}  // namespace postroom::daemon
