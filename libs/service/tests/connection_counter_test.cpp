// The connection counter: limits per address and in all, and the share kept for the office.
#include <doctest/doctest.h>

#include "postroom/service/context.hpp"

using namespace postroom;
using Verdict = service::ConnectionCounter::Verdict;

namespace {

config::Limits limits(std::size_t total, std::size_t per_ip, std::size_t reserved) {
  config::Limits l;
  l.max_connections = total;
  l.max_connections_per_ip = per_ip;
  l.reserved_connections = reserved;
  return l;
}

}  // namespace

TEST_CASE("connections: outsiders fill only the public share; the office gets the rest") {
  service::ConnectionCounter counter;
  auto l = limits(10, 50, 3);
  std::uint64_t id = 1;
  for (int i = 0; i < 7; ++i)
    CHECK(counter.admit(id++, "203.0.113.9", false, l) == Verdict::admitted);
  CHECK(counter.admit(id++, "203.0.113.10", false, l) == Verdict::public_share_full);
  for (int i = 0; i < 3; ++i)
    CHECK(counter.admit(id++, "192.168.1.5", true, l) == Verdict::admitted);
  CHECK(counter.admit(id++, "192.168.1.6", true, l) == Verdict::too_many);
  CHECK(counter.total() == 10);
  CHECK(counter.in_public_share() == 7);
}

TEST_CASE("connections: a session that logs in leaves the public share") {
  service::ConnectionCounter counter;
  auto l = limits(4, 50, 2);
  CHECK(counter.admit(1, "a", false, l) == Verdict::admitted);
  CHECK(counter.admit(2, "a", false, l) == Verdict::admitted);
  CHECK(counter.admit(3, "b", false, l) == Verdict::public_share_full);
  counter.logged_in(1);
  counter.logged_in(1);  // twice changes nothing
  CHECK(counter.in_public_share() == 1);
  CHECK(counter.admit(4, "b", false, l) == Verdict::admitted);
  counter.release(1);
  counter.release(1);  // twice changes nothing
  CHECK(counter.total() == 2);
  CHECK(counter.in_public_share() == 2);
  counter.release(2);
  counter.release(4);
  CHECK(counter.total() == 0);
  CHECK(counter.in_public_share() == 0);
}

TEST_CASE("connections: the per-address limit counts across listeners, office or not") {
  service::ConnectionCounter counter;
  auto l = limits(100, 2, 20);
  CHECK(counter.admit(1, "a", true, l) == Verdict::admitted);
  CHECK(counter.admit(2, "a", false, l) == Verdict::admitted);
  CHECK(counter.admit(3, "a", true, l) == Verdict::too_many_from_ip);
  counter.release(2);
  CHECK(counter.admit(4, "a", false, l) == Verdict::admitted);
}

TEST_CASE("connections: the default reserve is a fifth, and one public slot always remains") {
  config::Limits l;
  l.max_connections = 10;
  CHECK(l.reserved() == 2);
  service::ConnectionCounter counter;
  auto all_reserved = limits(3, 50, 5);
  CHECK(counter.admit(1, "a", false, all_reserved) == Verdict::admitted);
  CHECK(counter.admit(2, "a", false, all_reserved) == Verdict::public_share_full);
}
