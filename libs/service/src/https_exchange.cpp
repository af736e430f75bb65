// libcurl's easy interface, set up the same way for every fetch postroom makes.
#include "https_exchange.hpp"

#include <curl/curl.h>

#include <cctype>
#include <memory>
#include <mutex>

namespace postroom::service {

namespace {

struct Transfer {
  HttpsResponse response;
  std::size_t max_body = 0;
  bool too_long = false;
};

std::size_t collect_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t n = size * count;
  if (t->response.body.size() + n > t->max_body) {
    t->too_long = true;
    return 0;  // less than given aborts the transfer
  }
  t->response.body.append(data, n);
  return n;
}

std::size_t collect_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  auto colon = line.find(':');
  // The status line and the blank line end have no colon; a folded line is not kept.
  if (colon == std::string_view::npos || colon == 0 || line.front() == ' ' || line.front() == '\t')
    return size * count;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  if (t->response.headers.size() < 100) t->response.headers.emplace_back(name, value);
  return size * count;
}

struct CurlCleanup {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct ListCleanup {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

std::string_view HttpsResponse::header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it)
    if (it->first == name) return it->second;
  return {};
}

HttpsResponse https_exchange(const HttpsRequest& request) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  Transfer t;
  t.max_body = request.max_body;
  std::unique_ptr<CURL, CurlCleanup> curl(curl_easy_init());
  if (!curl) {
    t.response.error = "cannot start libcurl";
    return t.response;
  }
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, request.timeout_seconds);
  // Signals belong to the daemon's loop; libcurl must not use SIGALRM on a pool thread.
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, request.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  if (request.ca_file) {
    // The extra CA and the system's: curl with OpenSSL loads both.
    curl_easy_setopt(c, CURLOPT_CAINFO, request.ca_file->c_str());
    curl_easy_setopt(c, CURLOPT_CAPATH, "/etc/ssl/certs");
  }
  std::unique_ptr<curl_slist, ListCleanup> resolve;
  for (const auto& entry : request.resolve)
    resolve.reset(curl_slist_append(resolve.release(), entry.c_str()));
  if (resolve) curl_easy_setopt(c, CURLOPT_RESOLVE, resolve.get());
  std::unique_ptr<curl_slist, ListCleanup> headers;
  std::string content_type = "Content-Type: " + request.content_type;
  if (request.method == HttpsRequest::Method::head) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method == HttpsRequest::Method::post) {
    if (!request.content_type.empty()) {
      headers.reset(curl_slist_append(nullptr, content_type.c_str()));
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    }
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.c_str());
  }
  CURLcode code = curl_easy_perform(c);
  if (code != CURLE_OK) {
    t.response = {};
    t.response.error =
        request.url + ": " +
        (t.too_long ? "the answer is longer than " + std::to_string(request.max_body) + " bytes"
                    : std::string(curl_easy_strerror(code)));
    return t.response;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.response.status);
  return t.response;
}

}  // namespace postroom::service
