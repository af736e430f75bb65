// Checking and tightening the modes of the data directory, the database and secret files.
#include "postroom/system/file_modes.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace postroom::system {

std::optional<mode_t> tightened(mode_t mode) {
  mode_t permissions = mode & 07777;
  if ((permissions & 0077) == 0) return std::nullopt;
  return permissions & ~static_cast<mode_t>(0077);
}

std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

std::optional<std::string> check_private(const std::filesystem::path& path, bool fix) {
  struct stat st {};
  // lstat: a symbolic link's own mode means nothing; what it points to is checked where it is.
  if (::lstat(path.c_str(), &st) != 0 || S_ISLNK(st.st_mode)) return std::nullopt;
  auto wanted = tightened(st.st_mode);
  if (!wanted) return std::nullopt;
  std::string found =
      path.string() + " is open to group or others (mode " + mode_text(st.st_mode) + ")";
  std::string command = "chmod " + mode_text(*wanted).substr(1) + " " + path.string();
  if (!fix) return found + ": run " + command;
  if (::chmod(path.c_str(), *wanted) == 0) return found + ": now " + mode_text(*wanted);
  return found + " and cannot be fixed here (" + std::strerror(errno) + "): run " + command;
}

std::optional<std::string> check_secret_file(const std::filesystem::path& file,
                                             std::string_view key, std::string_view group) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || !readable_by_everyone(st.st_mode)) return std::nullopt;
  std::string name = file.string();
  return std::string(key) + " " + name + " is readable by every user of this machine (mode " +
         mode_text(st.st_mode) + "): run chmod 640 " + name + "; chgrp " + std::string(group) +
         " " + name;
}

}  // namespace postroom::system
