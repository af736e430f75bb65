// Header fields split, looked up and edited without touching the bytes of untouched fields.
#include "postroom/base/header_section.hpp"

#include <algorithm>

namespace postroom {

namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// One line of `text` from `pos`, its line end included; empty at the end.
std::string_view next_line(std::string_view text, std::size_t pos) {
  if (pos >= text.size()) return {};
  auto end = text.find('\n', pos);
  return text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos + 1);
}

// The line end of `line` ("\r\n", "\n" or "" for a last line without one).
std::string_view line_end_of(std::string_view line) {
  if (line.ends_with("\r\n")) return line.substr(line.size() - 2);
  if (line.ends_with('\n')) return line.substr(line.size() - 1);
  return {};
}

// RFC 5322 §3.6.8: a field name is printable ASCII but the colon, at least one character.
bool valid_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(),
                                      [](char c) { return c > 32 && c < 127 && c != ':'; });
}

HeaderSection::Field make_field(std::string_view name, std::string_view value) {
  return {std::string(name), " " + std::string(value), "\r\n"};
}

}  // namespace

bool header_name_equals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

HeaderSection HeaderSection::parse(std::string_view text) {
  HeaderSection section;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto line = next_line(text, pos);
    pos += line.size();
    auto end = line_end_of(line);
    auto content = line.substr(0, line.size() - end.size());
    bool continuation = !content.empty() && (content[0] == ' ' || content[0] == '\t');
    if (continuation && !section.fields_.empty() && !section.fields_.back().name.empty()) {
      auto& last = section.fields_.back();
      last.value += last.line_end;
      last.value += content;
      last.line_end = std::string(end);
      continue;
    }
    auto colon = content.find(':');
    if (colon != std::string_view::npos && valid_name(content.substr(0, colon))) {
      section.fields_.push_back({std::string(content.substr(0, colon)),
                                 std::string(content.substr(colon + 1)), std::string(end)});
    } else {
      section.fields_.push_back({std::string(), std::string(content), std::string(end)});
    }
  }
  return section;
}

std::string HeaderSection::Field::text() const {
  return name + (name.empty() ? "" : ":") + value + line_end;
}

std::string HeaderSection::text() const {
  std::string out;
  out.reserve(size());
  for (const auto& f : fields_) out += f.text();
  return out;
}

std::size_t HeaderSection::size() const {
  std::size_t n = 0;
  for (const auto& f : fields_)
    n += f.name.size() + (f.name.empty() ? 0 : 1) + f.value.size() + f.line_end.size();
  return n;
}

const HeaderSection::Field* HeaderSection::find(std::string_view name, std::size_t index) const {
  for (const auto& f : fields_) {
    if (!f.name.empty() && header_name_equals(f.name, name) && --index == 0) return &f;
  }
  return nullptr;
}

std::size_t HeaderSection::count(std::string_view name) const {
  return static_cast<std::size_t>(
      std::count_if(fields_.begin(), fields_.end(),
                    [&](const Field& f) { return header_name_equals(f.name, name); }));
}

void HeaderSection::prepend(std::string_view name, std::string_view value) {
  fields_.insert(fields_.begin(), make_field(name, value));
}

void HeaderSection::append(std::string_view name, std::string_view value) {
  fields_.push_back(make_field(name, value));
}

void HeaderSection::insert(std::size_t position, std::string_view name, std::string_view value) {
  position = std::min(position, fields_.size());
  fields_.insert(fields_.begin() + static_cast<std::ptrdiff_t>(position), make_field(name, value));
}

bool HeaderSection::change(std::string_view name, std::size_t index,
                           std::optional<std::string_view> value) {
  for (auto it = fields_.begin(); it != fields_.end(); ++it) {
    if (!header_name_equals(it->name, name) || --index != 0) continue;
    if (value) {
      it->value = " " + std::string(*value);
    } else {
      fields_.erase(it);
    }
    return true;
  }
  return false;
}

}  // namespace postroom
