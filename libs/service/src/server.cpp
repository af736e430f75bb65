// Binding listeners, admitting connections, the writer's wake-up, reload and orderly stop.
#include "postroom/service/server.hpp"

#include <malloc.h>

#include <sys/statvfs.h>

#include <algorithm>
#include <ctime>

#include "pg_backend.hpp"
#include "postroom/base/log.hpp"
#include "postroom/net/resolver.hpp"
#include "postroom/pgstore/pg_mail_store.hpp"
#include "postroom/pgstore/pool.hpp"
#include "postroom/relay/srs.hpp"
#include "postroom/service/access_lists.hpp"
#include "postroom/service/dnsbl.hpp"
#include "postroom/service/http_connection.hpp"
#include "postroom/service/mail_auth_filter.hpp"
#include "postroom/service/milter_filter.hpp"
#include "postroom/service/pop3_connection.hpp"
#include "postroom/service/refusal.hpp"
#include "postroom/service/retention_service.hpp"
#include "postroom/service/smtp_connection.hpp"
#include "postroom/store/mail_store.hpp"
#include "postroom/store/messages.hpp"
#include "postroom/store/outbound_counts.hpp"
#include "postroom/store/postmaster.hpp"

// GCC 12 reports std::expected's payload as "maybe uninitialized" in this file's reply
// lambdas (a known false positive of its -O2 inliner: the value is read only after
// has_value()); which functions it flags changes with unrelated includes.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace postroom::service {

namespace {

auth::LimiterPolicy limiter_policy(const config::Config& config) {
  auth::LimiterPolicy policy;
  policy.max_delay = config.auth.failure_delay_max;
  policy.lockout_failures = config.auth.lockout_failures;
  policy.address_lockout_failures = config.auth.lockout_failures_per_address;
  policy.window = config.auth.lockout_window;
  policy.lockout = config.auth.lockout_duration;
  return policy;
}

// Logs when the main postmaster is missing: mail to it is then refused (RFC 5321 §4.5.1 asks
// for it), and an admin reading the start-up log should learn so before a sender does.
void warn_if_postmaster_missing(Result<bool> missing, const std::vector<std::string>& domains) {
  if (!missing) {
    log_line("cannot check for postmaster: ", missing.error().message);
  } else if (*missing) {
    log_line("warning: no mailbox or alias postmaster@", domains.front(),
             ": mail to postmaster is refused until one exists (postroom alias add postmaster@",
             domains.front(), " YOU@", domains.front(), ")");
  }
}

// An HTTP client over the connection limits gets this, then the connection closes.
constexpr std::string_view kHttpBusy =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n"
    "Connection: close\r\n\r\ntoo many connections\n";

// On SIGTERM sessions get this long to finish before they are cut (interface.md: 10 s).
constexpr std::uint64_t kStopDeadlineMs = 8000;

// An uncommitted message older than this has no writer left: no session lives that long
// (idle timeouts are minutes), and an import commits every few hundred milliseconds.
constexpr std::int64_t kAbandonedAfterSeconds = 24 * 3600;

// Room kept for deleting mail on a full disk (see Writer::Reserve): a deletion writes
// little (see secure_delete), but the checkpoint that then gives space back must first
// copy the WAL (up to its 4 MiB autocheckpoint size) into the database file. A tenth of
// the file system, between 6 and 32 MiB.
std::uint64_t reserve_bytes(const std::filesystem::path& dir) {
  struct statvfs fs {};
  std::uint64_t total =
      ::statvfs(dir.c_str(), &fs) == 0 ? static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize : 0;
  return std::clamp<std::uint64_t>(total / 10, 6 * 1024 * 1024, 32 * 1024 * 1024);
}

std::optional<std::int64_t> activate_after(const config::Config& config) {
  if (!config.dkim.activate_after) return std::nullopt;
  return config.dkim.activate_after->count();
}

}  // namespace

Server::Server(uv_loop_t* loop) : loop_(loop) {
  context_.loop = loop;
}

Server::~Server() = default;

