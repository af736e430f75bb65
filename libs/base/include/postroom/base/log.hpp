// One line per event on stderr, journald-friendly: `log_line("session=", id, " closed")`.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace postroom {

// Writes the line and a newline with one write(2), so lines from threads never interleave.
void write_log_line(std::string_view line);

template <class... Parts>
void log_line(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  write_log_line(out.str());
}

}  // namespace postroom
