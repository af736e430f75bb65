// Ranking the failures of one delivery attempt (see attempt_failure.hpp).
#include "postroom/relay/attempt_failure.hpp"

namespace postroom::relay {

bool AttemptFailures::note(FailureStage stage, std::string reply) {
  if (stage_ && stage < *stage_) return false;
  stage_ = stage;
  reply_ = std::move(reply);
  return true;
}

}  // namespace postroom::relay
