// The daemon's core: listeners bound from the config, the store, and every served session.
#pragma once

#include <uv.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "postroom/config/config.hpp"
#include "postroom/net/connection.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/service/acme_service.hpp"
#include "postroom/service/auth_service.hpp"
#include "postroom/service/context.hpp"
#include "postroom/service/dkim_sign_filter.hpp"
#include "postroom/service/outbound_limits.hpp"
#include "postroom/service/relay_service.hpp"  // relay (issue 6)
#include "postroom/service/served.hpp"
#include "postroom/service/status_reporter.hpp"
#include "postroom/store/mail_store.hpp"
#include "postroom/store/writer.hpp"

namespace postroom::service {

struct PgBackend;

class Server {
 public:
  explicit Server(uv_loop_t* loop);
  ~Server();

  // Loads TLS and binds every listener; nothing is created on disk yet, so a failed
  // start touches nothing (interface.md).
  Result<void> bind(std::shared_ptr<const config::Config> config);
  // Opens (creating and migrating) the store, then reads what the services start from and
  // starts them: `ready` hears when the daemon serves, or why it cannot (then it stops).
  // Connections that arrive meanwhile wait for it.
  Result<void> open_store(std::function<void(Result<void>)> ready = nullptr);
  // Tests only, before open_store(): the store writer fails where `hook` says.
  void inject_store_faults(store::Writer::FaultHook hook) { writer_faults_ = std::move(hook); }
  // Applies a new config (SIGHUP): everything but listen and data_dir.
  void reload(std::shared_ptr<const config::Config> config);
  // SIGTERM: stop accepting, end sessions, drain the writer; the loop then runs dry.
  void stop();
  // Each listener's name ("smtp", "pop3", ...) and address, with the real port when the
  // config said :0.
  std::vector<std::pair<std::string, Endpoint>> bound() const;

 private:
  void accept(const std::string& listener, std::shared_ptr<net::Connection> connection);
  void track(std::shared_ptr<Served> served);  // keeps it until its connection closes
  void maybe_finish_stop();
  void purge_greylist();
  void sweep_abandoned();
  void watch_store_file();
  // DNS for the checks made while mail arrives; again on reload when the servers changed.
  void start_resolver();
  // The message filters (message_filter.hpp), in the order they run.
  void install_filters();

  uv_loop_t* loop_;
  Context context_;
  std::vector<std::pair<std::string, std::unique_ptr<net::Listener>>> listeners_;
  std::unique_ptr<store::Writer> writer_;
  std::unique_ptr<store::ReadPool> reads_;
  std::unique_ptr<store::MailStore> store_;  // SQLite's; PostgreSQL's lives in pg_
  std::unique_ptr<PgBackend> pg_;            // store.backend: postgresql
  bool serving_ = false;                     // the services started from the store
  // Accepted before the services started: served once they have.
  std::vector<std::pair<std::string, std::shared_ptr<net::Connection>>> early_;
  std::unique_ptr<net::Timer> drain_;  // at stop: waits for PostgreSQL writes in flight
  int drain_rounds_ = 0;
  bool leases_given_back_ = false;
  bool in_drain_tick_ = false;
  Result<void> open_sqlite();
  Result<void> open_postgresql();
  // The start-up reads through the store, then start_services().
  void read_startup_state(std::function<void(Result<void>)> ready);
  void start_services(store::OutboundCounts counts,
                      std::vector<store::RetentionSetting> retention_settings);
  void check_postmaster();
  bool store_drained() const;
  store::Writer::FaultHook writer_faults_;
  bool store_file_lost_ = false;
  std::unique_ptr<net::Async> writer_wake_;
  std::unique_ptr<AuthService> auth_;
  std::unique_ptr<RelayService> relay_;     // relay (issue 6): the outbound queue runner
  std::vector<Endpoint> resolver_servers_;  // what context_.resolver was made with
  std::unique_ptr<DkimSigning> dkim_;       // signs outbound mail as it is queued
  std::unordered_map<Served*, std::shared_ptr<Served>> sessions_;
  std::unique_ptr<net::Timer> stop_deadline_;
  std::int64_t last_greylist_purge_ = 0;
  std::unique_ptr<net::Timer> trim_;  // returns freed memory to the system after bursts
  void schedule_trim(std::uint64_t ms);
  void apply_srs(const config::Config& config);  // relay.srs and the first domain
  void apply_http_site();  // what the HTTP listeners answer (config and bound ports)
  std::shared_ptr<OutboundLimits> outbound_limits_;
  std::string srs_key_;  // data_dir/srs.key; never logged
  bool stopping_ = false;
  std::unique_ptr<StatusReporter> status_;
  std::unique_ptr<AcmeService> acme_;  // keeps the ACME certificate when acme is configured
  // With acme: the challenge answer tables, and the TLS context the listeners start with.
  Result<void> prepare_acme_tls();  // data_dir/postroomd.status for `postroom status`
  std::vector<system::ListenerStatus> listener_status() const;
};

}  // namespace postroom::service
