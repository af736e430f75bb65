// The header section of a message (RFC 5322 §2.2) as a list of fields that can be read and
// edited before the message is stored: added trace fields, Authentication-Results, a
// DKIM-Signature, a milter's changes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postroom {

class HeaderSection {
 public:
  struct Field {
    std::string name;   // as written ("Subject"); compared without regard to case
    std::string value;  // everything after the colon, folding line ends kept, without the last
    std::string line_end = "\r\n";  // as received ("\n" for a bare LF); "\r\n" for new fields
    // The field as stored: "Name:value" and its line end.
    std::string text() const;
  };

  // Splits `text` (the header section without the empty line that ends it; CRLF or bare LF
  // line ends, kept as they are) into fields. A line that is neither a field nor a
  // continuation is kept as a field with an empty name and the whole line as its value, so
  // text() gives it back unchanged: the section is never silently altered.
  static HeaderSection parse(std::string_view text);

  const std::vector<Field>& fields() const { return fields_; }
  // The section as stored: every field's text(), in order (no empty line after it).
  std::string text() const;

  // The value of the first / the `index`-th (1-based) field called `name`, if any.
  const Field* find(std::string_view name, std::size_t index = 1) const;
  std::size_t count(std::string_view name) const;

  // A new field at the top (trace fields, Authentication-Results, DKIM-Signature). The value
  // is given without the leading space; one is added.
  void prepend(std::string_view name, std::string_view value);
  // A new field at the bottom (milter ADDHEADER).
  void append(std::string_view name, std::string_view value);
  // A new field before position `position` (0-based; past the end appends; milter INSHEADER).
  void insert(std::size_t position, std::string_view name, std::string_view value);
  // Replaces the value of the `index`-th field called `name` (1-based), or removes that
  // field when `value` is nullopt; false when there is no such field (milter CHGHEADER).
  bool change(std::string_view name, std::size_t index, std::optional<std::string_view> value);
  // Removes every field for which `drop` returns true; returns how many went.
  template <class Predicate>
  std::size_t remove_if(Predicate drop) {
    std::size_t before = fields_.size();
    std::erase_if(fields_, drop);
    return before - fields_.size();
  }

  std::size_t size() const;  // octets of text()

 private:
  std::vector<Field> fields_;
};

// RFC 5322 names compare case-insensitively (ASCII).
bool header_name_equals(std::string_view a, std::string_view b);

}  // namespace postroom
