// The two DKIM canonicalization algorithms (RFC 6376 §3.4.1 to §3.4.4).
#include "postroom/mailauth/dkim_canon.hpp"

#include "text.hpp"

namespace postroom::mailauth {

namespace {
constexpr std::size_t kMaxPiece = 64 * 1024;
}  // namespace

std::string canonical_header(std::string_view name, std::string_view value, Canon canon) {
  if (canon == Canon::simple) return std::string(name) + ":" + std::string(value) + "\r\n";
  // §3.4.2: lower-case name, unfold, runs of WSP to one SP, no WSP at the ends of the value
  // or around the colon.
  std::string out = lower(trim(name));
  out += ':';
  std::string v;
  bool wsp = false;
  for (char c : value) {
    if (c == '\r' || c == '\n') continue;
    if (c == ' ' || c == '\t') {
      wsp = true;
      continue;
    }
    if (wsp && !v.empty()) v += ' ';
    wsp = false;
    v += c;
  }
  out += v;
  out += "\r\n";
  return out;
}

BodyCanonicalizer::BodyCanonicalizer(Canon canon, std::int64_t limit,
                                     std::function<void(std::string_view)> sink)
    : canon_(canon), limit_(limit), sink_(std::move(sink)) {}

void BodyCanonicalizer::emit(std::string_view s) {
  if (limit_ >= 0) {
    std::int64_t room = limit_ - emitted_;
    if (room <= 0) return;
    if (static_cast<std::int64_t>(s.size()) > room) s = s.substr(0, static_cast<std::size_t>(room));
  }
  out_.append(s);
  emitted_ += static_cast<std::int64_t>(s.size());
  // A body of a million empty lines and then one letter must not become one huge piece.
  if (out_.size() >= kMaxPiece) flush();
}

void BodyCanonicalizer::flush() {
  if (!out_.empty()) sink_(out_);
  out_.clear();
}

void BodyCanonicalizer::feed(std::string_view bytes) {
  bool relaxed = canon_ == Canon::relaxed;
  auto special = [relaxed](char c) {
    return c == '\r' || c == '\n' || (relaxed && (c == ' ' || c == '\t'));
  };
  std::size_t i = 0;
  while (i < bytes.size()) {
    char c = bytes[i];
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        // End of line: trailing WSP is dropped (relaxed); the line end waits until content
        // follows, since empty lines at the end of the body are ignored (§3.4.3, §3.4.4).
        pending_wsp_ = false;
        line_content_ = false;
        ++pending_crlf_;
        ++i;
        continue;
      }
      content(std::string_view("\r", 1));  // a lone CR is content
    }
    if (c == '\r') {
      pending_cr_ = true;
      ++i;
      continue;
    }
    if (c == '\n') {
      // A bare LF ends a line as well (the stored form should not have one).
      pending_wsp_ = false;
      line_content_ = false;
      ++pending_crlf_;
      ++i;
      continue;
    }
    if (relaxed && (c == ' ' || c == '\t')) {
      pending_wsp_ = true;
      ++i;
      continue;
    }
    // A run of ordinary octets goes out in one piece.
    std::size_t end = i + 1;
    while (end < bytes.size() && !special(bytes[end])) ++end;
    content(bytes.substr(i, end - i));
    i = end;
  }
  flush();
}

void BodyCanonicalizer::content(std::string_view run) {
  for (; pending_crlf_ > 0; --pending_crlf_) emit("\r\n");
  if (pending_wsp_) emit(" ");
  pending_wsp_ = false;
  emit(run);
  line_content_ = true;
  any_content_ = true;
}

void BodyCanonicalizer::finish() {
  if (pending_cr_) {
    pending_cr_ = false;
    content(std::string_view("\r", 1));
  }
  if (any_content_) {
    // The last content line's end, or the CRLF added to an unterminated last line.
    emit("\r\n");
  } else if (canon_ == Canon::simple) {
    emit("\r\n");  // §3.4.3: an empty body is one CRLF
  }
  flush();
}

}  // namespace postroom::mailauth
