// The sendmail command (`sendmail` or `postroom sendmail`) for cron, scripts and PHP's mail():
// it reads one message on stdin and submits it by SMTP to the local postroomd's smtp listener,
// which does everything else (aliases, local delivery, DKIM, the relay queue). Exit codes
// follow sysexits.h.
#include <pwd.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include <netdb.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cli.hpp"
#include "postroom/base/address.hpp"
#include "postroom/base/address_list.hpp"
#include "postroom/base/endpoint.hpp"
#include "postroom/base/file.hpp"
#include "postroom/base/header_section.hpp"
#include "postroom/system/daemon_status.hpp"

namespace postroom::cli {

namespace {

// A header section held in memory to find -t's recipients; the daemon's own limit.
constexpr std::size_t kMaxHeaderBytes = 256 * 1024;
// SMTP timeouts: generous, as RFC 5321 §4.5.3.2 asks of a client.
constexpr int kTimeoutSeconds = 300;

struct Outcome {
  int exit = EX_OK;
  std::string message;
};

Outcome problem(int exit, std::string message) {
  return {exit, std::move(message)};
}

int report(const Outcome& outcome) {
  if (outcome.exit != EX_OK) std::cerr << "sendmail: " << outcome.message << "\n";
  return outcome.exit;
}

struct Options {
  std::optional<std::string> config;  // --config / -C
  bool extract = false;               // -t
  bool dot_ends = true;               // cleared by -i / -oi
  bool verbose = false;               // -v: the SMTP dialog on stderr
  std::optional<std::string> sender;  // -f / -r; "" is the null sender
  std::string full_name;              // -F
  std::vector<std::string> recipients;
};

// getopt-style: "-ti", "-fuser@x", "-f user@x", "--" ends the options.
std::optional<Outcome> parse_options(const std::vector<std::string>& args, Options& o) {
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-') {
      o.recipients.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    if (a == "--config" || a.starts_with("--config=")) {
      if (a == "--config" && i + 1 >= args.size())
        return problem(EX_USAGE, "--config needs a PATH");
      o.config = a == "--config" ? args[++i] : a.substr(9);
      continue;
    }
    for (std::size_t k = 1; k < a.size(); ++k) {
      char flag = a[k];
      if (flag == 't' || flag == 'i' || flag == 'v' || flag == 'U' || flag == 'm') {
        // -U (initial submission) and -m (me too) change nothing here.
        if (flag == 't') o.extract = true;
        if (flag == 'i') o.dot_ends = false;
        if (flag == 'v') o.verbose = true;
        continue;
      }
      std::string value;
      if (k + 1 < a.size()) {
        value = a.substr(k + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return problem(EX_USAGE, std::string("option -") + flag + " needs a value");
      }
      switch (flag) {
        case 'f':
        case 'r':
          if (value.size() >= 2 && value.front() == '<' && value.back() == '>')
            value = value.substr(1, value.size() - 2);
          o.sender = value;
          break;
        case 'F':
          o.full_name = value;
          break;
        case 'C':
          o.config = value;
          break;
        case 'o':
          // -oi is -i; -oem, -odb and the other sendmail.cf options mean nothing here.
          if (value == "i") o.dot_ends = false;
          break;
        case 'b':
          if (value == "m") break;  // deliver mail: the default
          return problem(EX_USAGE, "-b" + value + " is not supported (only -bm, the default)");
        case 'B':  // body type: 8BITMIME is always declared when the daemon offers it
        case 'N':  // DSN notify
        case 'R':  // DSN return
        case 'V':  // envelope id
        case 'X':  // log file
        case 'h':  // hop count
        case 'q':  // queue run interval
        case 'O':
          break;
        default:
          return problem(EX_USAGE, std::string("unknown option -") + flag);
      }
      break;  // the value took the rest of this argument
    }
  }
  return std::nullopt;
}

std::string local_hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || !name[0]) return "localhost";
  return name;
}

std::string login_name() {
  if (passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_name) return pw->pw_name;
  return "uid" + std::to_string(::getuid());
}

