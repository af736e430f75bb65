// The filters one message passes (message_filter.hpp), run in order at its end.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/service/message_filter.hpp"

namespace postroom::service {

class FilterChain {
 public:
  // Asks every factory for its filter for this message; those with nothing to do give none.
  FilterChain(const std::vector<FilterFactory>& factories, const FilterEnvelope& envelope);
  bool empty() const { return filters_.empty(); }

  void headers_complete(const HeaderSection& headers);
  void body(std::string_view bytes);
  std::size_t backlog() const;
  // Runs each filter's finish() in turn while they accept; `done` gets the first verdict
  // that is not `accept` (or `accept`), its log holding every filter's words. `headers` must
  // live until `done`. Destroying the chain cancels it: `done` is not called then.
  void finish(HeaderSection& headers, std::function<void(FilterVerdict)> done);

 private:
  void run_next();

  std::vector<std::unique_ptr<MessageFilter>> filters_;
  std::size_t next_ = 0;
  HeaderSection* headers_ = nullptr;
  std::function<void(FilterVerdict)> done_;
  std::string log_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace postroom::service
