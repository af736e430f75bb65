#include "postroom/auth/fair_queue.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using postroom::auth::FairQueue;

namespace {

const auto always = [](const std::string&) { return true; };

// Pops until nothing may start, finishing each item at once; returns the items in order.
std::vector<std::string> drain(FairQueue<std::string>& queue) {
  std::vector<std::string> order;
  while (auto next = queue.pop(always)) {
    order.push_back(next->second);
    queue.done(next->first, 2);
  }
  return order;
}

}  // namespace

TEST_CASE("fair queue: a flood from one address costs another address one turn") {
  FairQueue<std::string> queue;
  for (int i = 0; i < 100; ++i) queue.push("attacker", 2, "a" + std::to_string(i));
  queue.push("office", 2, "o0");
  auto first = queue.pop(always);
  REQUIRE(first);
  CHECK(first->second == "a0");
  queue.done(first->first, 2);
  auto second = queue.pop(always);
  REQUIRE(second);
  CHECK(second->second == "o0");
}

TEST_CASE("fair queue: round robin across addresses, FIFO within one") {
  FairQueue<std::string> queue;
  for (const char* item : {"a1", "a2", "a3"}) queue.push("a", 2, item);
  for (const char* item : {"b1", "b2"}) queue.push("b", 2, item);
  queue.push("c", 2, "c1");
  CHECK(drain(queue) == std::vector<std::string>{"a1", "b1", "c1", "a2", "b2", "a3"});
  CHECK(queue.size() == 0);
}

TEST_CASE("fair queue: at most one item in flight per address") {
  FairQueue<std::string> queue;
  for (const char* item : {"a1", "a2"}) queue.push("a", 2, item);
  queue.push("b", 2, "b1");
  auto a1 = queue.pop(always);
  auto b1 = queue.pop(always);
  REQUIRE(a1);
  REQUIRE(b1);
  CHECK(b1->second == "b1");
  CHECK_FALSE(queue.pop(always));  // a2 waits for a1 to finish
  CHECK(queue.in_flight() == 2);
  queue.push("a", 2, "a3");  // arriving while a1 runs: behind a2
  queue.done("a", 2);
  auto a2 = queue.pop(always);
  REQUIRE(a2);
  CHECK(a2->second == "a2");
}

TEST_CASE("fair queue: lower levels are served first, and a key changes level when done") {
  FairQueue<std::string> queue;
  for (int i = 0; i < 5; ++i) queue.push("outsider" + std::to_string(i), 2, "x");
  queue.push("newcomer", 1, "clean");
  queue.push("office", 0, "trusted");
  auto first = queue.pop(always);
  auto second = queue.pop(always);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->second == "trusted");
  CHECK(second->second == "clean");
  queue.push("newcomer", 1, "clean again");
  queue.done("newcomer", 2);  // it failed: its next attempt waits behind the others
  std::vector<std::string> order;
  while (auto next = queue.pop(always)) {
    order.push_back(next->first);
    queue.done(next->first, 2);
  }
  CHECK(order.back() == "newcomer");
}

TEST_CASE("fair queue: an item that is not ready lets the others of its address pass") {
  FairQueue<std::string> queue;
  queue.push("nat", 2, "delayed");
  queue.push("nat", 2, "colleague");
  auto next = queue.pop([](const std::string& item) { return item != "delayed"; });
  REQUIRE(next);
  CHECK(next->second == "colleague");
  queue.done("nat", 2);
  CHECK_FALSE(queue.pop([](const std::string& item) { return item != "delayed"; }));
  std::size_t waiting = 0;
  queue.for_each([&](const std::string&) { ++waiting; });
  CHECK(waiting == 1);
  CHECK(drain(queue) == std::vector<std::string>{"delayed"});
}

TEST_CASE("fair queue: clear drops what waits, and done() of an item in flight still works") {
  FairQueue<std::string> queue;
  queue.push("a", 2, "a1");
  queue.push("a", 2, "a2");
  queue.push("b", 0, "b1");
  auto b1 = queue.pop(always);
  REQUIRE(b1);
  queue.clear();
  CHECK(queue.size() == 0);
  CHECK(queue.in_flight() == 1);
  CHECK_FALSE(queue.pop(always));
  queue.done("b", 0);
  CHECK(queue.in_flight() == 0);
}