// The domain for bare names and the default sender: the first of `domains`, else Debian's
// /etc/mailname, else the host's name.
std::string mail_domain(const std::optional<config::Config>& config) {
  if (config) return config->domains.front();
  if (auto text = read_small_file("/etc/mailname", 1024); text) {
    std::string line = text->substr(0, text->find('\n'));
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (!line.empty()) return line;
  }
  return local_hostname();
}

// Where to submit: the running daemon's first smtp listener (its real port, from the status
// file), else the config's; 127.0.0.1:25 only when the config could not be read. A wildcard
// address is reached on loopback.
Result<Endpoint> smtp_endpoint(const std::optional<config::Config>& config) {
  auto loopback = [](Endpoint e) {
    if (e.host == "0.0.0.0") e.host = "127.0.0.1";
    if (e.host == "::") e.host = "::1";
    return e;
  };
  if (config) {
    if (auto text = read_small_file(config->data_dir / system::kStatusFileName, 1 << 20)) {
      auto status = system::parse_status(*text);
      if (status && system::is_postroomd(status->pid))
        for (const auto& l : status->listeners)
          if (auto e = parse_endpoint(l.endpoint); l.name == "smtp" && e) return loopback(*e);
    }
    for (const auto& e : config->listen.smtp)
      if (e.port != 0) return loopback(e);
    if (config->listen.smtp.empty())
      return fail("the config has no smtp listener to submit to (listen.smtp)");
    return fail(
        "postroomd is not running (listen.smtp names port 0 and no daemon reports its "
        "real port)");
  }
  return Endpoint{"127.0.0.1", 25, false};
}

// Reads stdin line by line; without -i a line holding a single dot ends the message.
class Input {
 public:
  explicit Input(bool dot_ends) : dot_ends_(dot_ends) {}
  ~Input() { std::free(buffer_); }
  // The next line without its line end; false at the end of the message.
  bool next(std::string& line) {
    if (ended_) return false;
    ssize_t n = ::getline(&buffer_, &capacity_, stdin);
    if (n < 0) {
      ended_ = true;
      error_ = std::ferror(stdin) != 0;
      return false;
    }
    line.assign(buffer_, static_cast<std::size_t>(n));
    if (!line.empty() && line.back() == '\n') line.pop_back();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (dot_ends_ && line == ".") {
      ended_ = true;
      return false;
    }
    return true;
  }
  bool error() const { return error_; }

 private:
  bool dot_ends_;
  bool ended_ = false;
  bool error_ = false;
  char* buffer_ = nullptr;
  std::size_t capacity_ = 0;
};

bool is_field_line(const std::string& line) {
  auto colon = line.find(':');
  if (colon == 0 || colon == std::string::npos) return false;
  for (std::size_t i = 0; i < colon; ++i) {
    auto c = static_cast<unsigned char>(line[i]);
    if (c <= 32 || c >= 127) return false;  // RFC 5322 §2.2 ftext
  }
  return true;
}

std::string rfc5322_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S %z", &tm);
  return text;
}

std::string message_id(const std::string& host) {
  std::random_device random;
  char text[64];
  std::snprintf(text, sizeof text, "%lld.%08x%08x", static_cast<long long>(std::time(nullptr)),
                random(), random());
  return "<" + std::string(text) + "@" + host + ">";
}

