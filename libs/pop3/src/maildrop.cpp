// The compact maildrop snapshot.
#include "postroom/pop3/maildrop.hpp"

#include <limits>

namespace postroom::pop3 {

namespace {
constexpr std::uint32_t kBig = std::numeric_limits<std::uint32_t>::max();
}

Maildrop::Maildrop(std::initializer_list<MessageInfo> messages) {
  for (const auto& m : messages) add(m.id, m.size, m.uidl);
}

Maildrop::Maildrop(const std::vector<MessageInfo>& messages) {
  for (const auto& m : messages) add(m.id, m.size, m.uidl);
}

void Maildrop::reserve(std::size_t messages, std::size_t uidl_bytes) {
  ids_.reserve(messages);
  sizes_.reserve(messages);
  uidls_.reserve(uidl_bytes);
}

void Maildrop::add(std::int64_t id, std::uint64_t size, std::string_view uidl) {
  std::size_t index = ids_.size();
  ids_.push_back(id);
  if (size >= kBig) {
    sizes_.push_back(kBig);
    big_sizes_[index] = size;
  } else {
    sizes_.push_back(static_cast<std::uint32_t>(size));
  }
  if (index == 0) uidl_length_ = uidl.size();
  if (uidl_starts_.empty() && uidl.size() != uidl_length_) {
    // The first UIDL of another length: from now on every start is kept.
    uidl_starts_.reserve(ids_.capacity());
    for (std::size_t i = 0; i < index; ++i)
      uidl_starts_.push_back(static_cast<std::uint32_t>(i * uidl_length_));
  }
  if (!uidl_starts_.empty()) uidl_starts_.push_back(static_cast<std::uint32_t>(uidls_.size()));
  uidls_.append(uidl);
}

std::uint64_t Maildrop::octets(std::size_t index) const {
  std::uint32_t size = sizes_[index];
  return size == kBig ? big_sizes_.at(index) : size;
}

std::string_view Maildrop::uidl(std::size_t index) const {
  std::string_view all(uidls_);
  if (uidl_starts_.empty()) return all.substr(index * uidl_length_, uidl_length_);
  std::size_t start = uidl_starts_[index];
  std::size_t end = index + 1 < uidl_starts_.size() ? uidl_starts_[index + 1] : uidls_.size();
  return all.substr(start, end - start);
}

std::size_t Maildrop::footprint() const {
  return ids_.capacity() * sizeof(std::int64_t) + sizes_.capacity() * sizeof(std::uint32_t) +
         uidls_.capacity() + uidl_starts_.capacity() * sizeof(std::uint32_t) +
         big_sizes_.size() * 32;
}

}  // namespace postroom::pop3
