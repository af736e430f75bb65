// MX ordering: sort by preference, shuffle ties, recognise null MX and the implicit MX.
#include "postroom/relay/mx.hpp"

#include <algorithm>
#include <utility>

namespace postroom::relay {

namespace {

std::string strip_root(std::string host) {
  if (!host.empty() && host.back() == '.') host.pop_back();
  return host;
}

}  // namespace

std::expected<std::vector<std::string>, MxFailure> order_mx_hosts(std::string_view domain,
                                                                  std::vector<MxRecord> records,
                                                                  const RandomIndex& random_index) {
  for (MxRecord& record : records) record.host = strip_root(std::move(record.host));
  if (records.empty()) return std::vector<std::string>{strip_root(std::string(domain))};
  // RFC 7505 §3: "." means the domain accepts no mail.
  if (records.size() == 1 && records[0].host.empty()) {
    return std::unexpected(MxFailure{true, std::string(kNullMxText)});
  }
  std::erase_if(records, [](const MxRecord& record) { return record.host.empty(); });
  std::stable_sort(records.begin(), records.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference < b.preference;
  });
  // Fisher-Yates within each run of equal preference.
  for (std::size_t begin = 0; begin < records.size();) {
    std::size_t end = begin;
    while (end < records.size() && records[end].preference == records[begin].preference) ++end;
    for (std::size_t i = end - begin; i > 1; --i) {
      std::size_t j = random_index(i);
      std::swap(records[begin + i - 1], records[begin + std::min(j, i - 1)]);
    }
    begin = end;
  }
  std::vector<std::string> hosts;
  hosts.reserve(records.size());
  for (const MxRecord& record : records) {
    bool seen = std::any_of(hosts.begin(), hosts.end(), [&](const std::string& host) {
      return host.size() == record.host.size() &&
             std::equal(host.begin(), host.end(), record.host.begin(), [](char a, char b) {
               auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
               return lower(a) == lower(b);
             });
    });
    if (!seen) hosts.push_back(record.host);
  }
  return hosts;
}

}  // namespace postroom::relay