// The SMTP side: a blocking client for one message to the local daemon.
class Link {
 public:
  explicit Link(bool verbose) : verbose_(verbose) {}
  ~Link() {
    if (fd_ >= 0) ::close(fd_);
  }
  Result<void> connect(const Endpoint& e) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    std::string port = std::to_string(e.port);
    if (int rc = ::getaddrinfo(e.host.c_str(), port.c_str(), &hints, &found); rc != 0)
      return fail(std::string(gai_strerror(rc)));
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> hold(found, freeaddrinfo);
    fd_ = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return fail(std::strerror(errno));
    timeval timeout{kTimeoutSeconds, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (::connect(fd_, found->ai_addr, found->ai_addrlen) != 0) return fail(std::strerror(errno));
    return {};
  }
  // Queues octets; written when 64 KiB are waiting or at flush().
  Result<void> send(std::string_view data) {
    out_.append(data);
    return out_.size() >= 64 * 1024 ? flush() : Result<void>{};
  }
  Result<void> command(const std::string& line) {
    if (verbose_) std::cerr << ">>> " << line << "\n";
    if (auto r = send(line + "\r\n"); !r) return r;
    return flush();
  }
  Result<void> flush() {
    std::string_view left = out_;
    while (!left.empty()) {
      ssize_t n = ::send(fd_, left.data(), left.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return fail(std::string("cannot write to postroomd: ") + std::strerror(errno));
      left.remove_prefix(static_cast<std::size_t>(n));
    }
    out_.clear();
    return {};
  }
  struct Reply {
    int code = 0;
    std::string text;  // the last line's text, after the code
    std::vector<std::string> lines;
  };
  Result<Reply> reply() {
    Reply r;
    while (true) {
      auto line = read_line();
      if (!line) return std::unexpected(line.error());
      if (verbose_) std::cerr << "<<< " << *line << "\n";
      if (line->size() < 3 || !std::isdigit(static_cast<unsigned char>((*line)[0])))
        return fail("postroomd sent a malformed reply: " + *line);
      r.lines.push_back(line->substr(std::min<std::size_t>(4, line->size())));
      if (line->size() == 3 || (*line)[3] != '-') {
        r.code = std::atoi(line->substr(0, 3).c_str());
        r.text = *line;
        return r;
      }
    }
  }

 private:
  Result<std::string> read_line() {
    while (true) {
      auto end = in_.find("\r\n");
      if (end != std::string::npos) {
        std::string line = in_.substr(0, end);
        in_.erase(0, end + 2);
        return line;
      }
      if (in_.size() > 64 * 1024) return fail("postroomd sent an over-long reply line");
      char buffer[4096];
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) return fail("postroomd closed the connection");
      if (n < 0) return fail(std::string("cannot read from postroomd: ") + std::strerror(errno));
      in_.append(buffer, static_cast<std::size_t>(n));
    }
  }

  bool verbose_;
  int fd_ = -1;
  std::string in_, out_;
};

// The sysexits code for a refusal. A 4xx may succeed later (EX_TEMPFAIL); a 5xx will not.
int exit_for(const Link::Reply& r, bool recipient) {
  if (r.code >= 400 && r.code < 500) return EX_TEMPFAIL;
  std::string enhanced = r.text.size() > 4 ? r.text.substr(4, 6) : "";
  if (enhanced.starts_with("5.1.1") || (recipient && (r.code == 550 || r.code == 551)))
    return EX_NOUSER;
  if (enhanced.starts_with("5.1.") || r.code == 501 || r.code == 553) return EX_DATAERR;
  if (enhanced.starts_with("5.7.")) return EX_NOPERM;
  return EX_UNAVAILABLE;
}

std::string lowered(const Address& a) {
  return a.str();
}

