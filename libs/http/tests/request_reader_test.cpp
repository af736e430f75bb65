// Request framing: whole, byte by byte, pipelined, and every limit.
#include <doctest/doctest.h>

#include "postroom/http/message.hpp"

using postroom::http::RequestReader;
using Kind = RequestReader::Outcome::Kind;

namespace {

// Feeds `bytes` in pieces of `step` and collects every outcome that is not incomplete.
std::vector<RequestReader::Outcome> run(std::string_view bytes, std::size_t step,
                                        postroom::http::Limits limits = {}) {
  RequestReader reader(limits);
  std::vector<RequestReader::Outcome> out;
  for (std::size_t i = 0; i < bytes.size(); i += step) {
    reader.feed(bytes.substr(i, step));
    for (;;) {
      auto o = reader.next();
      if (o.kind == Kind::incomplete) break;
      out.push_back(std::move(o));
      if (out.back().kind == Kind::error) return out;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("http: a GET with a query, fed whole and byte by byte") {
  std::string text =
      "GET /.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40Example.test "
      "HTTP/1.1\r\nHost: Example.TEST:8080\r\nUser-Agent: x\r\n\r\n";
  for (std::size_t step : {text.size(), std::size_t{1}, std::size_t{7}}) {
    auto out = run(text, step);
    REQUIRE(out.size() == 1);
    REQUIRE(out[0].kind == Kind::request);
    const auto& r = out[0].request;
    CHECK(r.method == "GET");
    CHECK(r.path == "/.well-known/autoconfig/mail/config-v1.1.xml");
    CHECK(r.host == "example.test");
    CHECK(r.query_param("emailaddress") == "alice@Example.test");
    CHECK_FALSE(r.query_param("other"));
    CHECK(r.keep_alive);
    CHECK(r.header("user-agent") == "x");
  }
}

TEST_CASE("http: a POST body by Content-Length, and a pipelined second request") {
  std::string text =
      "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"
      "hello"
      "GET /healthz HTTP/1.0\r\n\r\n";
  for (std::size_t step : {text.size(), std::size_t{1}}) {
    auto out = run(text, step);
    REQUIRE(out.size() == 2);
    CHECK(out[0].request.body == "hello");
    CHECK(out[1].request.path == "/healthz");
    CHECK_FALSE(out[1].request.keep_alive);  // HTTP/1.0 without keep-alive
  }
}

TEST_CASE("http: a header section over the limit is 431, a body over it 413") {
  postroom::http::Limits limits;
  limits.max_header_bytes = 256;
  limits.max_body_bytes = 10;
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'y') + "\r\n\r\n";
  for (std::size_t step : {big.size(), std::size_t{1}}) {
    auto out = run(big, step, limits);
    REQUIRE(out.size() == 1);
    CHECK(out[0].error.status == 431);
    CHECK(out[0].error.close);
  }
  auto body = run("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", 1, limits);
  REQUIRE(body.size() == 1);
  CHECK(body[0].error.status == 413);
}

TEST_CASE("http: too many fields is 431; malformed, unframed or hostless requests are refused") {
  postroom::http::Limits limits;
  limits.max_headers = 3;
  std::string many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  CHECK(run(many, many.size(), limits).at(0).error.status == 431);
  CHECK(run("GARBAGE\r\n\r\n", 100).at(0).error.status == 400);
  CHECK(run("GET / HTTP/1.1\r\n\r\n", 100).at(0).error.status == 400);
  CHECK(run("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 100)
            .at(0)
            .error.status == 411);
  CHECK(run("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 100).at(0).error.status ==
        400);
}

TEST_CASE("http: responses carry their length, and HEAD leaves the body out") {
  auto r = postroom::http::text_response(404, "not found\n");
  r.close = true;
  std::string wire = r.serialize(false);
  CHECK(wire.starts_with("HTTP/1.1 404 Not Found\r\n"));
  CHECK(wire.find("Content-Length: 10\r\n") != std::string::npos);
  CHECK(wire.find("Connection: close\r\n") != std::string::npos);
  CHECK(wire.ends_with("\r\n\r\nnot found\n"));
  CHECK(r.serialize(true).ends_with("\r\n\r\n"));
}
