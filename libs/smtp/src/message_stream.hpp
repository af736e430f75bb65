// Streams one message to the host in bounded chunks while enforcing the size and hop limits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hop_counter.hpp"
#include "reply.hpp"

namespace postroom::smtp {

// MessageData chunks are cut at fixed 64 KiB boundaries, so how the client's bytes were split
// into reads never changes what the host sees, and memory does not depend on message size.
inline constexpr std::size_t kChunkSize = 64 * 1024;
// More Received fields than this means a mail loop (RFC 5321 §6.3 leaves the number to us;
// Postfix uses 50 too).
inline constexpr std::size_t kMaxHops = 50;

// Why a message is refused, lowest precedence first. A message with several faults is refused
// for the highest one, whatever order they were found in, so the reply never depends on how the
// client's bytes were split into reads (fuzz known bug 4).
enum class Fault { long_line, bare_line_end, hops, size };

class MessageStream {
 public:
  // `trace` (Return-Path and Received) is the start of the stored message; it does not count
  // toward `max_size`.
  MessageStream(std::uint64_t max_size, std::string trace);

  // Adds client bytes; each completed 64 KiB chunk is appended to `ready`. Once failed, bytes
  // are only counted, never kept.
  void write(std::string_view bytes, std::vector<std::string>& ready);
  // The rest of the message, possibly empty; nothing once failed.
  std::string finish();

  // Records why the message will be refused and stops buffering; a later fault replaces the
  // recorded one only if it takes precedence. Size and hops are still checked after a failure.
  void fail(Fault fault, Reply reply);
  const std::optional<Reply>& failure() const { return failure_; }
  std::uint64_t size() const { return size_; }

 private:
  std::uint64_t max_size_;
  std::uint64_t size_ = 0;
  std::string pending_;
  HopCounter hops_;
  std::optional<Reply> failure_;
  Fault fault_ = Fault::long_line;  // meaningful only with failure_
};

}  // namespace postroom::smtp
