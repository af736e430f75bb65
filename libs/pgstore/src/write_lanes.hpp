// Writes of one message in submission order: MailStore promises that writes run in the order
// they were submitted, and a message's writer relies on it (a chunk, then the commit that
// counts it, then perhaps a discard) without waiting for each reply. A pool runs units side
// by side on several connections, so the units of one key wait for each other here, while
// other messages' writes go on in parallel.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>

#include "postroom/pgstore/pool.hpp"

namespace postroom::pgstore {

class WriteLanes {
 public:
  explicit WriteLanes(Pool& pool);

  // Runs `unit` once every unit submitted earlier under `key` has been answered.
  void run(std::int64_t key, Unit unit, Pool::Done done);
  std::size_t keys() const { return state_->lanes.size(); }

 private:
  struct Waiting {
    Unit unit;
    Pool::Done done;
  };
  struct State {
    Pool* pool;
    std::map<std::int64_t, std::deque<Waiting>> lanes;  // a key is present while one runs
  };
  static void start(const std::shared_ptr<State>& state, std::int64_t key, Waiting work);

  // Shared with the units in flight: they outlive nothing but this bookkeeping.
  std::shared_ptr<State> state_;
};

}  // namespace postroom::pgstore
