// DKIM relaxed canonicalization (what the signer uses, and the verifier for c=relaxed) against RFC
// 6376 §3.4.5's example and the rules of §3.4.2 and §3.4.4, each body fed whole, in chunks and byte
// by byte.
#include "postroom/mailauth/dkim_canon.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace postroom::mailauth;

namespace {

std::string relaxed_header(std::string_view name, std::string_view value) {
  return canonical_header(name, value, Canon::relaxed);
}

std::string canonical_body(std::string_view body, std::size_t chunk) {
  std::string out;
  BodyCanonicalizer canon(Canon::relaxed, -1, [&out](std::string_view piece) { out += piece; });
  if (chunk == 0) chunk = body.size() + 1;
  for (std::size_t pos = 0; pos < body.size(); pos += chunk) canon.feed(body.substr(pos, chunk));
  canon.finish();
  return out;
}

}  // namespace

TEST_CASE("dkim relaxed canon: RFC 6376 §3.4.5 example header fields, relaxed") {
  // "A: X" and "B : Y<TAB><CRLF><TAB>Z  " become "a:X" and "b:Y Z".
  CHECK(relaxed_header("A", " X") == "a:X\r\n");
  CHECK(relaxed_header("B ", " Y\t\r\n\tZ  ") == "b:Y Z\r\n");
}

TEST_CASE("dkim relaxed canon: header values are unfolded, whitespace runs become one space") {
  CHECK(relaxed_header("Subject", "   Hello \t  world\t") == "subject:Hello world\r\n");
  CHECK(relaxed_header("To", " a@b,\r\n  c@d") == "to:a@b, c@d\r\n");
  CHECK(relaxed_header("X", "a\n b") == "x:a b\r\n");  // a bare LF fold too
  CHECK(relaxed_header("Empty", "") == "empty:\r\n");
  CHECK(relaxed_header("Empty", "  \r\n ") == "empty:\r\n");
  CHECK(relaxed_header("UTF8", " Grüße") == "utf8:Grüße\r\n");  // 8-bit octets as they are
}

TEST_CASE("dkim relaxed canon: body cases, fed whole, in chunks and byte by byte") {
  struct Case {
    std::string in;
    std::string want;
  } cases[] = {
      // RFC 6376 §3.4.5.
      {" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n"},
      // Empty bodies, and bodies of empty lines only, are empty (§3.4.4).
      {"", ""},
      {"\r\n", ""},
      {"\r\n\r\n \t\r\n", ""},
      // A last line without a line end gets one.
      {"abc", "abc\r\n"},
      {"abc  ", "abc\r\n"},
      // Empty lines inside are kept, trailing ones dropped; whitespace-only lines are empty.
      {"a\r\n\r\n \r\nb\r\n\r\n", "a\r\n\r\n\r\nb\r\n"},
      // Leading whitespace is a run like any other: one space.
      {"\t\t x\r\n", " x\r\n"},
      // Dots are content (the body is given unstuffed); 8-bit octets pass unchanged.
      {".\r\n..x\r\n", ".\r\n..x\r\n"},
      {"Gr\xc3\xbc\xc3\x9f"
       "e \r\n",
       "Gr\xc3\xbc\xc3\x9f"
       "e\r\n"},
      // A bare LF ends a line like CRLF; a bare CR is content.
      {"a \nb\n", "a\r\nb\r\n"},
      {"a\rb\r\n", "a\rb\r\n"},
      {"a\r", "a\r\r\n"},
  };
  for (const auto& c : cases) {
    for (std::size_t chunk : {std::size_t{0}, std::size_t{3}, std::size_t{1}}) {
      CAPTURE(c.in);
      CAPTURE(chunk);
      CHECK(canonical_body(c.in, chunk) == c.want);
    }
  }
}

TEST_CASE("dkim relaxed canon: a long run of empty lines is counted, not buffered") {
  std::string body = "start\r\n";
  for (int i = 0; i < 100000; ++i) body += "\r\n";
  std::size_t largest = 0;
  BodyCanonicalizer canon(Canon::relaxed, -1, [&](std::string_view piece) {
    largest = std::max(largest, piece.size());
  });
  for (std::size_t pos = 0; pos < body.size(); pos += 4096)
    canon.feed(std::string_view(body).substr(pos, 4096));
  canon.finish();
  CHECK(largest <= 7);  // only "start\r\n" ever came out
  // With content after them the empty lines come out, in bounded pieces.
  BodyCanonicalizer ended(Canon::relaxed, -1, [&](std::string_view piece) {
    largest = std::max(largest, piece.size());
  });
  ended.feed(body + "end");
  ended.finish();
  CHECK(largest <= 64 * 1024 + 16);  // 64 KiB pieces, not 200 KB at once
  CHECK(canonical_body(body + "end", 4096) == "start\r\n" + [] {
    std::string s;
    for (int i = 0; i < 100000; ++i) s += "\r\n";
    return s;
  }() + "end\r\n");
}
