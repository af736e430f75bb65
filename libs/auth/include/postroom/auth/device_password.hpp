// Generated per-device passwords: their shape, and the public selector that names the device.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "postroom/base/error.hpp"

namespace postroom::auth {

// Six groups of four characters from a 32-letter alphabet without look-alikes (no 0/o,
// 1/l), "k7cm-xq2t-...": easy to type on a scanner's panel or a phone. The first group is
// the selector, stored in clear to find the device's hash (20 bits, unique per account);
// the other five are the secret (100 bits from randombytes), which only argon2id sees.
constexpr std::size_t kDeviceGroups = 6;
constexpr std::size_t kDeviceGroupLength = 4;
constexpr std::size_t kDevicePasswordLength = kDeviceGroups * (kDeviceGroupLength + 1) - 1;

struct DevicePassword {
  std::string password;
  std::string selector;
};
// A fresh password from libsodium's randombytes.
Result<DevicePassword> generate_device_password();

// The password in its canonical (lower-case) form when it has a device password's shape,
// whatever the case a phone's keyboard gave it; nullopt for anything else.
std::optional<std::string> canonical_device_password(std::string_view password);
// The selector of a canonical device password.
inline std::string device_selector(std::string_view canonical) {
  return std::string(canonical.substr(0, kDeviceGroupLength));
}

}  // namespace postroom::auth
