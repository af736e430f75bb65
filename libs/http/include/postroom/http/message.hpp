// HTTP/1.1 requests and responses as values, and the reader that frames requests from bytes.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postroom::http {

struct Request {
  std::string method;
  std::string path;   // the target without its query, still percent-encoded
  std::string query;  // after '?', raw; empty when none
  std::string host;   // Host without its port, lower-case
  int minor_version = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  bool keep_alive = true;

  // The first field of that (lower-case) name, or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
  // One query parameter, percent-decoded (application/x-www-form-urlencoded), or nullopt.
  std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields
  bool close = false;  // the connection closes after this response

  // The whole response as it goes on the wire; a HEAD request gets the fields only.
  std::string serialize(bool head_only) const;
};

Response text_response(int status, std::string body);

// Limits on what one request may hold; the defaults are generous for the few small
// documents postroom serves (an Autodiscover POST is under 1 KiB).
struct Limits {
  std::size_t max_header_bytes = 16 * 1024;  // request line and fields: else 431 (RFC 6585 §5)
  std::size_t max_body_bytes = 64 * 1024;    // else 413 (RFC 9110 §15.5.14)
  std::size_t max_headers = 64;              // fields: else 431
};

// Frames requests out of a byte stream with picohttpparser (the parser h2o ships in libh2o).
// Bytes go in with feed(); next() then gives a whole request, nothing yet, or an error
// response after which the connection must close (the stream cannot be resynchronized).
class RequestReader {
 public:
  explicit RequestReader(Limits limits = {}) : limits_(limits) {}

  struct Outcome {
    enum class Kind { incomplete, request, error } kind = Kind::incomplete;
    Request request;
    Response error;
  };
  void feed(std::string_view bytes);
  Outcome next();
  // Bytes buffered and not yet part of a returned request.
  std::size_t buffered() const { return buffer_.size(); }
  // True while a request has begun arriving (the request timer should run).
  bool mid_request() const { return !buffer_.empty(); }

 private:
  Limits limits_;
  std::string buffer_;
  bool failed_ = false;
};

}  // namespace postroom::http
