// A small blocking POP3 client over a socket and OpenSSL: enough to copy a mailbox.
#include "pop3_client.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "postroom/pop3/client_protocol.hpp"

namespace postroom::cli {

namespace {

// RFC 2449 §4: a reply line is at most 512 octets; listing lines are shorter. Allow a
// generous margin for servers that send long greetings, and no more.
constexpr std::size_t kMaxLine = 8192;
// A server that stops answering fails the import instead of hanging it.
constexpr int kTimeoutSeconds = 120;

}  // namespace

Result<std::pair<std::string, std::uint16_t>> parse_host_port(std::string_view text,
                                                              std::uint16_t default_port) {
  std::string_view host = text, port_text;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail("bad --host " + std::string(text));
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':')) return fail("bad --host " + std::string(text));
      port_text = rest.substr(1);
    }
  } else if (auto colon = text.rfind(':');
             colon != std::string_view::npos && text.find(':') == colon) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (host.empty()) return fail("bad --host " + std::string(text));
  std::uint16_t port = default_port;
  if (!port_text.empty()) {
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0)
      return fail("bad port in --host " + std::string(text));
  }
  return std::pair{std::string(host), port};
}

Result<std::unique_ptr<Pop3Client>> Pop3Client::connect(const Pop3Options& options) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string port = std::to_string(options.port);
  if (int rc = ::getaddrinfo(options.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return fail("cannot resolve " + options.host + ": " + gai_strerror(rc));
  std::string last_error = "no address";
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    timeval timeout{kTimeoutSeconds, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0)
    return fail("cannot connect to " + options.host + " port " + port + ": " + last_error);
  std::unique_ptr<Pop3Client> client(new Pop3Client(fd));
  if (options.tls == Pop3Options::Tls::implicit) {
    if (auto r = client->start_tls(options); !r) return std::unexpected(r.error());
  }
  auto greeting = client->read_line();
  if (!greeting) return std::unexpected(greeting.error());
  auto status = pop3::parse_status_line(*greeting);
  if (!status || !status->ok) return fail("the server's greeting is not +OK: " + *greeting);
  if (options.tls == Pop3Options::Tls::starttls) {
    // RFC 2595 §4: STLS, then the handshake; nothing read before it is trusted after.
    if (auto r = client->command("STLS", "STLS"); !r) return std::unexpected(r.error());
    if (!client->in_.empty()) return fail("the server sent data after its STLS reply");
    if (auto r = client->start_tls(options); !r) return std::unexpected(r.error());
  }
  return client;
}

Pop3Client::~Pop3Client() {
  if (ssl_) SSL_free(ssl_);
  if (fd_ >= 0) ::close(fd_);
}

Result<void> Pop3Client::start_tls(const Pop3Options& options) {
  std::optional<std::filesystem::path> ca_file;
  if (options.ca_file) ca_file = *options.ca_file;
  auto context = net::TlsContext::client(options.verify, ca_file);
  if (!context)
    return fail("cannot load the CA certificates" +
                (options.ca_file ? " from " + *options.ca_file : std::string()) + " (" +
                context.error().message + ")");
  context_ = *context;
  ssl_ = SSL_new(context_->get());
  if (!ssl_) return fail(net::openssl_error("TLS"));
  in6_addr ip{};
  bool is_ip = ::inet_pton(AF_INET, options.host.c_str(), &ip) == 1 ||
               ::inet_pton(AF_INET6, options.host.c_str(), &ip) == 1;
  if (!is_ip) SSL_set_tlsext_host_name(ssl_, options.host.c_str());
  if (options.verify) {
    // The certificate must name the host we were told to connect to.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, options.host.c_str())
                   : X509_VERIFY_PARAM_set1_host(param, options.host.c_str(), 0);
    if (ok != 1) return fail(net::openssl_error("TLS"));
  }
  SSL_set_fd(ssl_, fd_);
  if (SSL_connect(ssl_) != 1) {
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK)
      return fail(std::string("the server's certificate is not trusted: ") +
                  X509_verify_cert_error_string(verify) +
                  " (--ca-file names the CA; --insecure skips the check)");
    return fail(net::openssl_error("TLS handshake with " + options.host + " failed"));
  }
  return {};
}

