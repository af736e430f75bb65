// Errors as values: every fallible library function returns Result<T>.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace postroom {

struct Error {
  std::string message;
  // What a caller may act on; everything else is just reported.
  enum class Kind { other, disk_full } kind = Kind::other;
};

template <class T>
using Result = std::expected<T, Error>;

// Builds the error side of a Result: `return fail("disk full");`.
inline std::unexpected<Error> fail(std::string message) {
  return std::unexpected<Error>(Error{std::move(message)});
}

}  // namespace postroom
