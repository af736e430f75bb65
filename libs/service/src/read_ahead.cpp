// Whole small messages read before the client asks for them.
#include "read_ahead.hpp"

namespace postroom::service {

void ReadAhead::set_order(std::vector<std::int64_t> contents_in_order) {
  order_ = std::move(contents_in_order);
  position_of_.clear();
  for (std::size_t i = 0; i < order_.size(); ++i) position_of_[order_[i]] = i;
}

std::optional<std::string> ReadAhead::take(std::int64_t content) {
  auto it = held_.find(content);
  if (it == held_.end()) return std::nullopt;
  std::string message = std::move(it->second);
  bytes_ -= message.size();
  held_.erase(it);
  return message;
}

ReadAhead::Plan ReadAhead::plan_after(std::int64_t content) const {
  Plan plan;
  if (bytes_ >= kBytes) return plan;
  plan.budget = kBytes - bytes_;
  auto at = position_of_.find(content);
  std::size_t next = at == position_of_.end() ? order_.size() : at->second + 1;
  for (; next < order_.size() && plan.contents.size() < kMessages; ++next) {
    if (!held_.contains(order_[next])) plan.contents.push_back(order_[next]);
  }
  return plan;
}

void ReadAhead::add(Messages messages) {
  for (auto& [id, message] : messages) {
    bytes_ += message.size();
    held_.insert_or_assign(id, std::move(message));
  }
}

}  // namespace postroom::service