Outcome submit(const Options& options) {
  std::string path =
      config::default_path(options.config ? options.config->c_str() : nullptr).string();
  std::optional<config::Config> config;
  std::string config_problem;
  if (auto loaded = config::load(path)) {
    config = std::move(*loaded);
  } else {
    // An unprivileged user (www-data) may not read the config: fall back to defaults.
    config_problem = path + ": " + loaded.error().front().str();
    if (options.verbose) std::cerr << "sendmail: not using the config: " << config_problem << "\n";
  }
  std::string domain = mail_domain(config);
  std::string host = config ? config->hostname : local_hostname();
  std::string login = login_name();

  // A bare name ("root", as cron writes it) is a local user of the first domain.
  auto qualify = [&](std::string text) {
    if (text.find('@') == std::string::npos) text += "@" + domain;
    return text;
  };
  std::string sender;
  if (options.sender && options.sender->empty()) {
    sender = "";
  } else {
    std::string given = options.sender ? *options.sender : login;
    auto parsed = parse_address(qualify(given));
    if (!parsed)
      return problem(EX_DATAERR, "bad sender address '" + given + "': " + parsed.error().message);
    sender = lowered(*parsed);
  }

  std::vector<std::string> recipients;
  auto add_recipients = [&](std::string_view list,
                            const std::string& where) -> std::optional<Outcome> {
    auto addresses = address_list(list);
    if (!addresses)
      return problem(EX_DATAERR, "bad address list in " + where + ": " + addresses.error().message);
    for (const auto& text : *addresses) {
      auto parsed = parse_address(qualify(text));
      if (!parsed)
        return problem(EX_DATAERR,
                       "bad recipient address '" + text + "': " + parsed.error().message);
      std::string address = lowered(*parsed);
      if (std::find(recipients.begin(), recipients.end(), address) == recipients.end())
        recipients.push_back(address);
    }
    return std::nullopt;
  };
  for (const auto& arg : options.recipients)
    if (auto bad = add_recipients(arg, "the arguments")) return *bad;

  // The header section (RFC 5322 §2.1): field lines up to the empty line. A line that is no
  // field ends it too, and then starts the body (an empty line is put before it).
  Input input(options.dot_ends);
  std::string header_text, line;
  std::optional<std::string> body_first;
  bool first = true;
  while (input.next(line)) {
    // An mbox "From " line some programs put first is no header field.
    if (std::exchange(first, false) && line.starts_with("From ")) continue;
    if (line.empty()) break;
    bool continuation = (line[0] == ' ' || line[0] == '\t') && !header_text.empty();
    if (!continuation && !is_field_line(line)) {
      body_first = line;
      break;
    }
    header_text += line + "\r\n";
    if (header_text.size() > kMaxHeaderBytes)
      return problem(EX_DATAERR, "the header section is larger than 256 KiB");
  }
  auto header = HeaderSection::parse(header_text);
  if (options.extract) {
    for (const char* name : {"To", "Cc", "Bcc"})
      for (std::size_t i = 1; i <= header.count(name); ++i)
        if (auto bad = add_recipients(header.find(name, i)->value, std::string(name) + ":"))
          return *bad;
  }
  // Bcc recipients must not learn of each other, nor the others of them.
  header.remove_if([](const HeaderSection::Field& f) {
    return f.name.size() == 3 && to_lower_ascii(f.name) == "bcc";
  });
  if (recipients.empty())
    return problem(EX_USAGE, options.extract ? "no recipient in To:, Cc: or Bcc:"
                                             : "no recipient given (name them, or use -t)");
  if (!header.find("From")) {
    std::string from = sender.empty() ? qualify(login) : sender;
    if (!options.full_name.empty()) {
      std::string quoted;
      for (char c : options.full_name) {
        if (c == '"' || c == '\\') quoted += '\\';
        if (c != '\r' && c != '\n') quoted += c;
      }
      from = "\"" + quoted + "\" <" + from + ">";
    }
    header.append("From", from);
  }
  if (!header.find("Date")) header.append("Date", rfc5322_date());
  if (!header.find("Message-ID")) header.append("Message-ID", message_id(host));
  // Who handed the message in, as Postfix's pickup records it (the daemon's Received line
  // only knows a loopback connection).
  header.prepend("Received", "by " + host + " (postroom sendmail, from userid " +
                                 std::to_string(::getuid()) + ");\r\n\t" + rfc5322_date());

  auto where = smtp_endpoint(config);
  if (!where) return problem(EX_TEMPFAIL, where.error().message);
  Endpoint endpoint = *where;
  Link link(options.verbose);
  if (auto c = link.connect(endpoint); !c) {
    std::string hint = config ? "" : " (config not readable: " + config_problem + ")";
    return problem(EX_TEMPFAIL, "cannot connect to postroomd at " + endpoint.str() + ": " +
                                    c.error().message + "; is postroomd running?" + hint);
  }
  auto io_failure = [](const Error& e) { return problem(EX_TEMPFAIL, e.message); };
  auto refused = [&](const std::string& what, const Link::Reply& r, bool recipient) {
    (void)link.command("QUIT");
    std::string hint = r.text.find("5.7.1") != std::string::npos && recipient
                           ? " (is 127.0.0.0/8 in trusted_networks?)"
                           : "";
    return problem(exit_for(r, recipient), what + ": " + r.text + hint);
  };
  auto greeting = link.reply();
  if (!greeting) return io_failure(greeting.error());
  if (greeting->code != 220) return refused("postroomd refused the connection", *greeting, false);
  if (auto r = link.command("EHLO " + host); !r) return io_failure(r.error());
  auto ehlo = link.reply();
  if (!ehlo) return io_failure(ehlo.error());
  if (ehlo->code != 250) return refused("EHLO refused", *ehlo, false);
  auto offers = [&](std::string_view keyword) {
    return std::any_of(ehlo->lines.begin(), ehlo->lines.end(), [&](const std::string& l) {
      return to_lower_ascii(l.substr(0, l.find(' '))) == to_lower_ascii(keyword);
    });
  };
  std::string mail = "MAIL FROM:<" + sender + ">";
  if (offers("8BITMIME")) mail += " BODY=8BITMIME";
  auto non_ascii = [](const std::string& s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return (c & 0x80) != 0; });
  };
  if (offers("SMTPUTF8") &&
      (non_ascii(sender) || std::any_of(recipients.begin(), recipients.end(), non_ascii)))
    mail += " SMTPUTF8";
  if (auto r = link.command(mail); !r) return io_failure(r.error());
  auto mail_reply = link.reply();
  if (!mail_reply) return io_failure(mail_reply.error());
  if (mail_reply->code != 250)
    return refused("sender <" + sender + "> refused", *mail_reply, false);
  // All or nothing: a refused recipient sends the message to nobody, so a script that
  // retries after fixing the address sends no duplicates.
  for (const auto& rcpt : recipients) {
    if (auto r = link.command("RCPT TO:<" + rcpt + ">"); !r) return io_failure(r.error());
    auto reply = link.reply();
    if (!reply) return io_failure(reply.error());
    if (reply->code != 250 && reply->code != 251)
      return refused("recipient <" + rcpt + "> refused; nothing was sent", *reply, true);
  }
  if (auto r = link.command("DATA"); !r) return io_failure(r.error());
  auto go = link.reply();
  if (!go) return io_failure(go.error());
  if (go->code != 354) return refused("DATA refused", *go, false);
  // Dot-stuffing (RFC 5321 §4.5.2) of every line, CRLF line ends.
  auto send_line = [&](const std::string& text) -> Result<void> {
    if (text.starts_with('.')) {
      if (auto r = link.send("."); !r) return r;
    }
    if (auto r = link.send(text); !r) return r;
    return link.send("\r\n");
  };
  std::string head = header.text();
  std::size_t start = 0;
  while (start < head.size()) {
    auto end = head.find('\n', start);
    std::string field_line = head.substr(start, end - start);
    if (!field_line.empty() && field_line.back() == '\r') field_line.pop_back();
    if (auto r = send_line(field_line); !r) return io_failure(r.error());
    start = end == std::string::npos ? head.size() : end + 1;
  }
  if (auto r = link.send("\r\n"); !r) return io_failure(r.error());
  if (body_first) {
    if (auto r = send_line(*body_first); !r) return io_failure(r.error());
  }
  while (input.next(line))
    if (auto r = send_line(line); !r) return io_failure(r.error());
  if (input.error()) {
    (void)link.command("QUIT");
    return problem(EX_IOERR, "cannot read the message from standard input; nothing was sent");
  }
  if (auto r = link.command("."); !r) return io_failure(r.error());
  auto done = link.reply();
  if (!done) return io_failure(done.error());
  if (done->code != 250) return refused("the message was refused", *done, false);
  (void)link.command("QUIT");
  if (options.verbose) std::cerr << "sendmail: accepted: " << done->text << "\n";
  return {};
}

}  // namespace

int sendmail_main(const char* config_flag, const std::vector<std::string>& args) {
  Options options;
  if (config_flag) options.config = config_flag;
  if (auto bad = parse_options(args, options)) {
    report(*bad);
    std::cerr << "usage: sendmail [-t] [-i|-oi] [-f SENDER] [-F NAME] [-v] [-C CONFIG] "
                 "[RECIPIENT...] < message\n";
    return bad->exit;
  }
  return report(submit(options));
}

}  // namespace postroom::cli
