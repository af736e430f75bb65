// A small blocking POP3 client for `postroom import pop3`: it reads an old server's
// mailbox (UIDL, LIST, RETR) and never sends DELE, so the old server keeps every message.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/net/tls.hpp"

namespace postroom::cli {

struct Pop3Options {
  enum class Tls { none, implicit, starttls };
  std::string host;
  std::uint16_t port = 110;
  Tls tls = Tls::none;
  std::optional<std::string> ca_file;  // default: the system's CAs
  bool verify = true;                  // false only with --insecure
};

// One message of the old mailbox: its number in this session, UIDL and LIST size.
struct RemoteMessage {
  std::uint32_t number = 0;
  std::string uidl;
  std::uint64_t size = 0;
};

class Pop3Client {
 public:
  // Connects, reads the greeting and, when asked, starts TLS (verified unless told not to).
  static Result<std::unique_ptr<Pop3Client>> connect(const Pop3Options& options);
  ~Pop3Client();
  Pop3Client(const Pop3Client&) = delete;
  Pop3Client& operator=(const Pop3Client&) = delete;

  Result<void> login(const std::string& user, const std::string& password);
  // UIDL and LIST together, in message-number order. Fails when the server has no UIDL.
  Result<std::vector<RemoteMessage>> list();
  // RETR: the message's octets as the server holds them (dot-stuffing undone, CRLF kept),
  // handed to `each` piece by piece.
  Result<void> retrieve(std::uint32_t number,
                        const std::function<Result<void>(std::string_view)>& each);
  // QUIT: with no DELE sent, the UPDATE state removes nothing (RFC 1939 §6).
  Result<void> quit();

 private:
  explicit Pop3Client(int fd) : fd_(fd) {}
  Result<void> start_tls(const Pop3Options& options);
  Result<void> send_line(std::string_view line);
  Result<std::string> read_line();
  Result<std::string> command(std::string_view line, std::string_view shown);
  Result<std::vector<std::string>> multiline(std::string_view line);
  Result<std::size_t> read_some();

  int fd_ = -1;
  std::shared_ptr<net::TlsContext> context_;
  SSL* ssl_ = nullptr;
  std::string in_;  // received and not yet used
};

// "HOST", "HOST:PORT", "[V6]:PORT" into host and port (`default_port` when none is given).
Result<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view text,
                                                              std::uint16_t default_port);

}  // namespace postroom::cli
