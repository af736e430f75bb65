// Writes the daemon status file on the thread pool every few seconds; removes it at stop.
#include "postroom/service/status_reporter.hpp"

#include <unistd.h>

#include <ctime>

#include "postroom/base/log.hpp"
#include "postroom/service/context.hpp"

namespace postroom::service {

StatusReporter::StatusReporter(uv_loop_t* loop, const Context& context, std::filesystem::path file,
                               Listeners listeners)
    : loop_(loop),
      context_(context),
      file_(std::move(file)),
      listeners_(std::move(listeners)),
      started_at_(static_cast<std::int64_t>(std::time(nullptr))) {}

StatusReporter::~StatusReporter() {
  stop();
}

void StatusReporter::start() {
  timer_ = std::make_unique<net::Timer>(loop_);
  write();
}

void StatusReporter::stop() {
  if (shared_->stopped) return;
  shared_->stopped = true;
  timer_.reset();
  if (!shared_->writing) ::unlink(file_.c_str());
}

void StatusReporter::write() {
  if (shared_->stopped) return;
  timer_->start(static_cast<std::uint64_t>(system::kStatusIntervalSeconds) * 1000,
                [this] { write(); });
  // A write still running (a slow disk) is not joined by a second one.
  if (shared_->writing) return;
  system::DaemonStatus status;
  status.pid = ::getpid();
  status.version = POSTROOM_VERSION;
  status.started_at = started_at_;
  status.updated_at = static_cast<std::int64_t>(std::time(nullptr));
  status.listeners = listeners_();
  status.connections = static_cast<std::int64_t>(context_.connections.total());
  status.recent = context_.recent;
  status.acme = context_.acme_status;
  auto text = std::make_shared<std::string>(system::render_status(status));
  auto result = std::make_shared<Result<void>>();
  shared_->writing = true;
  // The file is small, but the loop never waits on disk.
  net::queue_work(
      loop_, [file = file_, text, result] { *result = system::write_status_file(file, *text); },
      [shared = shared_, file = file_, result] {
        shared->writing = false;
        if (shared->stopped) {
          ::unlink(file.c_str());
        } else if (!*result && !shared->failure_logged) {
          shared->failure_logged = true;  // once: it would repeat every few seconds
          log_line("status file: ", result->error().message);
        } else if (*result) {
          shared->failure_logged = false;
        }
      });
}

}  // namespace postroom::service
