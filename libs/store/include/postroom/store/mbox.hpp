// Splits an mbox file (mboxrd or mboxo) into messages, one line at a time.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace postroom::store {

// Feed lines (each with its "\n"); the reader calls `on_message_start` at each "From "
// separator and `on_bytes` with the message's bytes. ">From " lines are unquoted (one
// ">" removed from ">+From ", which is right for mboxrd and for mboxo's ">From "), and the
// blank line before the next separator is not part of the message (interface.md).
class MboxReader {
 public:
  MboxReader(std::function<void()> on_message_start, std::function<void(std::string_view)> on_bytes,
             std::function<void()> on_message_end)
      : start_(std::move(on_message_start)),
        bytes_(std::move(on_bytes)),
        end_(std::move(on_message_end)) {}

  void line(std::string_view line);  // one line including its "\n" (the last may lack it)
  void finish();                     // end of file
  int messages() const { return messages_; }

 private:
  void flush_held_blank();
  std::function<void()> start_;
  std::function<void(std::string_view)> bytes_;
  std::function<void()> end_;
  bool in_message_ = false;
  std::string held_blank_;  // a blank line that may precede the next separator
  int messages_ = 0;
};

}  // namespace postroom::store
