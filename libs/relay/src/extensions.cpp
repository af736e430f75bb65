// Reads the EHLO keyword list into flags the client session consults.
#include "postroom/relay/extensions.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

namespace postroom::relay {

namespace {

std::string to_upper_ascii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// Splits on spaces, dropping empty words.
std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    std::size_t start = text.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    text.remove_prefix(start);
    std::size_t end = text.find(' ');
    out.push_back(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end);
  }
  return out;
}

}  // namespace

bool Extensions::offers_auth(std::string_view mechanism) const {
  return std::find(auth_mechanisms.begin(), auth_mechanisms.end(), mechanism) !=
         auth_mechanisms.end();
}

Extensions Extensions::parse(const Reply& ehlo_reply) {
  Extensions ext;
  for (std::size_t i = 1; i < ehlo_reply.lines.size(); ++i) {
    std::vector<std::string_view> parts = words(ehlo_reply.lines[i]);
    if (parts.empty()) continue;
    std::string keyword = to_upper_ascii(parts[0]);
    std::vector<std::string_view> params(parts.begin() + 1, parts.end());
    if (keyword.starts_with("AUTH=")) {  // "AUTH=LOGIN PLAIN": the first mechanism follows '='.
      params.insert(params.begin(), std::string_view(parts[0]).substr(5));
      keyword = "AUTH";
    }
    if (keyword == "PIPELINING") {
      ext.pipelining = true;
    } else if (keyword == "STARTTLS") {
      ext.starttls = true;
    } else if (keyword == "8BITMIME") {
      ext.eightbitmime = true;
    } else if (keyword == "SMTPUTF8") {
      ext.smtputf8 = true;
    } else if (keyword == "SIZE") {
      std::uint64_t limit = 0;  // RFC 1870 §4: the parameter is optional.
      if (!params.empty()) {
        auto [ptr, ec] =
            std::from_chars(params[0].data(), params[0].data() + params[0].size(), limit);
        if (ec != std::errc{} || ptr != params[0].data() + params[0].size()) limit = 0;
      }
      ext.size = limit;
    } else if (keyword == "AUTH") {
      for (std::string_view mechanism : params) {
        std::string upper = to_upper_ascii(mechanism);
        if (!upper.empty() && !ext.offers_auth(upper)) ext.auth_mechanisms.push_back(upper);
      }
    }
  }
  return ext;
}

}  // namespace postroom::relay
