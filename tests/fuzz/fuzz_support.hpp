// Helpers shared by the fuzz targets: invariant checks that abort loudly, and deterministic
// splitting of one fuzz input into parameters and chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

// Aborts with the failed condition: libFuzzer and the replay driver both treat that as a crash
// and keep the input.
#define FUZZ_CHECK(cond)                                            \
  do {                                                              \
    if (!(cond)) ::postroom::fuzz::fail(#cond, __FILE__, __LINE__); \
  } while (0)

namespace postroom::fuzz {

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant violated: %s\n", file, line, what);
  std::abort();
}

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Reads parameter bytes off the front of an input; past the end every byte reads as 0.
class Input {
 public:
  explicit Input(std::string_view data) : data_(data) {}
  std::uint8_t byte() {
    if (data_.empty()) return 0;
    auto b = static_cast<std::uint8_t>(data_.front());
    data_.remove_prefix(1);
    return b;
  }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | byte();
    return v;
  }
  std::string_view rest() const { return data_; }

 private:
  std::string_view data_;
};

// A small deterministic generator (xorshift32), so a fuzz input alone fixes every choice.
class Rng {
 public:
  explicit Rng(std::uint32_t seed) : state_(seed * 2654435761u + 0x9e3779b9u) {
    if (state_ == 0) state_ = 1;
  }
  std::uint32_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }
  // Uniform-ish in [0, n), n > 0.
  std::size_t below(std::size_t n) { return next() % n; }

 private:
  std::uint32_t state_;
};

// Cuts `data` into consecutive non-empty pieces whose sizes follow `seed`: sometimes single
// bytes, sometimes small pieces, sometimes large ones. The pieces always cover `data` exactly.
inline std::vector<std::string_view> chunks(std::string_view data, std::uint32_t seed) {
  Rng rng(seed);
  std::size_t max_piece = 1;
  switch (seed % 4) {
    case 0:
      max_piece = 1;
      break;
    case 1:
      max_piece = 7;
      break;
    case 2:
      max_piece = 64;
      break;
    default:
      max_piece = 5000;
      break;
  }
  std::vector<std::string_view> out;
  while (!data.empty()) {
    std::size_t n = 1 + rng.below(max_piece);
    if (n > data.size()) n = data.size();
    out.push_back(data.substr(0, n));
    data.remove_prefix(n);
  }
  return out;
}

// Checks that every LF in `bytes` follows a CR and every CR precedes an LF (a CR may end the
// text when `allow_trailing_cr`, its LF still to come).
inline bool crlf_only(std::string_view bytes, bool allow_trailing_cr = false) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\n' && (i == 0 || bytes[i - 1] != '\r')) return false;
    if (bytes[i] == '\r') {
      if (i + 1 == bytes.size()) return allow_trailing_cr;
      if (bytes[i + 1] != '\n') return false;
    }
  }
  return true;
}

// The longest CRLF-terminated line in `bytes`, counting its CRLF; a last line without CRLF
// counts as it stands.
inline std::size_t longest_line(std::string_view bytes) {
  std::size_t longest = 0;
  while (!bytes.empty()) {
    std::size_t end = bytes.find("\r\n");
    std::size_t len = end == std::string_view::npos ? bytes.size() : end + 2;
    if (len > longest) longest = len;
    bytes.remove_prefix(len);
  }
  return longest;
}

// Carries out a session's actions until it has none left, checking that nothing follows
// Close. `host` provides carry_out(session, action) for each action type and a `closed` flag.
template <class Host, class Session>
void drain(Host& host, Session& session) {
  while (true) {
    auto actions = session.take_actions();
    if (actions.empty()) return;
    for (auto& action : actions) {
      FUZZ_CHECK(!host.closed);  // Close is always the last action
      std::visit([&](auto& a) { host.carry_out(session, a); }, action);
    }
  }
}

}  // namespace postroom::fuzz
