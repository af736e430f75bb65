// Fuzzes the mbox splitter: messages open and close in pairs and never hold more bytes than
// the file.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "postroom/store/mbox.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view file = postroom::fuzz::as_view(data, size);
  std::size_t total = 0;
  int starts = 0;
  int ends = 0;
  bool open = false;
  postroom::store::MboxReader reader(
      [&] {
        FUZZ_CHECK(!open);
        open = true;
        ++starts;
      },
      [&](std::string_view bytes) {
        FUZZ_CHECK(open);
        FUZZ_CHECK(!bytes.empty());
        total += bytes.size();
      },
      [&] {
        FUZZ_CHECK(open);
        open = false;
        ++ends;
      });
  // Lines as `postroom import mbox` reads them: each with its "\n", the last maybe without.
  for (std::size_t at = 0; at < file.size();) {
    std::size_t end = file.find('\n', at);
    end = end == std::string_view::npos ? file.size() : end + 1;
    reader.line(file.substr(at, end - at));
    at = end;
  }
  reader.finish();
  FUZZ_CHECK(!open);
  FUZZ_CHECK(starts == ends);
  FUZZ_CHECK(reader.messages() == starts);
  FUZZ_CHECK(total <= file.size());
  return 0;
}
