// Statement parameters in the wire formats libpq sends.
#include "postroom/pgstore/params.hpp"

#include "oids.hpp"

namespace postroom::pgstore {

void Params::push(unsigned type, std::string value, int format, bool null) {
  lengths_.push_back(static_cast<int>(value.size()));
  values_.push_back(std::move(value));
  nulls_.push_back(null);
  types_.push_back(type);
  formats_.push_back(format);
}

Params& Params::add(std::int64_t value) {
  std::string big_endian(8, '\0');
  auto bits = static_cast<std::uint64_t>(value);
  for (int i = 7; i >= 0; --i, bits >>= 8) big_endian[i] = static_cast<char>(bits & 0xff);
  push(oid::int8, std::move(big_endian), 1);
  return *this;
}

Params& Params::add(bool value) {
  push(oid::boolean, std::string(1, value ? '\1' : '\0'), 1);
  return *this;
}

Params& Params::add(std::string_view text) {
  // The binary format of text is its bytes.
  push(oid::text, std::string(text), 1);
  return *this;
}

Params& Params::add_bytes(std::string bytes) {
  push(oid::bytea, std::move(bytes), 1);
  return *this;
}

Params& Params::add_null() {
  push(0, {}, 1, true);
  return *this;
}

Params& Params::add_array(const std::vector<std::int64_t>& values) {
  std::string literal = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) literal += ',';
    literal += std::to_string(values[i]);
  }
  literal += '}';
  push(oid::int8_array, std::move(literal), 0);
  return *this;
}

Params& Params::add_array(const std::vector<std::string>& values) {
  // Each element double-quoted with backslash escapes: any text survives.
  std::string literal = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) literal += ',';
    literal += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') literal += '\\';
      literal += c;
    }
    literal += '"';
  }
  literal += '}';
  push(oid::text_array, std::move(literal), 0);
  return *this;
}

std::vector<const char*> Params::values() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (std::size_t i = 0; i < values_.size(); ++i)
    out.push_back(nulls_[i] ? nullptr : values_[i].data());
  return out;
}

}  // namespace postroom::pgstore
