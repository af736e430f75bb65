// MTA-STS record and policy parsing, and the MX pattern match (RFC 8461 §3, §4.1).
#include "postroom/relay/mta_sts.hpp"

#include <algorithm>
#include <charconv>

namespace postroom::relay {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  return text;
}

bool valid_id(std::string_view id) {
  // RFC 8461 §3.1: sts-id = 1*32(ALPHA / DIGIT).
  if (id.empty() || id.size() > 32) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

std::string strip_dot(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return lower(host);
}

}  // namespace

std::string_view to_string(MtaStsMode mode) {
  switch (mode) {
    case MtaStsMode::enforce:
      return "enforce";
    case MtaStsMode::testing:
      return "testing";
    case MtaStsMode::none:
      return "none";
  }
  return "none";
}

std::optional<std::string> parse_mta_sts_txt(const std::vector<std::string>& records) {
  std::optional<std::string> id;
  int found = 0;
  for (const std::string& record : records) {
    std::string_view text = record;
    if (!text.starts_with("v=STSv1")) continue;
    ++found;
    // Fields are "key=value" separated by ";" with optional spaces.
    std::size_t pos = 0;
    while (pos <= text.size()) {
      std::size_t end = text.find(';', pos);
      std::string_view field =
          trim(text.substr(pos, end == std::string_view::npos ? text.npos : end - pos));
      if (field.starts_with("id=")) {
        std::string_view value = field.substr(3);
        id = valid_id(value) ? std::optional<std::string>(value) : std::nullopt;
      }
      if (end == std::string_view::npos) break;
      pos = end + 1;
    }
  }
  if (found != 1) return std::nullopt;
  return id;
}

Result<MtaStsPolicy> parse_mta_sts_policy(std::string_view text) {
  if (text.size() > kMtaStsMaxPolicySize) return fail("policy larger than 64 KiB");
  MtaStsPolicy policy;
  bool version = false, mode = false, max_age = false;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    line = trim(line);
    if (line.empty()) continue;
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return fail("policy line without ':'");
    std::string key = lower(trim(line.substr(0, colon)));
    std::string_view value = trim(line.substr(colon + 1));
    if (key == "version") {
      if (value != "STSv1") return fail("policy version is not STSv1");
      version = true;
    } else if (key == "mode") {
      if (value == "enforce")
        policy.mode = MtaStsMode::enforce;
      else if (value == "testing")
        policy.mode = MtaStsMode::testing;
      else if (value == "none")
        policy.mode = MtaStsMode::none;
      else
        return fail("policy mode is not enforce, testing or none");
      mode = true;
    } else if (key == "max_age") {
      std::int64_t seconds = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (ec != std::errc() || ptr != value.data() + value.size() || seconds < 0 ||
          value.size() > 10)
        return fail("policy max_age is not a number of seconds");
      policy.max_age = std::min(seconds, kMtaStsMaxAge);
      max_age = true;
    } else if (key == "mx") {
      if (value.empty()) return fail("policy has an empty mx");
      policy.mx.push_back(strip_dot(value));
    }
  }
  if (!version) return fail("policy has no version");
  if (!mode) return fail("policy has no mode");
  if (!max_age) return fail("policy has no max_age");
  if (policy.mode != MtaStsMode::none && policy.mx.empty()) return fail("policy lists no mx");
  return policy;
}

bool mta_sts_mx_matches(std::string_view pattern_in, std::string_view host_in) {
  std::string pattern = strip_dot(pattern_in);
  std::string host = strip_dot(host_in);
  if (pattern.starts_with("*.")) {
    std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.net"
    if (host.size() <= suffix.size() || !host.ends_with(suffix)) return false;
    std::string_view label = std::string_view(host).substr(0, host.size() - suffix.size());
    return label.find('.') == std::string_view::npos;
  }
  return pattern == host;
}

bool mta_sts_allows(const MtaStsPolicy& policy, std::string_view host) {
  return std::any_of(policy.mx.begin(), policy.mx.end(),
                     [&](const std::string& p) { return mta_sts_mx_matches(p, host); });
}

}  // namespace postroom::relay
