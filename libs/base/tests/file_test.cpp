#include "postroom/base/file.hpp"

#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <sstream>

using namespace postroom;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "postroom-file-test-XXXXXX").string();
    path = ::mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string content_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream all;
  all << in.rdbuf();
  return all.str();
}

mode_t mode_of(const fs::path& file) {
  struct stat st {};
  ::stat(file.c_str(), &st);
  return st.st_mode & 07777;
}

// While it lives, this process may write no file beyond `bytes`: a write past it fails with
// EFBIG as on a full disk (SIGXFSZ ignored), without needing a small file system.
struct FileSizeLimit {
  rlimit old{};
  void (*old_handler)(int);
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler = std::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &old);
    rlimit limit = old;
    limit.rlim_cur = bytes;
    ::setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
  }
};

}  // namespace

TEST_CASE("file: replace_file puts the new content in place with its mode, old or not") {
  TempDir dir;
  auto file = dir.path / "key.pem";
  REQUIRE(replace_file(file, "first", 0600, FileSync::durable));
  CHECK(content_of(file) == "first");
  CHECK(mode_of(file) == 0600);
  REQUIRE(replace_file(file, "second, longer", 0644, FileSync::none));
  CHECK(content_of(file) == "second, longer");
  CHECK(mode_of(file) == 0644);
  CHECK_FALSE(fs::exists(dir.path / "key.pem.new"));
}

TEST_CASE("file: a write that fails as on a full disk leaves the old file whole") {
  TempDir dir;
  auto file = dir.path / "chain.pem";
  REQUIRE(replace_file(file, "old certificate", 0644, FileSync::durable));
  // A stale temporary from a crash, world-readable: it must not keep that mode or content.
  { std::ofstream(dir.path / "chain.pem.new") << "stale"; }
  Result<void> written;
  {
    FileSizeLimit limit(64);
    written = replace_file(file, std::string(4096, 'k'), 0600, FileSync::durable);
  }
  REQUIRE_FALSE(written);
  CHECK(written.error().message.find(file.string() + ".new") != std::string::npos);
  CHECK(written.error().message.find("too large") != std::string::npos);
  CHECK(content_of(file) == "old certificate");
  CHECK_FALSE(fs::exists(dir.path / "chain.pem.new"));
}

TEST_CASE("file: create_new_file refuses an existing file and removes a part written") {
  TempDir dir;
  auto file = dir.path / "selector.pem";
  REQUIRE(create_new_file(file, "key", 0600));
  CHECK(content_of(file) == "key");
  CHECK(mode_of(file) == 0600);
  auto again = create_new_file(file, "other", 0600);
  REQUIRE_FALSE(again);
  CHECK(again.error().message.find("cannot create") != std::string::npos);
  CHECK(content_of(file) == "key");

  auto big = dir.path / "big.pem";
  Result<void> written;
  {
    FileSizeLimit limit(64);
    written = create_new_file(big, std::string(4096, 'k'), 0600);
  }
  REQUIRE_FALSE(written);
  CHECK_FALSE(fs::exists(big));
}

TEST_CASE("file: a regular file is read whole, binary bytes included") {
  TempDir dir;
  std::string bytes("a\0b\r\n\xff", 6);
  std::ofstream(dir.path / "f", std::ios::binary) << bytes;
  CHECK(read_small_file(dir.path / "f", 100).value() == bytes);
  CHECK(read_small_file(dir.path / "f", 6).value() == bytes);
  CHECK(check_readable_file(dir.path / "f"));
}

TEST_CASE("file: a file over the limit is refused, not truncated") {
  TempDir dir;
  std::ofstream(dir.path / "f") << std::string(101, 'x');
  auto r = read_small_file(dir.path / "f", 100);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "is larger than 100 bytes");
}

TEST_CASE("file: a directory, a FIFO and a missing path are errors, not exceptions") {
  TempDir dir;
  auto as_dir = read_small_file(dir.path, 100);
  REQUIRE_FALSE(as_dir);
  CHECK(as_dir.error().message == "is a directory, not a file");
  CHECK_FALSE(check_readable_file(dir.path));

  REQUIRE(::mkfifo((dir.path / "fifo").c_str(), 0600) == 0);
  auto as_fifo = read_small_file(dir.path / "fifo", 100);  // must not wait for a writer
  REQUIRE_FALSE(as_fifo);
  CHECK(as_fifo.error().message == "is not a regular file");

  auto missing = read_small_file(dir.path / "nothing", 100);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "does not exist");
}

TEST_CASE("file: a file without read permission is an error naming the cause") {
  if (::geteuid() == 0) return;  // root reads it anyway
  TempDir dir;
  std::ofstream(dir.path / "f") << "secret";
  ::chmod((dir.path / "f").c_str(), 0);
  auto r = read_small_file(dir.path / "f", 100);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "cannot open it: Permission denied");
}
