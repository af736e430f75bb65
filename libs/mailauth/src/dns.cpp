// The per-message DNS answer cache behind every check.
#include "postroom/mailauth/dns.hpp"

#include "text.hpp"

namespace postroom::mailauth {

const char* dns_type_name(DnsType type) {
  switch (type) {
    case DnsType::a:
      return "A";
    case DnsType::aaaa:
      return "AAAA";
    case DnsType::txt:
      return "TXT";
    case DnsType::mx:
      return "MX";
    case DnsType::ptr:
      return "PTR";
  }
  return "?";
}

std::optional<DnsAnswer> DnsCache::lookup(DnsType type, const std::string& name) {
  auto key = std::make_pair(type, lower(name));
  auto it = answers_.find(key);
  if (it != answers_.end()) return it->second;
  missing_.insert(std::move(key));
  return std::nullopt;
}

void DnsCache::put(DnsType type, const std::string& name, DnsAnswer answer) {
  auto key = std::make_pair(type, lower(name));
  missing_.erase(key);
  answers_[std::move(key)] = std::move(answer);
}

std::vector<std::pair<DnsType, std::string>> DnsCache::take_missing() {
  std::vector<std::pair<DnsType, std::string>> out(missing_.begin(), missing_.end());
  missing_.clear();
  return out;
}

}  // namespace postroom::mailauth
