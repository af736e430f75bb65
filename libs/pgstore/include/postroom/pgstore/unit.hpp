// A unit of work for the pool: statements run in order on one connection, between BEGIN and
// COMMIT when it is a transaction, each result checked by its step before the next runs.
#pragma once

#include <deque>
#include <functional>
#include <string_view>

#include "postroom/pgstore/error.hpp"
#include "postroom/pgstore/params.hpp"
#include "postroom/pgstore/rows.hpp"
#include "postroom/pgstore/statement.hpp"

namespace postroom::pgstore {

class Steps;

// Reads (and may take) one statement's rows; may queue further statements (which run next, in the
// order queued) or refuse the result, which rolls the whole unit back.
using StepCheck = std::function<PgResult<void>(Rows&, Steps&)>;

struct Step {
  Statement statement;
  Params params;
  StepCheck check;  // may be empty: any success will do
};

class Steps {
 public:
  Steps& then(Statement statement, Params params, StepCheck check = nullptr) {
    steps_.push_back({statement, std::move(params), std::move(check)});
    return *this;
  }
  bool empty() const { return steps_.empty(); }
  Step take() {
    Step s = std::move(steps_.front());
    steps_.pop_front();
    return s;
  }
  // Statements queued by a check go before the rest of the unit.
  void run_next(Steps& queued) {
    while (!queued.steps_.empty()) {
      steps_.push_front(std::move(queued.steps_.back()));
      queued.steps_.pop_back();
    }
  }

 private:
  std::deque<Step> steps_;
};

struct Unit {
  // The statement that opens the transaction; empty runs the steps without one (a single
  // read). Its reply comes only after COMMIT succeeded; any failure rolls back.
  std::string_view begin = "BEGIN";
  Steps steps;
};

}  // namespace postroom::pgstore
