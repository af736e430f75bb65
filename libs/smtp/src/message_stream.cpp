// Message size (RFC 1870) and hop (RFC 5321 §6.3) enforcement while chunking message data.
#include "message_stream.hpp"

#include <algorithm>
#include <utility>

namespace postroom::smtp {

MessageStream::MessageStream(std::uint64_t max_size, std::string trace)
    : max_size_(max_size), pending_(std::move(trace)) {}

void MessageStream::fail(Fault fault, Reply reply) {
  if (failure_ && fault <= fault_) return;
  failure_ = std::move(reply);
  fault_ = fault;
  pending_.clear();
  pending_.shrink_to_fit();
}

void MessageStream::write(std::string_view bytes, std::vector<std::string>& ready) {
  size_ += bytes.size();
  // Size and hops are checked even after another fault, so the precedence in fail() sees every
  // fault the message has.
  if (size_ > max_size_) {
    // RFC 1870 §6.2 (and §4 for 552 with 5.3.4): refuse at the end, keep nothing meanwhile.
    fail(Fault::size, make_reply(552, "5.3.4", "Message size exceeds fixed limit"));
  }
  if (hops_.in_header()) {
    hops_.feed(bytes);
    if (hops_.count() > kMaxHops) {
      fail(Fault::hops, make_reply(554, "5.4.6", "Too many hops (mail loop)"));
    }
  }
  if (failure_) return;
  while (!bytes.empty()) {
    std::size_t room = kChunkSize - pending_.size();
    std::size_t take = std::min(room, bytes.size());
    pending_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (pending_.size() == kChunkSize) {
      ready.push_back(std::move(pending_));
      pending_ = std::string();
    }
  }
}

std::string MessageStream::finish() {
  if (failure_) return {};
  return std::exchange(pending_, std::string());
}

}  // namespace postroom::smtp
