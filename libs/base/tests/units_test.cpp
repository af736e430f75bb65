#include "postroom/base/units.hpp"

#include <doctest/doctest.h>

using namespace postroom;

TEST_CASE("units: sizes") {
  CHECK(parse_size("25MiB").value() == 25ULL << 20);
  CHECK(parse_size("0B").value() == 0);
  CHECK(parse_size("3KiB").value() == 3072);
  CHECK(parse_size("1GiB").value() == 1ULL << 30);
  for (const char* bad : {"", "25", "25 MiB", "2.5MiB", "25MB", "MiB", "-1B", "25mib"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_size(bad));
  }
  CHECK_FALSE(parse_size("99999999999999999999GiB"));
  CHECK(format_size(25ULL << 20) == "25MiB");
  CHECK(format_size(1000) == "1000B");
}

TEST_CASE("units: durations") {
  CHECK(parse_duration("10m").value() == Seconds(600));
  CHECK(parse_duration("6s").value() == Seconds(6));
  CHECK(parse_duration("5d").value() == Seconds(5 * 86400));
  CHECK(parse_duration("2h").value() == Seconds(7200));
  for (const char* bad : {"", "10", "1h30m", "1.5h", "10 m", "10M", "m"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad));
  }
  CHECK(format_duration(Seconds(600)) == "10m");
  CHECK(format_duration(Seconds(61)) == "61s");
}
