// Creating the data directory private, and handing it to postroomd's account when root.
#include "postroom/system/data_dir.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "postroom/system/file_modes.hpp"

namespace postroom::system {

namespace fs = std::filesystem;

namespace {

std::string why() {
  return std::strerror(errno);
}

// mkdir, then chmod: the umask must not decide the mode.
Result<void> make_dir(const fs::path& dir, mode_t mode) {
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST)
    return fail("cannot create " + dir.string() + ": " + why());
  if (::chmod(dir.c_str(), mode) != 0) return fail("cannot chmod " + dir.string() + ": " + why());
  return {};
}

// chown when `owner` is set and the path is not already theirs; lchown: never follow a link.
Result<bool> give(const fs::path& path, const std::optional<Account>& owner) {
  struct stat st {};
  if (!owner || ::lstat(path.c_str(), &st) != 0) return false;
  if (st.st_uid == owner->uid && st.st_gid == owner->gid) return false;
  if (::lchown(path.c_str(), owner->uid, owner->gid) != 0)
    return fail("cannot hand " + path.string() + " to " + owner->name + ": " + why());
  return true;
}

// data_dir, the database files, and whatever else postroom keeps directly in data_dir (the
// disk-space reserve, say): all of it is the account's alone. Links are not followed.
std::vector<fs::path> private_paths(const fs::path& dir, const fs::path& database) {
  std::vector<fs::path> paths{dir};
  for (const auto& f : database_files(database)) paths.push_back(f);
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec) || entry.is_symlink(ec)) continue;
    if (std::find(paths.begin(), paths.end(), entry.path()) == paths.end())
      paths.push_back(entry.path());
  }
  return paths;
}

}  // namespace

std::vector<fs::path> database_files(const fs::path& database) {
  return {database, database.string() + "-wal", database.string() + "-shm"};
}

Result<std::vector<std::string>> prepare_data_dir(const fs::path& dir, const fs::path& database,
                                                  const std::optional<Account>& owner) {
  std::vector<std::string> notes;
  // error_code forms: the throwing ones would abort on a parent without search permission.
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    if (ec) return fail("cannot examine " + dir.string() + ": " + ec.message());
    // Parents first, top down, readable by all so the account can walk through them.
    std::vector<fs::path> missing;
    for (fs::path p = dir.parent_path(); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
      missing.push_back(p);
      if (p == p.root_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      if (auto r = make_dir(*it, 0755); !r) return std::unexpected(r.error());
    }
    if (auto r = make_dir(dir, kPrivateDirMode); !r) return std::unexpected(r.error());
  }
  for (const auto& p : private_paths(dir, database)) {
    auto given = give(p, owner);
    if (!given) return std::unexpected(given.error());
    if (*given) notes.push_back("handed " + p.string() + " to " + owner->name);
    if (auto note = check_private(p, true)) notes.push_back(*note);
  }
  return notes;
}

Result<void> hand_over(const fs::path& file, const std::optional<Account>& owner) {
  auto given = give(file, owner);
  if (!given) return std::unexpected(given.error());
  return {};
}

std::vector<std::string> report_data_dir(const fs::path& dir, const fs::path& database) {
  std::vector<std::string> out;
  for (const auto& p : private_paths(dir, database)) {
    if (auto note = check_private(p, false)) out.push_back(*note);
  }
  return out;
}

}  // namespace postroom::system