Result<void> Server::bind(std::shared_ptr<const config::Config> config) {
  context_.config = config;
  if (config->tls) {
    auto tls = net::TlsContext::server(config->tls->cert, config->tls->key);
    if (!tls) return std::unexpected(tls.error());
    context_.tls = *tls;
  }
  if (auto r = prepare_acme_tls(); !r) return r;
  const std::pair<const char*, const std::vector<Endpoint>*> groups[] = {
      {"smtp", &config->listen.smtp},
      {"submission", &config->listen.submission},
      {"submissions", &config->listen.submissions},
      {"pop3", &config->listen.pop3},
      {"pop3s", &config->listen.pop3s},
      {"http", &config->listen.http},
      {"https", &config->listen.https}};
  for (auto [name, endpoints] : groups) {
    for (const Endpoint& endpoint : *endpoints) {
      std::string listener_name = name;
      auto listener = net::Listener::bind(loop_, endpoint, [this, listener_name](auto connection) {
        accept(listener_name, std::move(connection));
      });
      if (!listener) {
        for (auto& l : listeners_) l.second->close();
        listeners_.clear();
        return std::unexpected(listener.error());
      }
      listeners_.emplace_back(listener_name, std::move(*listener));
    }
  }
  return {};
}

Result<void> Server::open_store(std::function<void(Result<void>)> ready) {
  const auto& config = *context_.config;
  // The SRS key is made once, here, by the account that owns data_dir; it is never logged.
  auto srs_key = relay::load_or_create_srs_key(config.data_dir / "srs.key");
  if (!srs_key) return fail(srs_key.error().message);
  auto opened =
      config.store.backend == config::StoreBackend::postgresql ? open_postgresql() : open_sqlite();
  if (!opened) return opened;
  srs_key_ = std::move(*srs_key);
  apply_srs(config);
  read_startup_state(std::move(ready));
  return {};
}

Result<void> Server::open_sqlite() {
  const auto& config = *context_.config;
  auto db = store::Database::open(config.database_path(), {.check = true});
  if (!db) return std::unexpected(db.error());
  writer_wake_ = std::make_unique<net::Async>(loop_, [this] {
    writer_->run_completions();
    watch_store_file();
    maybe_finish_stop();
  });
  writer_ = std::make_unique<store::Writer>(
      std::move(*db), [this] { writer_wake_->wake(); }, writer_faults_,
      store::Writer::Reserve{config.data_dir / "postroom.reserve", reserve_bytes(config.data_dir)});
  reads_ = std::make_unique<store::ReadPool>(config.database_path());
  store_ = std::make_unique<store::SqliteMailStore>(
      *writer_, *reads_, [this](std::function<void()> work, std::function<void()> after) {
        net::queue_work(loop_, std::move(work), std::move(after));
      });
  context_.store = store_.get();
  return {};
}

Result<void> Server::open_postgresql() {
  auto backend = open_pg_backend(loop_, *context_.config, [this] {
    log_line(
        "store: the PostgreSQL connection holding the maildrop locks was lost: every POP3 "
        "session holding one ends");
    context_.locks.lose_all();
  });
  if (!backend) return std::unexpected(backend.error());
  pg_ = std::make_unique<PgBackend>(std::move(*backend));
  context_.locks.share_with(std::move(pg_->locks));
  context_.store = pg_->store.get();
  return {};
}

void Server::read_startup_state(std::function<void(Result<void>)> ready) {
  auto finish = [this, ready](Result<void> r) {
    if (!r) stop();
    if (ready) ready(std::move(r));
  };
  // Bodies whose transaction never completed (a crash mid-DATA) were never acknowledged.
  // The admin tool may be importing right now: its open contents are young, so only
  // those older than a day go at start; the periodic sweep takes the rest later.
  context_.store->sweep_abandoned(
      std::time(nullptr) - kAbandonedAfterSeconds, [](Result<int> swept) {
        if (swept && *swept > 0)
          log_line("store removed ", *swept, " incomplete message(s) left by a crash");
      });
  check_postmaster();
  // Outbound limits: the counts of the last day, so a restart does not reset them; and the
  // retention settings, so the first CAPA already announces them.
  context_.store->outbound_counts(
      std::time(nullptr) - OutboundCounter::kDaySeconds, OutboundCounter::kBucketSeconds,
      [this, finish](Result<store::OutboundCounts> counts) {
        if (stopping_) return;  // SIGTERM while starting: nothing to start
        if (!counts)
          return finish(fail("cannot read the outbound limit counters: " + counts.error().message));
        context_.store->retention_settings(
            [this, finish, counts = std::move(*counts)](
                Result<std::vector<store::RetentionSetting>> settings) mutable {
              if (stopping_) return;  // SIGTERM while starting: nothing to start
              if (!settings)
                return finish(
                    fail("cannot read the retention settings: " + settings.error().message));
              start_services(std::move(counts), std::move(*settings));
              finish({});
            });
      });
}

