// The ACME service's I/O: libcurl on a small blocking pool, files in data_dir/acme, timers,
// and the certificate swap. The protocol decisions are libs/acme's (order.hpp, schedule.hpp).
#include "postroom/service/acme_service.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <mutex>

#include "https_exchange.hpp"
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

// One blocking HTTPS exchange with the CA (runs on the pool, never on the loop).
acme::Response perform(const acme::Request& request,
                       const std::optional<std::filesystem::path>& ca_bundle) {
  HttpsRequest https;
  https.url = request.url;
  https.user_agent = "postroom (ACME)";
  https.ca_file = ca_bundle;
  https.timeout_seconds = kRequestTimeoutSeconds;
  https.max_body = kMaxAnswer;
  if (request.method == acme::Request::Method::head) {
    https.method = HttpsRequest::Method::head;
  } else if (request.method == acme::Request::Method::post) {
    https.method = HttpsRequest::Method::post;
    // RFC 8555 §6.2: JWS bodies are application/jose+json.
    https.content_type = "application/jose+json";
    https.body = request.body;
  }
  auto answer = https_exchange(https);
  acme::Response response;
  response.error = std::move(answer.error);
  response.status = answer.status;
  response.location = answer.header("location");
  response.nonce = answer.header("replay-nonce");
  response.body = std::move(answer.body);
  return response;
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
  if (auto r = replace_file(files.account_key(), key->pem(), 0600, FileSync::durable); !r)
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
        *written = replace_file(files.key(), key_pem, 0600, FileSync::durable);
        if (*written) *written = replace_file(files.chain(), chain, 0644, FileSync::durable);
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
