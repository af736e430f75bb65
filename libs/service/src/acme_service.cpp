// The ACME service's I/O: libcurl on a small blocking pool, files in data_dir/acme, timers,
// and the certificate swap. The protocol decisions are libs/acme's (order.hpp, schedule.hpp).
#include "postroom/service/acme_service.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>

#include "postroom/acme/schedule.hpp"
#include "postroom/base/file.hpp"
#include "postroom/base/log.hpp"
#include "postroom/service/context.hpp"

namespace postroom::service {

namespace {

// One ACME request may take this long (Let's Encrypt answers in well under a second).
constexpr long kRequestTimeoutSeconds = 30;
// An answer larger than this is not ACME's (a chain is a few KiB).
constexpr std::size_t kMaxAnswer = 1 << 20;
// How long the self-signed stand-in certificate claims to be valid.
constexpr std::int64_t kBootstrapSeconds = 7 * 86400;

std::int64_t now_seconds() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

struct Transfer {
  acme::Response response;
};

std::size_t collect_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t n = size * count;
  if (t->response.body.size() + n > kMaxAnswer) return 0;
  t->response.body.append(data, n);
  return n;
}

std::size_t collect_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return size * count;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
    value.remove_suffix(1);
  if (name == "location") t->response.location = value;
  if (name == "replay-nonce") t->response.nonce = value;
  return size * count;
}

// One blocking HTTPS exchange with the CA (runs on the pool, never on the loop).
acme::Response perform(const acme::Request& request,
                       const std::optional<std::filesystem::path>& ca_bundle) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  Transfer t;
  CURL* curl = curl_easy_init();
  if (!curl) {
    t.response.error = "cannot start libcurl";
    return t.response;
  }
  curl_slist* headers = nullptr;
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, kRequestTimeoutSeconds);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "postroom (ACME)");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  if (ca_bundle) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca_bundle->c_str());
    curl_easy_setopt(curl, CURLOPT_CAPATH, "/etc/ssl/certs");
  }
  if (request.method == acme::Request::Method::head) {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == acme::Request::Method::post) {
    // RFC 8555 §6.2: JWS bodies are application/jose+json.
    headers = curl_slist_append(headers, "Content-Type: application/jose+json");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.c_str());
  }
  CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    t.response = {};
    t.response.error = request.url + ": " + curl_easy_strerror(code);
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.response.status);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return t.response;
}