void Server::start_services(store::OutboundCounts counts,
                            std::vector<store::RetentionSetting> retention_settings) {
  const auto& config = *context_.config;
  outbound_limits_ = std::make_shared<OutboundLimits>(context_);
  outbound_limits_->load(counts);
  auth_ = std::make_unique<AuthService>(context_, limiter_policy(config));
  context_.auth = auth_.get();
  // relay (issue 6): the queue runner starts with the store; SMTP wakes it after queuing.
  relay_ = std::make_unique<RelayService>(context_);
  context_.wake_relay = [this] { relay_->wake(); };
  context_.access = std::make_shared<AccessLists>(context_);
  context_.access->start();
  context_.retention = std::make_shared<RetentionService>(context_);
  context_.retention->start(std::move(retention_settings));
  relay_->start();
  start_resolver();
  install_filters();
  outbound_limits_->start();
  apply_http_site();
  trim_ = std::make_unique<net::Timer>(loop_);
  schedule_trim(30000);
  for (const auto& [name, endpoint] : bound()) log_line("listening ", name, " ", endpoint.str());
  if (config.acme) {
    acme_ = std::make_unique<AcmeService>(loop_, context_);
    acme_->start();
  }
  status_ =
      std::make_unique<StatusReporter>(loop_, context_, config.data_dir / system::kStatusFileName,
                                       [this] { return listener_status(); });
  status_->start();
  serving_ = true;
  for (auto& [listener, connection] : std::exchange(early_, {}))
    accept(listener, std::move(connection));
}

void Server::check_postmaster() {
  // Looked up off the loop, like any recipient; at start and when the domains may change.
  auto config = context_.config;
  context_.store->resolve_recipient(
      "postmaster@" + config->domains.front(),
      [config](std::string_view domain) { return config->is_local_domain(domain); },
      [domains = config->domains](Result<store::Route> route) {
        Result<bool> missing = route ? Result<bool>(route->kind == store::Route::Kind::unknown)
                                     : Result<bool>(std::unexpected(route.error()));
        warn_if_postmaster_missing(std::move(missing), domains);
      });
}

std::vector<system::ListenerStatus> Server::listener_status() const {
  std::vector<system::ListenerStatus> out;
  for (const auto& [name, endpoint] : bound()) {
    bool implicit = name == "submissions" || name == "pop3s" || name == "https";
    bool upgrade = context_.tls && (name == "smtp" || name == "submission" || name == "pop3");
    out.push_back({name, endpoint.str(), implicit ? "implicit" : upgrade ? "starttls" : "none"});
  }
  return out;
}

void Server::start_resolver() {
  const auto& servers = context_.config->relay.dns_servers;
  auto names = [](const std::vector<Endpoint>& list) {
    std::vector<std::string> out;
    for (const auto& e : list) out.push_back(e.str());
    return out;
  };
  if (context_.resolver && names(servers) == names(resolver_servers_)) return;
  // Filters under way hold the old resolver (shared) until they finish.
  auto created = net::Resolver::create(loop_, servers);
  if (!created) {
    log_line("cannot start the DNS resolver for inbound checks: ", created.error().message);
    return;
  }
  context_.resolver = std::shared_ptr<net::Resolver>(std::move(*created));
  resolver_servers_ = servers;
}

void Server::install_filters() {
  // Checks of what arrives first, then milters, then the DKIM signature over the result.
  // Each factory reads the config in force when its message begins.
  context_.filters.clear();
  // The outbound limits first: a sender over its limit is refused before anything else.
  if (outbound_limits_) context_.filters.push_back(outbound_limits_->factory());
  // The block lists, then what the DNS blocklists said of the client.
  context_.filters.push_back(access_filter_factory(context_));
  context_.filters.push_back(dnsbl_tag_filter_factory(context_));
  // SPF, DKIM and DMARC of mail from the internet, then the milters (rspamd sees the
  // Authentication-Results).
  context_.filters.push_back(mail_auth_filter_factory(context_));
  context_.filters.push_back(milter_filter_factory(context_));
  // Last: a filter after it that changed a signed field would break the signature.
  if (!dkim_) {
    dkim_ = std::make_unique<DkimSigning>(loop_, context_.config->dkim_dir());
    dkim_->load(activate_after(*context_.config));
  }
  context_.filters.push_back(dkim_->factory());
}

