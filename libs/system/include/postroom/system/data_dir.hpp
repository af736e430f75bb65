// The data directory made private and owned by the account that runs postroomd.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/system/run_as.hpp"

namespace postroom::system {

// The database and the files SQLite keeps beside it in WAL mode.
std::vector<std::filesystem::path> database_files(const std::filesystem::path& database);

// Gets data_dir ready, before the database is opened and (when root) again after:
// - creates it 0700 when missing (missing parents 0755, so the account can reach it),
//   whatever the umask; the database files are left to SQLite, which creates them 0600
//   under postroom's umask 077 and gives its WAL and SHM files the database's mode;
// - with an `owner` (only when running as root), hands the directory, the database and its
//   WAL and SHM files (and any other file directly in data_dir) to that account, so
//   postroomd can always write them (SQLite, as root, gives later WAL and SHM files the
//   database file's owner);
// - tightens a directory or file that lets group or others in (check_private with fix).
// Returns one line per thing found or changed, for the log.
Result<std::vector<std::string>> prepare_data_dir(const std::filesystem::path& dir,
                                                  const std::filesystem::path& database,
                                                  const std::optional<Account>& owner);

// Hands an admin-made file (a backup) to `owner` when running as root; nothing otherwise.
Result<void> hand_over(const std::filesystem::path& file, const std::optional<Account>& owner);

// The data directory and the files in it that let group or others in, one line each with
// the chmod to run; changes nothing (for check-config).
std::vector<std::string> report_data_dir(const std::filesystem::path& dir,
                                         const std::filesystem::path& database);

}  // namespace postroom::system
