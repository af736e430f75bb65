// The DNS the mail authentication checks see: answers looked up by type and name, kept
// per message so an evaluation can be run again once the answers it waited for arrive.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace postroom::mailauth {

enum class DnsType { a, aaaa, txt, mx, ptr };

const char* dns_type_name(DnsType type);

// `no_data` (the name exists, no record of the type) and `not_found` (NXDOMAIN) are
// answers; `temporary` (timeout, SERVFAIL) is not, and gives temperror results.
enum class DnsStatus { ok, no_data, not_found, temporary };

struct DnsAnswer {
  DnsStatus status = DnsStatus::temporary;
  // TXT: each record's strings joined; A/AAAA: numeric addresses; MX: exchange host names
  // (preference does not matter to SPF); PTR: host names. No trailing dots.
  std::vector<std::string> records;
};

// What an evaluation asks. nullopt means "not known yet": the evaluation stops with a
// pending result and names what it needs, the caller looks it up and runs it again.
class DnsView {
 public:
  virtual ~DnsView() = default;
  virtual std::optional<DnsAnswer> lookup(DnsType type, const std::string& name) = 0;
};

// Answers gathered for one message. Names compare without regard to case.
class DnsCache final : public DnsView {
 public:
  std::optional<DnsAnswer> lookup(DnsType type, const std::string& name) override;
  void put(DnsType type, const std::string& name, DnsAnswer answer);
  // The lookups asked for since the last call that had no answer yet.
  std::vector<std::pair<DnsType, std::string>> take_missing();

 private:
  std::map<std::pair<DnsType, std::string>, DnsAnswer> answers_;
  std::set<std::pair<DnsType, std::string>> missing_;
};

}  // namespace postroom::mailauth
