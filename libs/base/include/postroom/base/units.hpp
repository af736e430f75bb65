// Sizes ("25MiB") and durations ("10m") as the config file writes them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "postroom/base/error.hpp"

namespace postroom {

using Seconds = std::chrono::seconds;

// An integer followed by B, KiB, MiB or GiB; no spaces, no fractions.
Result<std::uint64_t> parse_size(std::string_view text);
// An integer followed by s, m, h or d; no spaces, no fractions.
Result<Seconds> parse_duration(std::string_view text);

std::string format_size(std::uint64_t bytes);
std::string format_duration(Seconds duration);

}  // namespace postroom