Result<std::size_t> Pop3Client::read_some() {
  char buffer[64 * 1024];
  while (true) {
    long n;
    if (ssl_) {
      n = SSL_read(ssl_, buffer, sizeof buffer);
      if (n <= 0) {
        int error = SSL_get_error(ssl_, static_cast<int>(n));
        if (error == SSL_ERROR_ZERO_RETURN) return fail("the server closed the connection");
        if (error == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
          return fail("the server did not answer for " + std::to_string(kTimeoutSeconds) + " s");
        return fail(net::openssl_error("TLS read"));
      }
    } else {
      n = ::read(fd_, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return fail("the server did not answer for " + std::to_string(kTimeoutSeconds) + " s");
      if (n < 0) return fail(std::string("read: ") + std::strerror(errno));
      if (n == 0) return fail("the server closed the connection");
    }
    in_.append(buffer, static_cast<std::size_t>(n));
    return static_cast<std::size_t>(n);
  }
}

Result<void> Pop3Client::send_line(std::string_view line) {
  std::string out = std::string(line) + "\r\n";
  std::size_t sent = 0;
  while (sent < out.size()) {
    long n = ssl_ ? SSL_write(ssl_, out.data() + sent, static_cast<int>(out.size() - sent))
                  : ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      if (!ssl_ && n < 0 && errno == EINTR) continue;
      return fail(ssl_ ? net::openssl_error("TLS write")
                       : std::string("send: ") + std::strerror(errno));
    }
    sent += static_cast<std::size_t>(n);
  }
  return {};
}

Result<std::string> Pop3Client::read_line() {
  while (true) {
    auto end = in_.find('\n');
    if (end != std::string::npos) {
      std::string line = in_.substr(0, end);
      in_.erase(0, end + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    if (in_.size() > kMaxLine) return fail("the server sent a line longer than 8 KiB");
    if (auto r = read_some(); !r) return std::unexpected(r.error());
  }
}

// Sends one command and reads its status line; `shown` is what an error may repeat (never
// a password).
Result<std::string> Pop3Client::command(std::string_view line, std::string_view shown) {
  if (auto r = send_line(line); !r) return std::unexpected(r.error());
  auto reply = read_line();
  if (!reply) return std::unexpected(reply.error());
  auto status = pop3::parse_status_line(*reply);
  if (!status) return fail(std::string(shown) + ": the server's reply is not POP3: " + *reply);
  if (!status->ok) return fail(std::string(shown) + " refused: -ERR " + std::string(status->text));
  return std::string(status->text);
}

Result<std::vector<std::string>> Pop3Client::multiline(std::string_view line) {
  if (auto r = command(line, line); !r) return std::unexpected(r.error());
  std::vector<std::string> lines;
  while (true) {
    auto next = read_line();
    if (!next) return std::unexpected(next.error());
    if (*next == ".") return lines;
    if (next->starts_with('.')) next->erase(0, 1);
    lines.push_back(std::move(*next));
  }
}

Result<void> Pop3Client::login(const std::string& user, const std::string& password) {
  if (auto r = command("USER " + user, "USER"); !r) return std::unexpected(r.error());
  if (auto r = command("PASS " + password, "PASS"); !r) return std::unexpected(r.error());
  return {};
}

Result<std::vector<RemoteMessage>> Pop3Client::list() {
  auto uidls = multiline("UIDL");
  if (!uidls)
    return fail(uidls.error().message +
                " (the old server must support UIDL for its UIDLs to be kept)");
  auto sizes = multiline("LIST");
  if (!sizes) return std::unexpected(sizes.error());
  std::vector<RemoteMessage> out;
  for (const auto& line : *uidls) {
    auto parsed = pop3::parse_listing_line(line);
    if (!parsed) return fail("cannot read the server's UIDL line: " + line);
    if (!pop3::valid_uidl(parsed->token))
      return fail("the server's UIDL for message " + std::to_string(parsed->number) +
                  " is not a valid unique-id (RFC 1939 §7): " + std::string(parsed->token));
    out.push_back({parsed->number, std::string(parsed->token), 0});
  }
  std::vector<std::uint64_t> by_number;
  for (const auto& line : *sizes) {
    auto parsed = pop3::parse_listing_line(line);
    std::uint64_t size = 0;
    if (!parsed) return fail("cannot read the server's LIST line: " + line);
    auto token = parsed->token;
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), size);
    if (ec != std::errc() || end != token.data() + token.size())
      return fail("cannot read the server's LIST line: " + line);
    if (by_number.size() <= parsed->number) by_number.resize(parsed->number + 1);
    by_number[parsed->number] = size;
  }
  for (auto& message : out)
    if (message.number < by_number.size()) message.size = by_number[message.number];
  return out;
}

Result<void> Pop3Client::retrieve(std::uint32_t number,
                                  const std::function<Result<void>(std::string_view)>& each) {
  std::string line = "RETR " + std::to_string(number);
  if (auto r = command(line, line); !r) return std::unexpected(r.error());
  pop3::TransferDecoder decoder;
  std::string out;
  while (true) {
    std::size_t used = decoder.decode(in_, out);
    in_.erase(0, used);
    if (!out.empty()) {
      if (auto r = each(out); !r) return r;
      out.clear();
    }
    if (decoder.done()) return {};
    if (auto r = read_some(); !r) return std::unexpected(r.error());
  }
}

Result<void> Pop3Client::quit() {
  if (auto r = command("QUIT", "QUIT"); !r) return std::unexpected(r.error());
  return {};
}

}  // namespace postroom::cli