std::vector<std::pair<std::string, Endpoint>> Server::bound() const {
  std::vector<std::pair<std::string, Endpoint>> out;
  for (const auto& [name, listener] : listeners_) out.emplace_back(name, listener->bound());
  return out;
}

void Server::accept(const std::string& listener, std::shared_ptr<net::Connection> connection) {
  if (stopping_) return connection->close("not serving");
  if (!serving_) {
    early_.emplace_back(listener, std::move(connection));
    return;
  }
  const auto& limits = context_.config->limits;
  std::string ip = connection->peer_ip();
  bool is_pop3 = listener == "pop3" || listener == "pop3s";
  bool is_http = listener == "http" || listener == "https";
  bool implicit_tls = listener == "submissions" || listener == "pop3s" || listener == "https";
  using Verdict = ConnectionCounter::Verdict;
  auto verdict = context_.connections.admit(
      connection->id(), ip, context_.config->is_trusted(connection->peer()), limits);
  if (verdict != Verdict::admitted) {
    context_.metrics.refuse("too many connections");
    log_line("refused ", listener, " connection from ", ip, ": ",
             verdict == Verdict::too_many_from_ip    ? "too many connections from it"
             : verdict == Verdict::public_share_full ? "public share of connections full"
                                                     : "too many connections");
    std::string reply = is_pop3   ? "-ERR [SYS/TEMP] Too many connections, try again later\r\n"
                        : is_http ? std::string(kHttpBusy)
                                  : "421 4.7.0 " + context_.config->hostname +
                                        " Too many connections, try again later\r\n";
    track(std::make_shared<Refusal>(loop_, connection, implicit_tls ? context_.tls : nullptr,
                                    std::move(reply)));
    return;
  }
  std::shared_ptr<Served> served;
  if (is_pop3) {
    served = std::make_shared<Pop3Connection>(context_, connection, implicit_tls);
  } else if (is_http) {
    served = std::make_shared<HttpConnection>(context_, connection, implicit_tls);
  } else {
    served = std::make_shared<SmtpConnection>(
        context_, connection,
        listener == "smtp" ? SmtpConnection::Kind::mx : SmtpConnection::Kind::submission,
        implicit_tls);
  }
  track(std::move(served));
}

void Server::track(std::shared_ptr<Served> served) {
  Served* key = served.get();
  served->on_finished = [this, key] {
    sessions_.erase(key);
    // The last session ended: give freed memory back soon rather than at the next period.
    if (sessions_.empty() && trim_ && !stopping_) schedule_trim(1000);
    maybe_finish_stop();
  };
  sessions_.emplace(key, served);
  served->start();
}

void Server::reload(std::shared_ptr<const config::Config> config) {
  const auto& old = *context_.config;
  auto endpoints = [](const config::Listeners& l) {
    std::vector<std::string> all;
    for (const auto* group :
         {&l.smtp, &l.submission, &l.submissions, &l.pop3, &l.pop3s, &l.http, &l.https}) {
      all.push_back("|");
      for (const auto& e : *group) all.push_back(e.str());
    }
    return all;
  };
  if (endpoints(old.listen) != endpoints(config->listen))
    log_line("reload: listen changed; it takes effect at the next restart");
  if (old.data_dir != config->data_dir)
    log_line("reload: data_dir changed; it takes effect at the next restart");
  std::shared_ptr<net::TlsContext> tls;
  if (config->tls) {
    auto loaded = net::TlsContext::server(config->tls->cert, config->tls->key);
    if (!loaded) {
      log_line("reload failed, keeping the running config: ", loaded.error().message);
      return;
    }
    tls = *loaded;
  }
  if (config->acme && acme_ && acme_->has_certificate()) {
    tls = context_.tls;  // the ACME certificate stays; tls.cert is only its stand-in
  } else if (config->acme && !tls) {
    tls = context_.tls;  // the self-signed stand-in until the first ACME certificate
  }
  if (tls && context_.acme_alpn) tls->answer_acme_alpn(context_.acme_alpn);
  if (!tls && context_.tls) {
    log_line(
        "reload failed, keeping the running config: tls cannot be removed while TLS listeners run");
    return;
  }
  // Open sessions keep the config and certificate they started with.
  auto fixed = std::make_shared<config::Config>(*config);
  fixed->listen = old.listen;
  fixed->data_dir = old.data_dir;
  context_.config = fixed;
  context_.tls = tls;
  if (auth_) auth_->set_policy(limiter_policy(*fixed));
  if (relay_) relay_->reload();  // relay (issue 6)
  start_resolver();
  if (dkim_) dkim_->load(activate_after(*fixed));  // keys added or activated since
  if (!srs_key_.empty()) apply_srs(*context_.config);
  apply_http_site();
  if (acme_) acme_->reload();
  log_line("reloaded ", fixed->file.string());
  // The domains may have changed: look for the (new) main postmaster.
  check_postmaster();
}

