// Whole small messages read before the client asks for them.
#include "read_ahead.hpp"

#include <algorithm>

namespace postroom::service {

std::optional<std::string> ReadAhead::take(std::int64_t message) {
  auto it = held_.find(message);
  if (it == held_.end()) return std::nullopt;
  std::string whole = std::move(it->second);
  bytes_ -= whole.size();
  held_.erase(it);
  return whole;
}

ReadAhead::Plan ReadAhead::plan_after(std::int64_t message,
                                      const std::vector<std::int64_t>& order) const {
  Plan plan;
  if (bytes_ >= kBytes) return plan;
  plan.budget = kBytes - bytes_;
  auto at = std::lower_bound(order.begin(), order.end(), message);
  if (at == order.end() || *at != message) return {};
  for (++at; at != order.end() && plan.messages.size() < kMessages; ++at) {
    if (!held_.contains(*at)) plan.messages.push_back(*at);
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
