// Fuzzes the capped line reader: whole, byte by byte and in chunks give the same lines, and the
// buffer stays within its cap.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "postroom/base/line_reader.hpp"

namespace {

std::string render(const postroom::Line& line) {
  return (line.too_long ? "L" : "-") + std::string(line.bare_lf ? "b" : "-") + line.text + "\n";
}

std::string read(std::size_t cap, const std::vector<std::string_view>& pieces) {
  postroom::LineReader reader(cap);
  std::string out;
  for (std::string_view piece : pieces) {
    reader.append(piece);
    // Bytes not yet split into lines: at most a cap's worth of the last line, plus this piece.
    FUZZ_CHECK(reader.buffered_size() <= cap + piece.size());
    while (auto line = reader.next()) {
      FUZZ_CHECK(line->text.find('\n') == std::string::npos);
      if (line->too_long) {
        FUZZ_CHECK(line->text.empty());
      } else {
        FUZZ_CHECK(line->text.size() + (line->bare_lf ? 1 : 2) <= cap);
      }
      out += render(*line);
    }
    FUZZ_CHECK(reader.buffered_size() <= cap);
  }
  out += "[rest " + std::to_string(reader.buffered_size()) + "]";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  postroom::fuzz::Input in(postroom::fuzz::as_view(data, size));
  std::size_t cap = 3 + ((in.byte() << 8) | in.byte()) % 1100;
  std::uint32_t seed = in.u32();
  std::string_view stream = in.rest();

  std::string whole = read(cap, {stream});
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < stream.size(); ++i) bytes.push_back(stream.substr(i, 1));
  FUZZ_CHECK(read(cap, bytes) == whole);
  FUZZ_CHECK(read(cap, postroom::fuzz::chunks(stream, seed)) == whole);

  // take_buffered() hands over exactly what is buffered.
  postroom::LineReader reader(cap);
  reader.append(stream);
  while (reader.next()) {
  }
  std::size_t buffered = reader.buffered_size();
  FUZZ_CHECK(reader.take_buffered().size() == buffered);
  FUZZ_CHECK(reader.buffered_size() == 0);
  return 0;
}
