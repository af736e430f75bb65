// Early returns for the store's functions that return Result: a statement that cannot be
// prepared, or a step that fails, ends the function with that error.
#pragma once

#define TRY_STMT(var, db, sql)  \
  auto var = (db).prepare(sql); \
  if (!var) return std::unexpected(var.error())
#define TRY(expr) \
  if (auto r_ = (expr); !r_) return std::unexpected(r_.error())
