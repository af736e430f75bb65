// Request framing over picohttpparser, and responses written out.
#include "postroom/http/message.hpp"
#include "postroom/base/address.hpp"

#include <algorithm>
#include <charconv>

// picohttpparser's API as libh2o exports it: Debian's libh2o-dev ships the symbols but not
// the header (h2o builds it from its own deps/ folder). This declaration is picohttpparser's
// unchanged since 2014 (h2o 2.2.5 included).
extern "C" {
struct phr_header {
  const char* name;
  size_t name_len;
  const char* value;
  size_t value_len;
};
int phr_parse_request(const char* buf, size_t len, const char** method, size_t* method_len,
                      const char** path, size_t* path_len, int* minor_version,
                      struct phr_header* headers, size_t* num_headers, size_t last_len);
}

namespace postroom::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && to_lower_ascii(a) == to_lower_ascii(b);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string form_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 &&
               hex_digit(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

Response fatal(int status, std::string text) {
  Response r = text_response(status, std::move(text) + "\n");
  r.close = true;
  return r;
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    std::size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    std::size_t eq = pair.find('=');
    if (form_decode(pair.substr(0, eq)) != name) continue;
    return eq == std::string_view::npos ? std::string() : form_decode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

Response text_response(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::string Response::serialize(bool head_only) const {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason(status) + "\r\n";
  out += "Content-Type: " + content_type + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head_only) out += body;
  return out;
}

void RequestReader::feed(std::string_view bytes) {
  // Never hold more than one whole request could need: past that next() refuses anyway.
  std::size_t cap = limits_.max_header_bytes + limits_.max_body_bytes + 1;
  if (buffer_.size() >= cap) return;
  buffer_.append(bytes.substr(0, cap - buffer_.size()));
}

RequestReader::Outcome RequestReader::next() {
  Outcome out;
  if (failed_ || buffer_.empty()) return out;
  const char* method = nullptr;
  const char* target = nullptr;
  std::size_t method_len = 0, target_len = 0, num_headers = limits_.max_headers;
  int minor = 0;
  std::vector<phr_header> fields(limits_.max_headers);
  std::size_t window = std::min(buffer_.size(), limits_.max_header_bytes);
  int parsed = phr_parse_request(buffer_.data(), window, &method, &method_len, &target, &target_len,
                                 &minor, fields.data(), &num_headers, 0);
  auto fail_with = [&](int status, std::string text) {
    failed_ = true;
    out.kind = Outcome::Kind::error;
    out.error = fatal(status, std::move(text));
    return out;
  };
  if (parsed == -2) {
    // Incomplete: more may come, unless the header section already fills its whole budget
    // (or the parser ran out of field slots, which it also reports as -1 below).
    if (window >= limits_.max_header_bytes)
      return fail_with(431, "request header section larger than " +
                                std::to_string(limits_.max_header_bytes) + " bytes");
    return out;
  }
  if (parsed == -1) {
    if (num_headers >= limits_.max_headers) return fail_with(431, "too many header fields");
    return fail_with(400, "malformed request");
  }
  Request request;
  request.method.assign(method, method_len);
  std::string_view full(target, target_len);
  std::size_t q = full.find('?');
  request.path = std::string(full.substr(0, q));
  if (q != std::string_view::npos) request.query = std::string(full.substr(q + 1));
  request.minor_version = minor;
  std::optional<std::size_t> length;
  bool hosts = false;
  for (std::size_t i = 0; i < num_headers; ++i) {
    // A null name is a continuation line (obsolete folding, RFC 9112 §5.2): refused.
    if (!fields[i].name) return fail_with(400, "folded header field");
    std::string name = to_lower_ascii({fields[i].name, fields[i].name_len});
    std::string value(fields[i].value, fields[i].value_len);
    if (name == "content-length") {
      std::size_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || value.empty() ||
          (length && *length != n))
        return fail_with(400, "bad Content-Length");
      length = n;
    } else if (name == "transfer-encoding") {
      // Only Content-Length bodies: nothing postroom serves needs a chunked upload, and
      // RFC 9112 §6.3 lets a server answer 411 to a body without a length.
      return fail_with(411, "chunked requests are not accepted; send Content-Length");
    } else if (name == "host") {
      if (hosts) return fail_with(400, "two Host fields");  // RFC 9112 §3.2
      hosts = true;
      std::string_view h = value;
      if (h.starts_with('[')) {
        h = h.substr(0, h.find(']') + 1);
      } else {
        h = h.substr(0, h.find(':'));
      }
      request.host = to_lower_ascii(h);
      if (!request.host.empty() && request.host.back() == '.') request.host.pop_back();
    }
    request.headers.emplace_back(std::move(name), std::move(value));
  }
  if (minor == 1 && !hosts) return fail_with(400, "missing Host");  // RFC 9112 §3.2
  std::size_t body = length.value_or(0);
  if (body > limits_.max_body_bytes)
    return fail_with(
        413, "request body larger than " + std::to_string(limits_.max_body_bytes) + " bytes");
  if (buffer_.size() < static_cast<std::size_t>(parsed) + body) return out;  // body to come
  request.body = buffer_.substr(static_cast<std::size_t>(parsed), body);
  auto connection = request.header("connection");
  if (minor == 0) {
    request.keep_alive = connection && iequals(*connection, "keep-alive");
  } else {
    request.keep_alive = !(connection && iequals(*connection, "close"));
  }
  buffer_.erase(0, static_cast<std::size_t>(parsed) + body);
  out.kind = Outcome::Kind::request;
  out.request = std::move(request);
  return out;
}

}  // namespace postroom::http
