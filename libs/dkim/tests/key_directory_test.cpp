// The key files on disk: layout, modes, refusal to overwrite, keys copied in by hand.
#include "postroom/dkim/key_directory.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

using namespace postroom::dkim;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "dkimtest.XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()));
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("dkim: a new key lands at dkim/DOMAIN/SELECTOR.pem, private, with its state") {
  TempDir tmp;
  auto dir = tmp.path / "dkim";
  auto pem = generate_private_key(Algorithm::ed25519);
  REQUIRE(pem);
  auto created = write_new_key(dir, "example.test", "s1", *pem, {State::published, 42});
  REQUIRE(created);
  CHECK(created->size() == 4);  // dkim/, dkim/example.test/, the state, the key
  CHECK(fs::is_regular_file(dir / "example.test" / "s1.pem"));
  CHECK(mode_of(dir) == 0700);
  CHECK(mode_of(dir / "example.test") == 0700);
  CHECK(mode_of(dir / "example.test" / "s1.pem") == 0600);
  CHECK(mode_of(dir / "example.test" / "s1.state") == 0600);

  auto read = read_keys(dir, true);
  CHECK(read.problems.empty());
  REQUIRE(read.keys.size() == 1);
  const auto& key = read.keys[0];
  CHECK(key.info.domain == "example.test");
  CHECK(key.info.selector == "s1");
  CHECK(key.info.algorithm == Algorithm::ed25519);
  CHECK(key.info.stored.state == State::published);
  CHECK(key.info.stored.since == 42);
  CHECK(key.pem == *pem);
  CHECK(key.record == public_key(*pem)->record);
  CHECK(read_keys(dir, false).keys[0].pem.empty());

  // The same name again is refused and the first key is left as it was.
  auto again = write_new_key(dir, "example.test", "s1", "other", {State::published, 43});
  REQUIRE_FALSE(again);
  CHECK(again.error().message == "a key s1 already exists for example.test");
  CHECK(read_keys(dir, true).keys[0].pem == *pem);
}

TEST_CASE("dkim: write_state replaces the state") {
  TempDir tmp;
  auto dir = tmp.path / "dkim";
  REQUIRE(write_new_key(dir, "example.test", "s1", *generate_private_key(Algorithm::ed25519),
                        {State::published, 1}));
  REQUIRE(write_state(dir, "example.test", "s1", {State::active, 9}));
  auto read = read_keys(dir, false);
  CHECK(read.keys[0].info.stored.state == State::active);
  CHECK(read.keys[0].info.stored.since == 9);
  CHECK(mode_of(dir / "example.test" / "s1.state") == 0600);
  CHECK_FALSE(fs::exists(dir / "example.test" / "s1.state.new"));
}

TEST_CASE("dkim: a key copied in without a state counts as published since its mtime") {
  TempDir tmp;
  auto dir = tmp.path / "dkim";
  fs::create_directories(dir / "example.test");
  std::ofstream(dir / "example.test" / "legacy.pem") << *generate_private_key(Algorithm::rsa);
  auto read = read_keys(dir, false);
  REQUIRE(read.keys.size() == 1);
  CHECK(read.keys[0].info.stored.state == State::published);
  CHECK(read.keys[0].info.stored.since > 1700000000);
}

TEST_CASE("dkim: unusable files are reported one by one, the rest still read") {
  TempDir tmp;
  auto dir = tmp.path / "dkim";
  REQUIRE(write_new_key(dir, "example.test", "good", *generate_private_key(Algorithm::ed25519),
                        {State::active, 1}));
  std::ofstream(dir / "example.test" / "broken.pem") << "not a key";
  std::ofstream(dir / "example.test" / "bad_name.pem") << "x";
  REQUIRE(write_new_key(dir, "example.test", "badstate", *generate_private_key(Algorithm::ed25519),
                        {State::active, 1}));
  std::ofstream(dir / "example.test" / "badstate.state") << "signing now";
  auto read = read_keys(dir, false);
  REQUIRE(read.keys.size() == 1);
  CHECK(read.keys[0].info.selector == "good");
  CHECK(read.problems.size() == 3);
}

TEST_CASE("dkim: a missing key directory holds no keys and no problems") {
  TempDir tmp;
  auto read = read_keys(tmp.path / "nothing", true);
  CHECK(read.keys.empty());
  CHECK(read.problems.empty());
}
