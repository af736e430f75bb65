// The pool: a FIFO of units, a few connections, and each unit's walk BEGIN, steps, COMMIT
// (or ROLLBACK) on the connection it got.
#include "postroom/pgstore/pool.hpp"

#include <algorithm>
#include <optional>

#include "postroom/net/handles.hpp"

namespace postroom::pgstore {

namespace {
constexpr Statement kCommit{"", "COMMIT"};
constexpr Statement kRollback{"", "ROLLBACK"};
}  // namespace

struct Pool::Slot {
  explicit Slot(uv_loop_t* loop) : timer(loop) {}
  std::unique_ptr<Connection> conn;
  SlotState state = SlotState::connecting;
  std::chrono::milliseconds backoff{0};
  std::uint64_t failed_at = 0;   // loop time of the last failure
  std::uint64_t generation = 0;  // callbacks of a replaced connection are ignored
  net::Timer timer;
};

struct Pool::Running {
  Work work;
};

Pool::Pool(uv_loop_t* loop, PoolOptions options)
    : loop_(loop), options_(std::move(options)), answer_timer_(std::make_unique<net::Timer>(loop)) {
  for (std::size_t i = 0; i < std::max<std::size_t>(options_.connections, 1); ++i) {
    slots_.push_back(std::make_unique<Slot>(loop));
    slots_.back()->backoff = options_.backoff_first;
    start_connecting(*slots_.back());
  }
}

Pool::~Pool() {
  *alive_ = false;
}

std::size_t Pool::connected() const {
  return std::count_if(slots_.begin(), slots_.end(), [](const auto& s) {
    return s->state == SlotState::idle || s->state == SlotState::busy;
  });
}

void Pool::start_connecting(Slot& slot) {
  auto generation = ++slot.generation;
  slot.state = SlotState::connecting;
  slot.conn = std::make_unique<Connection>(
      loop_, options_.params.empty() ? conninfo_params(options_.conninfo) : options_.params);
  slot.conn->on_lost([this, &slot, generation](PgError why) {
    if (slot.generation == generation) lost(slot, why);
  });
  slot.timer.start(static_cast<std::uint64_t>(options_.connect_timeout.count()),
                   [this, &slot, generation] {
                     if (slot.generation == generation && slot.state == SlotState::connecting)
                       lost(slot, {PgError::Kind::connection_lost, "connect timed out", {}});
                   });
  slot.conn->connect([this, &slot, generation](PgResult<void> up) {
    if (slot.generation != generation) return;
    slot.timer.stop();
    if (!up) {
      lost(slot, up.error());
      return;
    }
    slot.state = SlotState::idle;
    slot.backoff = options_.backoff_first;
    pump();
  });
}

void Pool::lost(Slot& slot, const PgError&) {
  if (slot.state == SlotState::backoff) return;
  bool was_up = slot.state == SlotState::idle || slot.state == SlotState::busy;
  slot.state = SlotState::backoff;
  slot.failed_at = uv_now(loop_);
  auto wait = slot.backoff;
  slot.backoff = std::min(slot.backoff * 2, options_.backoff_max);
  slot.timer.start(static_cast<std::uint64_t>(wait.count()),
                   [this, &slot] { start_connecting(slot); });
  auto alive = alive_;
  if (was_up && on_connection_lost_) {
    auto heard = on_connection_lost_;  // may destroy the pool
    heard();
    if (!*alive) return;
  }
  if (unavailable()) fail_waiting();
}

bool Pool::wake_one() {
  auto now = uv_now(loop_);
  for (auto& slot : slots_) {
    if (slot->state != SlotState::backoff ||
        now - slot->failed_at < static_cast<std::uint64_t>(options_.backoff_first.count()))
      continue;
    slot->timer.stop();
    start_connecting(*slot);
    return true;
  }
  return false;
}

bool Pool::unavailable() const {
  return std::all_of(slots_.begin(), slots_.end(),
                     [](const auto& s) { return s->state == SlotState::backoff; });
}

void Pool::fail_waiting() {
  auto refused = std::move(queue_);
  queue_.clear();
  auto alive = alive_;
  for (auto& work : refused) {
    work.done(pg_fail(PgError::Kind::connection_lost, "no connection to PostgreSQL"));
    if (!*alive) return;
  }
}

void Pool::run(Unit unit, Done done) {
  ++*in_flight_;
  queue_.push_back(
      {std::move(unit), [count = in_flight_, done = std::move(done)](PgResult<void> r) {
         --*count;
         if (done) done(std::move(r));
       }});
  if (unavailable()) {
    // Answered on the next loop turn, never inside the caller's own call: by a connection woken
    // out of its backoff, or with connection_lost.
    answer_timer_->start(0, [this] {
      auto alive = alive_;
      if (unavailable() && !wake_one()) {
        fail_waiting();
      } else if (*alive) {
        pump();
      }
    });
    return;
  }
  pump();
}

void Pool::query(Statement statement, Params params, std::function<void(PgResult<Rows>)> done) {
  auto rows = std::make_shared<Rows>();
  Unit unit{.begin = "", .steps = {}};
  unit.steps.then(statement, std::move(params), [rows](Rows& r, Steps&) -> PgResult<void> {
    *rows = std::move(r);
    return {};
  });
  run(std::move(unit), [rows, done = std::move(done)](PgResult<void> r) {
    if (!r) return done(std::unexpected(r.error()));
    done(std::move(*rows));
  });
}

void Pool::pump() {
  for (auto& slot : slots_) {
    if (queue_.empty()) return;
    if (slot->state != SlotState::idle || !slot->conn->ready()) continue;
    slot->state = SlotState::busy;
    auto running = std::make_shared<Running>(Running{std::move(queue_.front())});
    queue_.pop_front();
    execute(*slot, std::move(running));
  }
}

void Pool::execute(Slot& slot, std::shared_ptr<Running> running) {
  auto begin = running->work.unit.begin;
  if (begin.empty()) return next_step(slot, std::move(running));
  slot.conn->execute({"", begin}, {}, [this, &slot, running](PgResult<Rows> r) {
    if (!r) return end(slot, running, std::unexpected(r.error()));
    next_step(slot, running);
  });
}

void Pool::next_step(Slot& slot, std::shared_ptr<Running> running) {
  auto& unit = running->work.unit;
  if (unit.steps.empty()) {
    if (unit.begin.empty()) return end(slot, std::move(running), {});
    slot.conn->execute(kCommit, {}, [this, &slot, running](PgResult<Rows> r) {
      if (!r) return end(slot, running, std::unexpected(r.error()));
      end(slot, running, {});
    });
    return;
  }
  auto step = unit.steps.take();
  slot.conn->execute(step.statement, std::move(step.params),
                     [this, &slot, running, check = std::move(step.check)](PgResult<Rows> r) {
                       PgResult<void> checked{};
                       if (!r) {
                         checked = std::unexpected(r.error());
                       } else if (check) {
                         Steps more;
                         checked = check(*r, more);
                         if (checked) running->work.unit.steps.run_next(more);
                       }
                       if (checked) return next_step(slot, running);
                       // Nothing of a failed unit is kept.
                       if (running->work.unit.begin.empty() || slot.conn->lost())
                         return end(slot, running, checked);
                       auto error = checked.error();
                       slot.conn->execute(kRollback, {},
                                          [this, &slot, running, error](PgResult<Rows>) {
                                            end(slot, running, std::unexpected(error));
                                          });
                     });
}

void Pool::end(Slot& slot, std::shared_ptr<Running> running, PgResult<void> result) {
  // A lost connection is taken over by its on_lost (reconnect with backoff).
  if (slot.state == SlotState::busy && !slot.conn->lost()) slot.state = SlotState::idle;
  auto alive = alive_;
  auto done = std::move(running->work.done);
  done(std::move(result));
  if (*alive) pump();
}

}  // namespace postroom::pgstore
