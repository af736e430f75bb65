// Who may read postroom's files: the data directory and database private, keys not world-readable.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace postroom::system {

// The data directory and everything in it belong to postroom's user alone.
constexpr mode_t kPrivateDirMode = 0700;
constexpr mode_t kPrivateFileMode = 0600;

// The mode a data directory (or a file in it) should have instead of `mode`, or nullopt when
// `mode` already lets neither group nor others in. Only the group and other bits are
// cleared, so an owner's odd choice (a read-only file) is left alone.
std::optional<mode_t> tightened(mode_t mode);

// True when users other than the owner and the file's group may read it.
constexpr bool readable_by_everyone(mode_t mode) {
  return (mode & 0004) != 0;
}

// Looks at one path of the data directory. Nothing to say (fine, or missing): nullopt.
// Otherwise one line naming the path and its mode: with `fix`, the mode is tightened when
// this process may (it owns the path, or is root) and the line says so; without `fix`, or
// when that fails, the line gives the chmod to run.
std::optional<std::string> check_private(const std::filesystem::path& path, bool fix);

// A key or password file (named by config key `key`, like "tls.key") that every user of
// the machine can read: a warning that names the file and the fix, which keeps it readable
// by `group` (postroomd's group, which must read it after dropping root). Else nullopt.
std::optional<std::string> check_secret_file(const std::filesystem::path& file,
                                             std::string_view key, std::string_view group);

// The text of a mode as chmod takes it ("0755").
std::string mode_text(mode_t mode);

}  // namespace postroom::system
