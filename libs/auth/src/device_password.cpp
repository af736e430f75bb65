// Generating device passwords and recognizing their shape.
#include "postroom/auth/device_password.hpp"

#include <sodium.h>

namespace postroom::auth {

namespace {

constexpr std::string_view kAlphabet = "abcdefghijkmnpqrstuvwxyz23456789";
static_assert(kAlphabet.size() == 32);

bool is_dash_position(std::size_t i) {
  return i % (kDeviceGroupLength + 1) == kDeviceGroupLength;
}

}  // namespace

Result<DevicePassword> generate_device_password() {
  if (sodium_init() < 0) return fail("libsodium failed to initialize");
  DevicePassword out;
  out.password.reserve(kDevicePasswordLength);
  for (std::size_t i = 0; i < kDevicePasswordLength; ++i) {
    if (is_dash_position(i)) {
      out.password.push_back('-');
    } else {
      // randombytes_uniform has no modulo bias (32 divides 2^32 anyway).
      out.password.push_back(kAlphabet[randombytes_uniform(kAlphabet.size())]);
    }
  }
  out.selector = device_selector(out.password);
  return out;
}

std::optional<std::string> canonical_device_password(std::string_view password) {
  if (password.size() != kDevicePasswordLength) return std::nullopt;
  std::string out(password);
  for (std::size_t i = 0; i < out.size(); ++i) {
    char& c = out[i];
    if (is_dash_position(i)) {
      if (c != '-') return std::nullopt;
      continue;
    }
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (kAlphabet.find(c) == std::string_view::npos) return std::nullopt;
  }
  return out;
}

}  // namespace postroom::auth
