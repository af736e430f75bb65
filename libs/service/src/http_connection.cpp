// HTTP(S) on the loop: framing, the time limit, and the answers that need the store or auth.
#include "postroom/service/http_connection.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "postroom/base/log.hpp"
#include "postroom/base/wipe.hpp"
#include "postroom/service/auth_service.hpp"
#include "postroom/service/context.hpp"
#include "postroom/store/mail_store.hpp"
#include "session_wiring.hpp"

namespace postroom::service {

namespace {

std::optional<std::int64_t> certificate_days(const Context& context) {
  if (!context.tls) return std::nullopt;
  auto expiry = context.tls->not_after();
  if (!expiry) return std::nullopt;
  return (*expiry - std::time(nullptr)) / 86400;
}

}  // namespace

HttpConnection::HttpConnection(Context& context, std::shared_ptr<net::Connection> connection,
                               bool https)
    : context_(context),
      connection_(std::move(connection)),
      https_(https),
      id_(context.new_session_id()),
      deadline_(context.loop) {}

void HttpConnection::start() {
  auto self = shared_from_this();
  if (https_) connection_->start_tls(context_.tls, net::TlsEngine::Role::server);
  connection_->start(session_events(self, https_));
  restart_deadline();
}

void HttpConnection::restart_deadline() {
  auto after =
      std::chrono::duration_cast<std::chrono::milliseconds>(context_.config->http.request_timeout);
  start_deadline(deadline_, after, shared_from_this(), [](HttpConnection& s) {
    if (s.connection_->closed() || s.busy_) return;
    if (s.reader_.mid_request()) {
      // RFC 9110 §15.5.9: the client took too long to send its request.
      http::Response late = http::text_response(408, "request timeout\n");
      late.close = true;
      s.connection_->write(late.serialize(false));
      return s.connection_->close_after_flush("request timeout");
    }
    s.connection_->close("idle timeout");
  });
}

void HttpConnection::on_data(std::string_view bytes) {
  reader_.feed(bytes);
  process();
}

void HttpConnection::process() {
  while (!busy_ && !connection_->closed()) {
    auto outcome = reader_.next();
    using Kind = http::RequestReader::Outcome::Kind;
    if (outcome.kind == Kind::incomplete) return;
    if (outcome.kind == Kind::error) {
      log_line("session=", id_, " http refused peer=", connection_->peer_ip(),
               " status=", outcome.error.status);
      connection_->write(outcome.error.serialize(false));
      return connection_->close_after_flush("bad request");
    }
    handle(std::move(outcome.request));
  }
}

void HttpConnection::handle(http::Request request) {
  ++requests_;
  // RFC 8555 §8.3: the CA fetches the key authorization over plain HTTP (port 80, any Host,
  // redirects allowed but not needed); only tokens of a validation under way are answered.
  constexpr std::string_view kAcmeChallenge = "/.well-known/acme-challenge/";
  if (context_.acme_http && request.path.starts_with(kAcmeChallenge) &&
      (request.method == "GET" || request.method == "HEAD")) {
    auto it = context_.acme_http->find(request.path.substr(kAcmeChallenge.size()));
    if (it == context_.acme_http->end())
      return answer(request, http::text_response(404, "not found\n"));
    http::Response key_authorization;
    key_authorization.content_type = "application/octet-stream";
    key_authorization.body = it->second;
    return answer(request, std::move(key_authorization));
  }
  auto site = context_.http;
  if (!site) return answer(request, http::text_response(404, "not found\n"));
  const auto& config = *context_.config;
  const sockaddr* peer = connection_->peer();
  http::Peer facts{
      .tls = https_,
      .metrics_allowed =
          config.is_trusted(peer) ||
          std::any_of(config.http.metrics_allow.begin(), config.http.metrics_allow.end(),
                      [&](const Cidr& net) { return net.contains(peer); })};
  http::Plan plan = http::plan(request, site->site, facts);
  // The login's secret is in the plan now; the request is kept for the log line only.
  for (auto& [name, value] : request.headers) {
    if (name == "authorization") wipe(value);
  }
  if (plan.need == http::Need::nothing) return answer(request, std::move(plan.response));
  busy_ = true;
  connection_->pause_reading();
  std::weak_ptr<HttpConnection> weak = shared_from_this();
  auto finish = [weak, request](http::Response response) {
    auto s = weak.lock();
    if (!s || s->connection_->closed()) return;
    s->busy_ = false;
    s->answer(request, std::move(response));
    if (s->connection_->closed() || s->stopping_) return;
    s->connection_->resume_reading();
    s->process();
  };
  if (plan.need == http::Need::login) {
    AuthService::Peer who{connection_->peer_ip(), id_};
    std::string address = plan.user;
    context_.auth->check_password(
        who, plan.user, plan.password, [finish, site, address](AuthResult result) {
          using O = AuthResult::Outcome;
          auto outcome = result.outcome == O::ok             ? http::LoginOutcome::ok
                         : result.outcome == O::temp_failure ? http::LoginOutcome::temp_failure
                                                             : http::LoginOutcome::bad_credentials;
          finish(http::mobileconfig_response(
              site->site, result.address.empty() ? address : result.address, outcome));
        });
    wipe(plan.password);
    return;
  }
  // Health and metrics both ask the store: a heartbeat committed through the writer proves
  // it can write, and the same job counts the queue.
  bool metrics = plan.need == http::Need::metrics;
  std::int64_t now = std::time(nullptr);
  context_.store->health(
      now, [weak, finish, site, metrics, now](Result<store::StoreHealth> health) {
        auto s = weak.lock();
        if (!s) return;
        const Context& context = s->context_;
        if (metrics) {
          http::Gauges gauges;
          if (health) {
            gauges.queue_depth = health->queued_recipients;
            gauges.disk_free_bytes = health->disk_free_bytes;
            if (health->oldest_queued_at)
              gauges.oldest_queued_age = now - *health->oldest_queued_at;
          }
          if (context.tls) gauges.certificate_expiry = context.tls->not_after();
          gauges.connections = static_cast<std::int64_t>(context.connections.total());
          if (site->commit_latency) gauges.commit_latency = site->commit_latency();
          return finish(http::metrics_response(http::render_metrics(context.metrics, gauges)));
        }
        http::HealthFacts facts;
        if (!health) facts.store_error = health.error().message;
        if (health) facts.disk_free_bytes = health->disk_free_bytes;
        facts.largest_message = context.config->limits.max_message_size;
        if (context.store->file_lost())
          facts.store_error = "the database file was removed or replaced";
        facts.listeners = site->listeners;
        facts.listeners_up = !site->listeners.empty();
        facts.certificate_days = certificate_days(context);
        finish(http::health_response(facts));
      });
}

void HttpConnection::answer(const http::Request& request, http::Response response) {
  bool keep = request.keep_alive && !response.close && !stopping_;
  response.close = !keep;
  // Never the Authorization field or the body: only what was asked and the outcome.
  log_line("session=", id_, " http", https_ ? "s" : "", " peer=", connection_->peer_ip(),
           " host=", request.host.empty() ? "-" : request.host, " ", request.method, " ",
           request.path.substr(0, 200), " status=", response.status);
  connection_->write_owned(response.serialize(request.method == "HEAD"));
  if (!keep) return connection_->close_after_flush("done");
  restart_deadline();
}

void HttpConnection::shutdown() {
  // Nothing here is a promise to keep (no commit waits on an answer): close now, even with
  // an answer in preparation (the auth service drops those at shutdown anyway).
  stopping_ = true;
  connection_->close("shutdown");
}

void HttpConnection::on_closed(const std::string& reason) {
  deadline_.stop();
  context_.connections.release(connection_->id());
  log_line("session=", id_, " http closed peer=", connection_->peer_ip(), " requests=", requests_,
           " reason=", reason);
  if (on_finished) on_finished();
}

}  // namespace postroom::service
