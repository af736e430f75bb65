// SRS addresses: round trips, SRS1 for a second hop, forged and expired ones refused.
#include "postroom/relay/srs.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

using postroom::Address;
using postroom::relay::load_or_create_srs_key;
using postroom::relay::Srs;

namespace {
constexpr std::int64_t kNow = 1'790'000'000;  // a day in 2026
constexpr std::int64_t kDay = 86400;

std::string local_of(const std::string& address) {
  return address.substr(0, address.rfind('@'));
}
}  // namespace

TEST_CASE("srs: a forwarded sender becomes SRS0 at our domain and reverses to itself") {
  Srs srs("secret-key-0123456789", "example.test");
  std::string rewritten = srs.forward(Address{"alice", "origin.test"}, kNow);
  CHECK(rewritten.starts_with("SRS0="));
  CHECK(rewritten.ends_with("=origin.test=alice@example.test"));
  auto back = srs.reverse(local_of(rewritten), kNow + 3 * kDay);
  CHECK(back.verdict == Srs::Verdict::valid);
  CHECK(back.address == "alice@origin.test");
}

TEST_CASE("srs: the check ignores case, since addresses arrive lower-cased") {
  Srs srs("secret-key-0123456789", "example.test");
  std::string rewritten = srs.forward(Address{"a=b", "origin.test"}, kNow);
  auto back = srs.reverse(postroom::to_lower_ascii(local_of(rewritten)), kNow);
  CHECK(back.verdict == Srs::Verdict::valid);
  CHECK(back.address == "a=b@origin.test");
}

TEST_CASE("srs: a changed hash, domain or user, or another key, is forged") {
  Srs srs("secret-key-0123456789", "example.test");
  std::string local = local_of(srs.forward(Address{"alice", "origin.test"}, kNow));
  std::string other_domain = local;
  other_domain.replace(other_domain.find("origin"), 6, "evilco");
  CHECK(srs.reverse(other_domain, kNow).verdict == Srs::Verdict::forged);
  std::string other_user = local.substr(0, local.size() - 5) + "admin";
  CHECK(srs.reverse(other_user, kNow).verdict == Srs::Verdict::forged);
  std::string other_hash = local;
  other_hash[5] = other_hash[5] == 'A' ? 'B' : 'A';
  CHECK(srs.reverse(other_hash, kNow).verdict == Srs::Verdict::forged);
  Srs other_key("another-key-0123456789", "example.test");
  CHECK(other_key.reverse(local, kNow).verdict == Srs::Verdict::forged);
  CHECK(srs.reverse("SRS0=", kNow).verdict == Srs::Verdict::forged);
  CHECK(srs.reverse("SRS0=abcdef=ZZ=x=y", kNow).verdict == Srs::Verdict::forged);
  CHECK(srs.reverse("alice", kNow).verdict == Srs::Verdict::not_srs);
  CHECK(srs.reverse("srs0", kNow).verdict == Srs::Verdict::not_srs);
}

TEST_CASE("srs: a bounce older than the maximum age is expired") {
  Srs srs("secret-key-0123456789", "example.test", 21);
  std::string local = local_of(srs.forward(Address{"alice", "origin.test"}, kNow));
  CHECK(srs.reverse(local, kNow + 21 * kDay).verdict == Srs::Verdict::valid);
  CHECK(srs.reverse(local, kNow + 22 * kDay).verdict == Srs::Verdict::expired);
  // A timestamp from the future is no better.
  CHECK(srs.reverse(local, kNow - 2 * kDay).verdict == Srs::Verdict::expired);
}

TEST_CASE("srs: an SRS0 sender from another forwarder becomes SRS1 and comes back as it was") {
  Srs first("first-key-0123456789", "hop.test");
  std::string srs0 = first.forward(Address{"alice", "origin.test"}, kNow);
  Srs ours("secret-key-0123456789", "example.test");
  auto parsed = postroom::parse_address(srs0);
  REQUIRE(parsed);
  std::string srs1 = ours.forward(*parsed, kNow);
  CHECK(srs1.starts_with("SRS1="));
  CHECK(srs1.find("=hop.test==") != std::string::npos);
  auto back = ours.reverse(local_of(srs1), kNow);
  REQUIRE(back.verdict == Srs::Verdict::valid);
  CHECK(postroom::to_lower_ascii(back.address) == postroom::to_lower_ascii(srs0));
  // The first forwarder can reverse what we hand back.
  auto at_hop = postroom::parse_address(back.address);
  REQUIRE(at_hop);
  auto origin = first.reverse(at_hop->local, kNow);
  CHECK(origin.verdict == Srs::Verdict::valid);
  CHECK(origin.address == "alice@origin.test");
}

TEST_CASE("srs: the key is created once, private, and read back the same") {
  auto dir = std::filesystem::temp_directory_path() / ("srs_key_test_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto file = dir / "srs.key";
  auto created = load_or_create_srs_key(file);
  REQUIRE(created);
  CHECK(created->size() == 64);
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = load_or_create_srs_key(file);
  REQUIRE(again);
  CHECK(*again == *created);
  std::filesystem::remove_all(dir);
}
