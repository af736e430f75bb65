// SRS0/SRS1 addresses: building them for forwarded mail, checking them when a bounce returns.
#include "postroom/relay/srs.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "postroom/base/file.hpp"

namespace postroom::relay {
namespace {

constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
// Six base64 characters compared without case hold about 30 bits: a forger needs around
// a billion tries per address, each one refused with a 550.
constexpr std::size_t kHashLength = 6;
constexpr int kDaySeconds = 86400;
constexpr int kTimestampModulus = 1024;  // two base32 characters

bool starts_with_tag(std::string_view local, std::string_view tag) {
  // libsrs2 accepts '=', '+' and '-' after the tag; we write '='.
  if (local.size() <= tag.size()) return false;
  if (to_lower_ascii(local.substr(0, tag.size())) != tag) return false;
  char sep = local[tag.size()];
  return sep == '=' || sep == '+' || sep == '-';
}

std::string timestamp(std::int64_t now) {
  int day = static_cast<int>((now / kDaySeconds) % kTimestampModulus);
  return {kBase32[(day >> 5) & 31], kBase32[day & 31]};
}

std::optional<int> decode_timestamp(std::string_view tt) {
  if (tt.size() != 2) return std::nullopt;
  int value = 0;
  for (char c : tt) {
    auto pos = kBase32.find(static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c));
    if (pos == std::string_view::npos) return std::nullopt;
    value = value * 32 + static_cast<int>(pos);
  }
  return value;
}

}  // namespace

Srs::Srs(std::string key, std::string domain, int max_age_days)
    : key_(std::move(key)), domain_(to_lower_ascii(domain)), max_age_days_(max_age_days) {}

std::string Srs::hash(std::string_view data) const {
  std::string lower = to_lower_ascii(data);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha1(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(lower.data()), lower.size(), mac, &mac_len);
  unsigned char b64[2 * EVP_MAX_MD_SIZE];
  int n = EVP_EncodeBlock(b64, mac, static_cast<int>(mac_len));
  return std::string(reinterpret_cast<char*>(b64), static_cast<std::size_t>(n))
      .substr(0, kHashLength);
}

std::string Srs::forward(const Address& sender, std::int64_t now) const {
  std::string_view local = sender.local;
  std::string rest;
  if (starts_with_tag(local, "srs0")) {
    // Already forwarded once: name the first hop, keep its opaque part (SRS1).
    rest = sender.domain + "==" + std::string(local.substr(5));
  } else if (starts_with_tag(local, "srs1")) {
    // SRS1=HHHH=hop==rest: a further hop keeps the first hop and its part.
    std::string_view tail = local.substr(5);
    auto eq = tail.find('=');
    if (eq != std::string_view::npos) {
      rest = std::string(tail.substr(eq + 1));
      return "SRS1=" + hash(rest) + "=" + rest + "@" + domain_;
    }
    rest = sender.domain + "==" + std::string(local.substr(5));
  } else {
    std::string data = timestamp(now) + "=" + sender.domain + "=" + sender.local;
    return "SRS0=" + hash(data) + "=" + data + "@" + domain_;
  }
  return "SRS1=" + hash(rest) + "=" + rest + "@" + domain_;
}

Srs::Reversed Srs::reverse(std::string_view local, std::int64_t now) const {
  bool srs0 = starts_with_tag(local, "srs0");
  if (!srs0 && !starts_with_tag(local, "srs1")) return {};
  std::string_view tail = local.substr(5);
  auto eq = tail.find('=');
  if (eq == std::string_view::npos) return {Verdict::forged, {}};
  std::string given = to_lower_ascii(tail.substr(0, eq));
  std::string_view data = tail.substr(eq + 1);
  if (given.size() != kHashLength || to_lower_ascii(hash(data)) != given)
    return {Verdict::forged, {}};
  if (!srs0) {
    // hop==rest: the bounce goes on to the first forwarder, as SRS0 of its own.
    auto sep = data.find("==");
    if (sep == std::string_view::npos || sep == 0 || sep + 2 >= data.size())
      return {Verdict::forged, {}};
    return {Verdict::valid,
            "SRS0=" + std::string(data.substr(sep + 2)) + "@" + std::string(data.substr(0, sep))};
  }
  // TT=domain=local; the local part may itself hold '='.
  auto first = data.find('=');
  if (first == std::string_view::npos) return {Verdict::forged, {}};
  auto second = data.find('=', first + 1);
  if (second == std::string_view::npos || second == first + 1 || second + 1 >= data.size())
    return {Verdict::forged, {}};
  auto then = decode_timestamp(data.substr(0, first));
  if (!then) return {Verdict::forged, {}};
  int today = static_cast<int>((now / kDaySeconds) % kTimestampModulus);
  int age = ((today - *then) % kTimestampModulus + kTimestampModulus) % kTimestampModulus;
  if (age > max_age_days_) return {Verdict::expired, {}};
  return {Verdict::valid, std::string(data.substr(second + 1)) + "@" +
                              std::string(data.substr(first + 1, second - first - 1))};
}

Result<std::string> load_or_create_srs_key(const std::filesystem::path& file) {
  return load_or_create_token(file, 32, 16, "the SRS key file");
}

}  // namespace postroom::relay
