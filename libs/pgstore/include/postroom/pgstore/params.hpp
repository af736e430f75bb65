// Typed statement parameters, sent in PostgreSQL's binary format (no quoting, no hex).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace postroom::pgstore {

class Params {
 public:
  Params& add(std::int64_t value);  // int8
  Params& add(bool value);          // bool
  Params& add(std::string_view text);
  Params& add(const char* text) { return add(std::string_view(text)); }
  Params& add_bytes(std::string bytes);  // bytea, taken over without a copy
  Params& add_null();
  // int8[] and text[] (sent as array literals in text format; the server parses them).
  Params& add_array(const std::vector<std::int64_t>& values);
  Params& add_array(const std::vector<std::string>& values);

  int size() const { return static_cast<int>(values_.size()); }
  // Parallel arrays for libpq, valid until the Params change.
  const std::vector<unsigned>& types() const { return types_; }
  std::vector<const char*> values() const;
  const std::vector<int>& lengths() const { return lengths_; }
  const std::vector<int>& formats() const { return formats_; }

 private:
  void push(unsigned type, std::string value, int format, bool null = false);

  std::vector<std::string> values_;
  std::vector<bool> nulls_;
  std::vector<unsigned> types_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

}  // namespace postroom::pgstore
