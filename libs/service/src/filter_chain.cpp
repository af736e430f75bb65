// Runs a message's filters one after another; the first that does not accept decides.
#include "filter_chain.hpp"

#include <utility>

namespace postroom::service {

FilterChain::FilterChain(const std::vector<FilterFactory>& factories,
                         const FilterEnvelope& envelope) {
  for (const auto& make : factories) {
    if (!make) continue;
    if (auto filter = make(envelope)) filters_.push_back(std::move(filter));
  }
}

void FilterChain::headers_complete(const HeaderSection& headers) {
  for (auto& f : filters_) f->headers_complete(headers);
}

void FilterChain::body(std::string_view bytes) {
  for (auto& f : filters_) f->body(bytes);
}

std::size_t FilterChain::backlog() const {
  std::size_t total = 0;
  for (const auto& f : filters_) total += f->backlog();
  return total;
}

void FilterChain::finish(HeaderSection& headers, std::function<void(FilterVerdict)> done) {
  headers_ = &headers;
  done_ = std::move(done);
  next_ = 0;
  log_.clear();
  run_next();
}

void FilterChain::run_next() {
  if (next_ == filters_.size()) {
    FilterVerdict accepted;
    accepted.log = std::move(log_);
    return std::exchange(done_, nullptr)(std::move(accepted));
  }
  auto& filter = *filters_[next_++];
  // A filter may answer at once (from inside finish) or later; either way once.
  filter.finish(*headers_, [this, alive = std::weak_ptr<bool>(alive_)](FilterVerdict verdict) {
    if (alive.expired() || !done_) return;
    if (!verdict.log.empty()) log_ += (log_.empty() ? "" : " ") + verdict.log;
    if (verdict.action != FilterVerdict::Action::accept) {
      verdict.log = std::move(log_);
      return std::exchange(done_, nullptr)(std::move(verdict));
    }
    run_next();
  });
}

}  // namespace postroom::service
