// One blocking HTTPS exchange with libcurl, for the worker pools that fetch over the web (ACME,
// MTA-STS policies); never called on the loop. HTTPS only, no redirects, peer and name verified.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postroom::service {

struct HttpsRequest {
  enum class Method { get, head, post };
  Method method = Method::get;
  std::string url;
  std::string body;          // post
  std::string content_type;  // post
  std::string user_agent = "postroom";
  // Trusted beside the system's CAs (a test CA, a private ACME server).
  std::optional<std::filesystem::path> ca_file;
  // libcurl's "host:port:address" overrides of DNS.
  std::vector<std::string> resolve;
  long timeout_seconds = 30;
  // A longer answer is not what was asked for; the exchange fails with that reason.
  std::size_t max_body = 1 << 20;
};

struct HttpsResponse {
  std::string error;  // not empty: no answer, and why (with the URL)
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case

  // The value of the last header of that (lower-case) name, or empty.
  std::string_view header(std::string_view name) const;
};

HttpsResponse https_exchange(const HttpsRequest& request);

}  // namespace postroom::service
