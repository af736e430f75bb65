// Parsing and printing of the config file's sizes and durations.
#include "postroom/base/units.hpp"

#include <charconv>
#include <limits>
#include <utility>

#include "postroom/base/quote.hpp"

namespace postroom {
namespace {

struct Unit {
  std::string_view suffix;
  std::uint64_t factor;
};

// Splits "25MiB" into 25 and "MiB"; the number must be a plain decimal integer.
Result<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return fail("must start with an integer");
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (ec != std::errc() || ptr != text.data() + digits) return fail("number too large");
  return std::pair{value, text.substr(digits)};
}

Result<std::uint64_t> parse_with_units(std::string_view text, std::initializer_list<Unit> units,
                                       std::string_view expected) {
  auto split = split_number(text);
  if (!split) return fail(quoted_value(text) + ": " + split.error().message);
  auto [value, suffix] = *split;
  for (const Unit& unit : units) {
    if (suffix != unit.suffix) continue;
    if (value > std::numeric_limits<std::uint64_t>::max() / unit.factor)
      return fail(quoted_value(text) + " is too large");
    return value * unit.factor;
  }
  return fail(quoted_value(text) + " needs a unit: " + std::string(expected));
}

}  // namespace

Result<std::uint64_t> parse_size(std::string_view text) {
  return parse_with_units(text,
                          {{"B", 1}, {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30}},
                          "B, KiB, MiB or GiB (like 25MiB)");
}

Result<Seconds> parse_duration(std::string_view text) {
  auto seconds = parse_with_units(text, {{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}},
                                  "s, m, h or d (like 10m)");
  if (!seconds) return std::unexpected(seconds.error());
  if (*seconds > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 1000))
    return fail(quoted_value(text) + " is too large");
  return Seconds(static_cast<std::int64_t>(*seconds));
}

std::string format_size(std::uint64_t bytes) {
  constexpr std::pair<std::uint64_t, const char*> units[] = {
      {1ULL << 30, "GiB"}, {1ULL << 20, "MiB"}, {1ULL << 10, "KiB"}};
  for (auto [factor, name] : units) {
    if (bytes != 0 && bytes % factor == 0) return std::to_string(bytes / factor) + name;
  }
  return std::to_string(bytes) + "B";
}

std::string format_duration(Seconds duration) {
  auto s = duration.count();
  constexpr std::pair<long long, const char*> units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}};
  for (auto [factor, name] : units) {
    if (s != 0 && s % factor == 0) return std::to_string(s / factor) + name;
  }
  return std::to_string(s) + "s";
}

}  // namespace postroom
