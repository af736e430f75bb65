// The Authentication-Results header field (RFC 8601): written for the checks this server
// made, and read just enough to find the authserv-id of a field that arrived with the
// message (a forged one claiming this host is removed, §5).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postroom::mailauth {

class AuthResults {
 public:
  explicit AuthResults(std::string authserv_id) : authserv_id_(std::move(authserv_id)) {}

  // One resinfo: "method=result (comment) ptype.property=value ...". The comment is
  // optional; properties are {"smtp.mailfrom", "alice@example.org"} and the like.
  void add(std::string method, std::string result, std::string comment,
           std::vector<std::pair<std::string, std::string>> properties);

  // The field value without "Authentication-Results:" and without its leading space, one
  // resinfo per folded line; "authserv-id; none" when nothing was added (§2.2).
  std::string value() const;

 private:
  struct Entry {
    std::string method, result, comment;
    std::vector<std::pair<std::string, std::string>> properties;
  };
  std::string authserv_id_;
  std::vector<Entry> entries_;
};

// The authserv-id of an Authentication-Results value (comments and folding skipped), or ""
// when the value does not start with one.
std::string authserv_id_of(std::string_view value);

}  // namespace postroom::mailauth
