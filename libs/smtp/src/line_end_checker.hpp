// Finds NUL and bare CR or LF in counted message data (BDAT), which has no end-of-data marker to
// parse but carries the same text as DATA.
#pragma once

#include <cstddef>
#include <string_view>

#include "postroom/base/dot_reader.hpp"

namespace postroom::smtp {

// RFC 5321 §2.3.8: CR and LF appear only together as CRLF, and RFC 3030 §2 without BINARYMIME
// (not offered) keeps BDAT data to that same text. The checker keeps one octet of state, so a
// CRLF split across two chunks is fine and any split of the input gives the same verdict.
class LineEndChecker {
 public:
  void feed(std::string_view bytes);
  // The data has ended: a CR still waiting for its LF was bare.
  void finish();

  bool bare_cr_or_lf() const { return bare_cr_or_lf_; }
  bool nul() const { return nul_; }

 private:
  bool after_cr_ = false;
  bool bare_cr_or_lf_ = false;
  bool nul_ = false;
};

}  // namespace postroom::smtp
