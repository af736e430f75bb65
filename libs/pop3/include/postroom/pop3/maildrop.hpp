// The maildrop snapshot a POP3 session works on, kept compact for mailboxes of years.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace postroom::pop3 {

// One message of the maildrop snapshot taken at login.
struct MessageInfo {
  std::int64_t id = 0;  // the store's id, handed back in Retrieve and Update
  // Octets of the message with CRLF line ends, before dot-stuffing, without the
  // terminating ".CRLF" (RFC 1939 §11); see WireSizeCounter.
  std::uint64_t size = 0;
  std::string uidl;  // RFC 1939 §7: 1 to 70 characters in 0x21..0x7E
};

// Messages in maildrop order, about 37 bytes each when every UIDL has the same length
// (8 for the id, 4 for the size, the UIDL's own bytes), 41 otherwise: a session on a
// mailbox of 100,000 messages holds under 4 MiB. A vector of MessageInfo would take
// about 90 (a std::string each, most UIDLs too long for its inline buffer).
class Maildrop {
 public:
  Maildrop() = default;
  Maildrop(std::initializer_list<MessageInfo> messages);
  explicit Maildrop(const std::vector<MessageInfo>& messages);

  void reserve(std::size_t messages, std::size_t uidl_bytes);
  void add(std::int64_t id, std::uint64_t size, std::string_view uidl);

  std::size_t size() const { return ids_.size(); }
  bool empty() const { return ids_.empty(); }
  std::int64_t id(std::size_t index) const { return ids_[index]; }
  std::uint64_t octets(std::size_t index) const;
  std::string_view uidl(std::size_t index) const;
  // Ids in maildrop order (the host's read-ahead follows it).
  const std::vector<std::int64_t>& ids() const { return ids_; }
  // Bytes held, for memory tests.
  std::size_t footprint() const;

 private:
  std::vector<std::int64_t> ids_;
  std::vector<std::uint32_t> sizes_;                          // UINT32_MAX: see big_sizes_
  std::unordered_map<std::size_t, std::uint64_t> big_sizes_;  // 4 GiB or more: rare
  std::string uidls_;                                         // every UIDL back to back
  std::size_t uidl_length_ = 0;                               // while every UIDL has this length
  std::vector<std::uint32_t> uidl_starts_;                    // only once lengths differ
};

}  // namespace postroom::pop3