void Server::stop() {
  if (stopping_) return;
  stopping_ = true;
  log_line("stopping: ", sessions_.size(), " session(s) open");
  for (auto& l : listeners_) l.second->close();
  listeners_.clear();
  for (auto& early : std::exchange(early_, {})) early.second->close("not serving");
  if (status_) status_->stop();
  if (acme_) acme_->stop();
  if (auth_) auth_->shutdown();
  // relay (issue 6): no new attempts; connections in flight are cut, their recipients stay due.
  if (relay_) relay_->stop();
  if (context_.access) context_.access->stop();
  if (context_.retention) context_.retention->stop();
  // Copy: shutdown() may finish a session and erase it from the map.
  std::vector<std::shared_ptr<Served>> open;
  for (auto& [key, served] : sessions_) open.push_back(served);
  for (auto& served : open) served->shutdown();
  stop_deadline_ = std::make_unique<net::Timer>(loop_);
  stop_deadline_->start(kStopDeadlineMs, [this] {
    log_line("stopping: cutting ", sessions_.size(), " session(s) that did not finish");
    std::vector<std::shared_ptr<Served>> left;
    for (auto& [key, served] : sessions_) left.push_back(served);
    sessions_.clear();
    for (auto& served : left) served->abort();
    maybe_finish_stop();
  });
  maybe_finish_stop();
}

void Server::apply_http_site() {
  auto site = std::make_shared<HttpSite>();
  site->site = http::make_site(*context_.config, bound());
  for (const auto& [name, endpoint] : bound())
    site->listeners.push_back(name + " " + endpoint.str());
  site->commit_latency = [this] {
    http::LatencyHistogram h;
    if (!writer_) return h;
    auto latency = writer_->commit_latency();
    h.bounds.assign(latency.kBounds.begin(), latency.kBounds.end());
    h.buckets.assign(latency.at_most.begin(), latency.at_most.end());
    h.count = latency.count;
    h.sum = latency.sum;
    return h;
  };
  context_.http = std::move(site);
}

Result<void> Server::prepare_acme_tls() {
  const auto& config = *context_.config;
  if (!config.acme) return {};
  context_.acme_http = std::make_shared<std::map<std::string, std::string, std::less<>>>();
  if (config.acme->challenge == config::Acme::Challenge::tls_alpn01)
    context_.acme_alpn = std::make_shared<net::AcmeAlpnCertificates>();
  // The stored ACME certificate wins over tls.cert; without either, a self-signed stand-in
  // lets the TLS listeners start while the first certificate is obtained.
  if (auto stored = load_acme_context(AcmeFiles{config.acme_dir()})) {
    context_.tls = *stored;
  } else if (!context_.tls) {
    auto bootstrap = bootstrap_context(config.hostname);
    if (!bootstrap) return std::unexpected(bootstrap.error());
    context_.tls = *bootstrap;
  }
  if (context_.acme_alpn) context_.tls->answer_acme_alpn(context_.acme_alpn);
  return {};
}

void Server::apply_srs(const config::Config& config) {
  context_.srs = config.relay.srs
                     ? std::make_shared<const relay::Srs>(srs_key_, config.domains.front())
                     : nullptr;
}

void Server::schedule_trim(std::uint64_t ms) {
  // Freed memory goes back to the system every 30 s (and 1 s after the last session ends),
  // so a burst of messages or logins does not leave the idle daemon large.
  trim_->start(ms, [this] {
    // SQLite's page caches first, so their pages are among what the trim returns (the
    // writer frees its own between transactions, for the next trim).
    if (context_.store) context_.store->release_memory();
    ::malloc_trim(0);
    sweep_abandoned();
    purge_greylist();
    schedule_trim(30000);
  });
}

