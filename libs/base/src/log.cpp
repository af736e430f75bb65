// The log sink: stderr, one write per line.
#include "postroom/base/log.hpp"

#include <unistd.h>

#include <string>

namespace postroom {

void write_log_line(std::string_view line) {
  std::string buffer;
  buffer.reserve(line.size() + 1);
  for (char c : line) buffer.push_back(c == '\n' || c == '\r' ? ' ' : c);
  buffer.push_back('\n');
  std::size_t written = 0;
  while (written < buffer.size()) {
    ssize_t n = ::write(STDERR_FILENO, buffer.data() + written, buffer.size() - written);
    if (n <= 0) return;  // Nowhere else to report a failing stderr.
    written += static_cast<std::size_t>(n);
  }
}

}  // namespace postroom
