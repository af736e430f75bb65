#include "postroom/system/file_modes.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "postroom/system/data_dir.hpp"

namespace fs = std::filesystem;
using namespace postroom::system;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/postroom-modes-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Sets the umask for one scope.
struct Umask {
  mode_t old;
  explicit Umask(mode_t m) : old(::umask(m)) {}
  ~Umask() { ::umask(old); }
};

}  // namespace

TEST_CASE("file modes: only group and other bits are taken away") {
  CHECK_FALSE(tightened(0700));
  CHECK_FALSE(tightened(0600));
  CHECK_FALSE(tightened(0400));
  CHECK(tightened(0755) == 0700);
  CHECK(tightened(0644) == 0600);
  CHECK(tightened(0750) == 0700);
  CHECK(tightened(0601) == 0600);
  CHECK(tightened(S_IFDIR | 0777) == 0700);
  CHECK(readable_by_everyone(0644));
  CHECK_FALSE(readable_by_everyone(0640));
  CHECK(mode_text(0755) == "0755");
  CHECK(mode_text(S_IFREG | 0600) == "0600");
}

TEST_CASE("file modes: check_private reports, and fixes only when asked") {
  TempDir t;
  fs::path file = t.path / "postroom.db";
  std::ofstream(file) << "x";
  ::chmod(file.c_str(), 0644);
  auto report = check_private(file, false);
  REQUIRE(report);
  CHECK(report->find(file.string()) != std::string::npos);
  CHECK(report->find("chmod 600 " + file.string()) != std::string::npos);
  CHECK(mode_of(file) == 0644);
  auto fixed = check_private(file, true);
  REQUIRE(fixed);
  CHECK(fixed->find("now 0600") != std::string::npos);
  CHECK(mode_of(file) == 0600);
  CHECK_FALSE(check_private(file, true));
  CHECK_FALSE(check_private(t.path / "missing", true));
}

TEST_CASE("file modes: a world-readable key gets a warning naming it and the fix") {
  TempDir t;
  fs::path key = t.path / "privkey.pem";
  std::ofstream(key) << "key";
  ::chmod(key.c_str(), 0644);
  auto warning = check_secret_file(key, "tls.key", "postroom");
  REQUIRE(warning);
  CHECK(warning->find("tls.key " + key.string()) != std::string::npos);
  CHECK(warning->find("chmod 640 " + key.string() + "; chgrp postroom " + key.string()) !=
        std::string::npos);
  ::chmod(key.c_str(), 0640);
  CHECK_FALSE(check_secret_file(key, "tls.key", "postroom"));
}

TEST_CASE("data dir: created 0700 under umask 022, 077 and 000") {
  for (mode_t mask : {mode_t(022), mode_t(077), mode_t(0)}) {
    CAPTURE(mask);
    TempDir t;
    Umask scoped(mask);
    fs::path dir = t.path / "parent" / "data";
    auto notes = prepare_data_dir(dir, dir / "postroom.db", std::nullopt);
    REQUIRE(notes);
    CHECK(notes->empty());
    CHECK(mode_of(dir) == 0700);
    CHECK_FALSE(fs::exists(dir / "postroom.db"));  // SQLite makes it, under the umask 077
    // A missing parent must stay walkable, or a dropped account could not reach data_dir.
    CHECK(mode_of(t.path / "parent") == 0755);
  }
}

TEST_CASE("data dir: an open directory and database are tightened and reported") {
  TempDir t;
  fs::path dir = t.path / "data";
  fs::create_directory(dir);
  ::chmod(dir.c_str(), 0755);
  std::ofstream(dir / "postroom.db") << "";
  std::ofstream(dir / "postroom.db-wal") << "";
  ::chmod((dir / "postroom.db").c_str(), 0644);
  ::chmod((dir / "postroom.db-wal").c_str(), 0664);
  std::ofstream(dir / "postroom.reserve") << "";  // any other file in data_dir counts too
  ::chmod((dir / "postroom.reserve").c_str(), 0644);
  auto report = report_data_dir(dir, dir / "postroom.db");
  CHECK(report.size() == 4);
  CHECK(mode_of(dir) == 0755);
  auto notes = prepare_data_dir(dir, dir / "postroom.db", std::nullopt);
  REQUIRE(notes);
  CHECK(notes->size() == 4);
  CHECK(mode_of(dir / "postroom.reserve") == 0600);
  CHECK(mode_of(dir) == 0700);
  CHECK(mode_of(dir / "postroom.db") == 0600);
  CHECK(mode_of(dir / "postroom.db-wal") == 0600);
  CHECK(report_data_dir(dir, dir / "postroom.db").empty());
}
