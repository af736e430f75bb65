// Turns stored message bytes into DATA wire format: CRLF line ends, dot-stuffing, the final ".".
#pragma once

#include <string>
#include <string_view>

namespace postroom::relay {

// Streams a message body in any chunking. RFC 5321 §2.3.8 allows only CRLF on
// the wire, so a bare LF (how some stored messages end their lines) and a
// bare CR both become CRLF; that also keeps "\n.\n"-style end-of-data
// smuggling out of what we send. RFC 5321 §4.5.2: a line starting with "."
// gets one more ".". The chunking never changes the output.
class DataEncoder {
 public:
  // Appends the wire form of `chunk` to `out`. A trailing CR is held back
  // until the next chunk shows whether an LF follows.
  void encode(std::string_view chunk, std::string& out);
  // Appends the end of data: a CRLF if the message did not end with a line
  // end, then ".\r\n" (RFC 5321 §4.1.1.4). The encoder is then ready for a new message.
  void finish(std::string& out);

 private:
  bool at_line_start_ = true;
  bool pending_cr_ = false;
};

}  // namespace postroom::relay
