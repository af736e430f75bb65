// Counts Received: header fields in a message's header section as it streams by (loop detection).
#pragma once

#include <cstddef>
#include <string_view>

namespace postroom::smtp {

// RFC 5321 §6.3: a message with "too many" Received fields is looping. Only the header
// section counts; it ends at the first empty line (CRLF CRLF, or LF LF from a BDAT client).
class HopCounter {
 public:
  void feed(std::string_view bytes);
  std::size_t count() const { return count_; }
  bool in_header() const { return in_header_; }

 private:
  bool in_header_ = true;
  bool line_start_ = true;
  bool empty_line_cr_ = false;  // a CR at the start of a line: maybe the empty line
  int matched_ = 0;             // octets of "received:" matched on this line; -1 once it differs
  std::size_t count_ = 0;
};

}  // namespace postroom::smtp
