// A named SQL statement, prepared once per connection the first time it runs there.
#pragma once

#include <string_view>

namespace postroom::pgstore {

// Both views must outlive every use (statements are constants with static storage). An
// empty name runs the text unprepared (BEGIN, COMMIT, one-off statements).
struct Statement {
  std::string_view name;
  std::string_view sql;
};

}  // namespace postroom::pgstore