// Writes `data` to `file` so that a crash leaves the old file or the new one: a temporary
// file in the same directory, fsync, rename, fsync of the directory. `mode` 0600 for keys.
Result<void> write_atomically(const std::filesystem::path& file, std::string_view data,
                              mode_t mode) {
  auto temporary = file;
  temporary += ".new";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return fail("cannot write " + temporary.string() + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  int error = data.empty() && ::fsync(fd) == 0 ? 0 : (errno ? errno : EIO);
  ::close(fd);
  if (error != 0 || ::rename(temporary.c_str(), file.c_str()) != 0) {
    error = error ? error : errno;
    ::unlink(temporary.c_str());
    return fail("cannot write " + file.string() + ": " + std::strerror(error));
  }
  int dir = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

Result<void> make_private_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail("cannot create " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  return {};
}

// The account key from data_dir/acme, made on first use.
Result<acme::EcKey> account_key(const AcmeFiles& files) {
  if (auto r = make_private_dir(files.dir); !r) return std::unexpected(r.error());
  std::error_code ec;
  if (std::filesystem::exists(files.account_key(), ec)) {
    auto pem = read_small_file(files.account_key(), 64 * 1024);
    if (!pem) return fail(files.account_key().string() + ": " + pem.error().message);
    auto key = acme::EcKey::from_pem(*pem);
    if (!key) return fail(files.account_key().string() + ": " + key.error().message);
    return key;
  }
  auto key = acme::EcKey::generate();
  if (!key) return key;
  if (auto r = write_atomically(files.account_key(), key->pem(), 0600); !r)
    return std::unexpected(r.error());
  return key;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

std::string when(std::int64_t at) {
  char text[32];
  std::time_t t = static_cast<std::time_t>(at);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

}  // namespace

std::optional<std::shared_ptr<net::TlsContext>> load_acme_context(const AcmeFiles& files) {
  auto chain = read_small_file(files.chain(), 1 << 20);
  auto key = read_small_file(files.key(), 64 * 1024);
  if (!chain || !key) return std::nullopt;
  auto context = net::TlsContext::server_pem(*chain, *key);
  if (!context) {
    log_line("acme: ignoring ", files.chain().string(), ": ", context.error().message);
    return std::nullopt;
  }
  return *context;
}

Result<std::shared_ptr<net::TlsContext>> bootstrap_context(const std::string& name) {
  auto key = acme::EcKey::generate();
  if (!key) return std::unexpected(key.error());
  auto cert = acme::self_signed(*key, {name}, kBootstrapSeconds);
  if (!cert) return std::unexpected(cert.error());
  return net::TlsContext::server_pem(*cert, key->pem());
}

AcmeService::AcmeService(uv_loop_t* loop, Context& context)
    : loop_(loop),
      context_(context),
      files_{context.config->acme_dir()},
      pool_(loop, 1, 64),
      timer_(loop) {}

AcmeService::~AcmeService() {
  *alive_ = false;
}

void AcmeService::start() {
  running_ = true;
  auto chain = read_small_file(files_.chain(), 1 << 20);
  if (chain) {
    if (auto v = acme::certificate_validity(*chain)) current_ = *v;
    current_covers_ = acme::certificate_covers(*chain, context_.config->acme_names());
  }
  schedule();
}

void AcmeService::stop() {
  running_ = false;
  *alive_ = false;
  timer_.stop();
  order_.reset();
  unpublish();
}

void AcmeService::reload() {
  auto chain = read_small_file(files_.chain(), 1 << 20);
  current_covers_ = chain && acme::certificate_covers(*chain, context_.config->acme_names());
  if (!order_) {
    failures_ = 0;  // a changed config deserves a prompt try
    schedule();
  }
}

void AcmeService::schedule() {
  if (!running_) return;
  acme::RenewalFacts facts{current_, !current_covers_, failures_, last_failure_};
  std::int64_t now = now_seconds();
  next_attempt_ = acme::next_attempt(facts, now);
  publish_status();
  std::int64_t delay = std::max<std::int64_t>(0, next_attempt_ - now);
  // Timers are milliseconds in a uint64; a renewal months away is rechecked daily instead.
  delay = std::min<std::int64_t>(delay, 86400);
  timer_.start(static_cast<std::uint64_t>(delay) * 1000, [this] {
    if (now_seconds() >= next_attempt_) return begin();
    schedule();
  });
}

void AcmeService::begin() {
  if (!running_ || order_) return;
  const auto& config = *context_.config;
  // A reload removed the acme section: nothing to renew until the next restart.
  if (!config.acme) return;
  ca_bundle_ = config.acme->ca_bundle;
  order_names_ = config.acme_names();
  log_line("acme: requesting a certificate for ", joined(order_names_), " from ",
           config.acme->directory_url, " (",
           config.acme->challenge == config::Acme::Challenge::http01 ? "http-01" : "tls-alpn-01",
           ")");
  struct Prepared {
    Result<acme::EcKey> account = fail("not run");
    Result<acme::EcKey> key = fail("not run");
    Result<std::string> csr = fail("not run");
  };
  auto prepared = std::make_shared<Prepared>();
  // Key generation and the account key's file stay off the loop.
  bool queued = pool_.submit(
      [prepared, files = files_, names = order_names_] {
        prepared->account = account_key(files);
        prepared->key = acme::EcKey::generate();
        if (prepared->key) prepared->csr = acme::make_csr(*prepared->key, names);
      },
      [this, prepared, alive = alive_] {
        if (!*alive) return;
        if (!prepared->account) return failed(prepared->account.error().message);
        if (!prepared->key) return failed(prepared->key.error().message);
        if (!prepared->csr) return failed(prepared->csr.error().message);
        if (!context_.config->acme) return failed("the acme section was removed");
        const auto& acme_config = *context_.config->acme;
        acme::OrderSettings settings;
        settings.directory_url = acme_config.directory_url;
        settings.contact = acme_config.contact;
        settings.names = order_names_;
        settings.challenge = acme_config.challenge == config::Acme::Challenge::http01
                                 ? acme::ChallengeType::http01
                                 : acme::ChallengeType::tls_alpn01;
        settings.csr_der = *prepared->csr;
        order_key_pem_ = prepared->key->pem();
        order_ = std::make_unique<acme::Order>(std::move(settings), *prepared->account);
        context_.acme_status.state = current_ ? context_.acme_status.state : "obtaining";
        step();
      });
  if (!queued) failed("the ACME worker is busy");
}

void AcmeService::step() {
  while (order_) {
    acme::Step s = order_->next();
    switch (s.kind) {
      case acme::Step::Kind::request: {
        // The answer comes back through `slot`; the order is only touched on the loop.
        auto slot = std::make_shared<acme::Response>();
        bool queued = pool_.submit([request = std::move(s.request), ca = ca_bundle_,
                                    slot] { *slot = perform(request, ca); },
                                   [this, slot, alive = alive_] {
                                     if (!*alive || !order_) return;
                                     order_->on_response(*slot);
                                     step();
                                   });
        if (!queued) return failed("the ACME worker is busy");
        return;
      }
      case acme::Step::Kind::publish: {
        const auto& c = s.challenge;
        if (c.type == acme::ChallengeType::http01) {
          (*context_.acme_http)[c.token] = c.key_authorization;
        } else {
          auto key = acme::EcKey::generate();
          auto cert =
              key ? acme::self_signed(*key, {c.name}, 86400, acme::sha256(c.key_authorization))
                  : Result<std::string>(std::unexpected(key.error()));
          if (!cert) return failed(cert.error().message);
          if (auto r = context_.acme_alpn->add(c.name, *cert, key->pem()); !r)
            return failed(r.error().message);
        }
        continue;
      }
      case acme::Step::Kind::wait:
        timer_.start(static_cast<std::uint64_t>(s.wait_ms), [this] { step(); });
        return;
      case acme::Step::Kind::done:
        return finish(std::move(s.certificate), order_key_pem_);
      case acme::Step::Kind::failed:
        return failed(std::move(s.error));
    }
  }
}

void AcmeService::finish(std::string chain, std::string key_pem) {
  order_.reset();
  unpublish();
  auto validity = acme::certificate_validity(chain);
  if (!validity) return failed("the issued certificate: " + validity.error().message);
  auto tls = net::TlsContext::server_pem(chain, key_pem);
  if (!tls) return failed("the issued certificate: " + tls.error().message);
  if (context_.acme_alpn) (*tls)->answer_acme_alpn(context_.acme_alpn);
  auto written = std::make_shared<Result<void>>();
  // Key first: a crash between the two leaves a new key with the old chain, which does
  // not load (it does not match), so the next start asks again rather than serving a
  // mismatched pair.
  pool_.submit(
      [files = files_, chain, key_pem, written] {
        *written = write_atomically(files.key(), key_pem, 0600);
        if (*written) *written = write_atomically(files.chain(), chain, 0644);
      },
      [this, tls = *tls, validity = *validity, written, alive = alive_] {
        if (!*alive) return;
        if (!*written)
          log_line("acme: the new certificate is in use but could not be saved: ",
                   written->error().message);
        // New handshakes take the new context; open sessions keep the one they started with.
        context_.tls = tls;
        current_ = validity;
        current_covers_ = true;
        failures_ = 0;
        last_error_.clear();
        log_line("acme: certificate for ", joined(order_names_), " installed, valid until ",
                 when(validity.not_after), ", renewal due ", when(acme::renew_at(validity)));
        context_.acme_status.state = "valid";
        schedule();
      });
}

void AcmeService::failed(std::string why) {
  order_.reset();
  unpublish();
  ++failures_;
  last_failure_ = now_seconds();
  last_error_ = std::move(why);
  context_.acme_status.state = "failing";
  std::string left = "no ACME certificate yet";
  if (current_) {
    std::int64_t seconds = current_->not_after - now_seconds();
    left = seconds > 0 ? "the current certificate has " + std::to_string(seconds / 86400) +
                             " day(s) left (until " + when(current_->not_after) + ")"
                       : "the current certificate EXPIRED " + when(current_->not_after);
  }
  acme::RenewalFacts facts{current_, !current_covers_, failures_, last_failure_};
  std::int64_t next = acme::next_attempt(facts, last_failure_);
  log_line("acme: ERROR: obtaining a certificate for ", joined(order_names_), " failed (attempt ",
           failures_, "): ", last_error_, "; ", left, "; next attempt in ", next - last_failure_,
           "s");
  schedule();
}

void AcmeService::unpublish() {
  if (context_.acme_http) context_.acme_http->clear();
  if (context_.acme_alpn) context_.acme_alpn->clear();
}

void AcmeService::publish_status() {
  auto& s = context_.acme_status;
  s.enabled = true;
  if (s.state.empty()) s.state = current_ ? "valid" : "obtaining";
  s.names = joined(context_.config->acme_names());
  s.not_after = current_ ? current_->not_after : 0;
  s.renew_at = current_ ? acme::renew_at(*current_) : 0;
  s.next_attempt = next_attempt_;
  s.failures = failures_;
  s.last_failure = last_failure_;
  s.error = last_error_;
}

}  // namespace postroom::service