void Server::watch_store_file() {
  bool lost = context_.store && context_.store->file_lost();
  if (lost == store_file_lost_) return;
  store_file_lost_ = lost;
  if (lost) {
    log_line("ALERT: the database file ", context_.config->database_path().string(),
             " was removed or replaced while postroomd runs: every message and POP3 update is "
             "refused (4xx) until postroomd is restarted on a good database");
  } else {
    log_line("store: the database file is back; acknowledging again");
  }
}

void Server::sweep_abandoned() {
  // A session's discard can fail with its batch (a full disk): what it left behind is
  // removed once it is surely abandoned.
  if (!context_.store || stopping_) return;
  context_.store->sweep_abandoned(
      std::time(nullptr) - kAbandonedAfterSeconds, [](Result<int> swept) {
        if (!swept) {
          log_line("store: sweeping abandoned messages failed: ", swept.error().message);
        } else if (*swept > 0) {
          log_line("store removed ", *swept, " abandoned incomplete message(s)");
        }
      });
}

void Server::purge_greylist() {
  // Hourly: first tries never retried within `forget`, and passes unused for 36 days (about
  // what Postgrey keeps), so the tables hold the office's real correspondents only.
  constexpr std::int64_t kPurgeEverySeconds = 3600;
  constexpr std::int64_t kPassKeptSeconds = 36 * 86400;
  const auto& config = context_.config->greylisting;
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  if (!context_.store || stopping_ || !config.enabled ||
      now - last_greylist_purge_ < kPurgeEverySeconds)
    return;
  last_greylist_purge_ = now;
  context_.store->purge_greylist(
      now - config.forget.count(), now - kPassKeptSeconds, [](Result<int> removed) {
        if (!removed) {
          log_line("greylisting: purging old triplets failed: ", removed.error().message);
        } else if (*removed > 0) {
          log_line("greylisting: forgot ", *removed, " old triplet(s)");
        }
      });
}

bool Server::store_drained() const {
  // On PostgreSQL every unit counts, the writes that report no answer (discards) included.
  if (pg_) return pg_->pool->in_flight() == 0;
  return !context_.store || context_.store->writes_in_flight() == 0;
}

void Server::maybe_finish_stop() {
  if (!stopping_ || !sessions_.empty()) return;
  if (outbound_limits_) {
    outbound_limits_->stop();  // its last counts go in the final batch
    outbound_limits_.reset();
  }
  if (writer_) {
    writer_->stop();  // everything submitted is committed
    writer_->run_completions();
  }
  if (writer_wake_) writer_wake_->close();
  if (pg_) {
    // Closed from a timer of its own, never inside a reply of the pool it closes; the last
    // writes (outbound counters, downloads, relay results, a queue poll) are answered first,
    // for at most 10 s.
    bool waited_out = drain_rounds_ >= 500;
    if (in_drain_tick_ && store_drained() && !leases_given_back_ && !waited_out) {
      // Then the deliveries the stop cut short are due again now, for the other boxes on
      // the database (or this one when it starts again): after every poll, so that none
      // leases anything afterwards.
      leases_given_back_ = true;
      pg_->store->give_back_leases([](Result<int> given) {
        if (!given)
          log_line("stopping: cannot give back the queue leases: ", given.error().message);
      });
    }
    if (!in_drain_tick_ || (!store_drained() && !waited_out)) {
      if (!drain_) drain_ = std::make_unique<net::Timer>(loop_);
      drain_->start(in_drain_tick_ ? 20 : 0, [this] {
        ++drain_rounds_;
        in_drain_tick_ = true;
        maybe_finish_stop();
        in_drain_tick_ = false;
      });
      return;
    }
    if (!store_drained())
      log_line("stopping: ", pg_->pool->in_flight(),
               " PostgreSQL unit(s) still unanswered after 10 s; not waiting longer");
    context_.store = nullptr;
    context_.locks.share_with(nullptr);  // its connection closes: PostgreSQL frees the locks
    pg_.reset();
  }
  trim_.reset();
  acme_.reset();  // its timer and worker pool close; a request in flight is abandoned
  context_.filters.clear();
  if (dkim_) dkim_->stop();
  context_.resolver.reset();  // its handles close; no session is left to ask it
  if (stop_deadline_) stop_deadline_.reset();
  // With no handle left, uv_run returns and the daemon exits 0.
}

}  // namespace postroom::service
