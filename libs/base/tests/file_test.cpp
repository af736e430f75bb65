#include "postroom/base/file.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

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

}  // namespace

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
