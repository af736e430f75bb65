// One lane per key: the next unit starts from the previous one's reply.
#include "write_lanes.hpp"

namespace postroom::pgstore {

WriteLanes::WriteLanes(Pool& pool) : state_(std::make_shared<State>(State{&pool, {}})) {}

void WriteLanes::run(std::int64_t key, Unit unit, Pool::Done done) {
  auto lane = state_->lanes.find(key);
  if (lane != state_->lanes.end()) {
    lane->second.push_back({std::move(unit), std::move(done)});
    return;
  }
  state_->lanes[key];
  start(state_, key, {std::move(unit), std::move(done)});
}

void WriteLanes::start(const std::shared_ptr<State>& state, std::int64_t key, Waiting work) {
  state->pool->run(std::move(work.unit),
                   [state, key, done = std::move(work.done)](PgResult<void> r) {
                     // The reply first: it may submit the key's next write (a discard after a
                     // failed commit), which then waits its turn in the lane.
                     if (done) done(std::move(r));
                     auto lane = state->lanes.find(key);
                     if (lane == state->lanes.end()) return;
                     if (lane->second.empty()) {
                       state->lanes.erase(lane);
                       return;
                     }
                     auto next = std::move(lane->second.front());
                     lane->second.pop_front();
                     start(state, key, std::move(next));
                   });
}

}  // namespace postroom::pgstore
