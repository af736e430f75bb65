// postroomd: one process, one libuv loop, every listener the config names.
#include <malloc.h>
#include <signal.h>
#include <uv.h>

#include <cstring>
#include <iostream>
#include <memory>

#include "local_security.hpp"
#include "postroom/base/log.hpp"
#include "postroom/config/config.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/service/server.hpp"

using namespace postroom;

namespace {

constexpr const char* kUsage = "usage: postroomd [--config PATH]\n";

// The config, or nullptr after one log line: `prefix` says what the failure means (a start
// that ends, or a reload that keeps the running config).
std::shared_ptr<const config::Config> load_or_report(const std::string& path,
                                                     const std::string& prefix) {
  auto loaded = config::load(path);
  if (!loaded) {
    const auto& first = loaded.error().front();
    std::string more = loaded.error().size() > 1
                           ? " (and " + std::to_string(loaded.error().size() - 1) +
                                 " more: run postroom check-config)"
                           : "";
    log_line(prefix, first.str(), more);
    return nullptr;
  }
  return std::make_shared<const config::Config>(std::move(*loaded));
}

int run(int argc, char** argv);

}  // namespace

int main(int argc, char** argv) {
  // Errors are values everywhere below; this only turns a missed exception into one log
  // line and exit 1 instead of an abort.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    log_line("postroomd: internal error, stopping: ", e.what());
  } catch (...) {
    log_line("postroomd: internal error, stopping");
  }
  return 1;
}

namespace {

int run(int argc, char** argv) {
  const char* config_flag = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      config_flag = argv[++i];
    } else if (std::strncmp(argv[i], "--config=", 9) == 0) {
      config_flag = argv[i] + 9;
    } else if (std::strcmp(argv[i], "--help") == 0) {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "postroomd: unknown argument '" << argv[i] << "'\n" << kUsage;
      return 2;
    }
  }
  if (auto locked = daemon::lock_down_process(); !locked) {
    log_line("postroomd: ", locked.error().message);
    return 1;
  }
  std::string path = config::default_path(config_flag).string();
  auto config = load_or_report(path, "postroomd: bad config: ");
  if (!config) return 1;
  auto identity = daemon::choose_identity(*config);
  if (!identity) {
    log_line("postroomd: ", identity.error().message);
    return 1;
  }
  // A client vanishing mid-write must not kill the daemon.
  ::signal(SIGPIPE, SIG_IGN);
  // Few malloc arenas: the thread pool's short bursts must not leave one arena of freed
  // memory per thread behind (idle RSS after load).
  ::mallopt(M_ARENA_MAX, 2);
  // A fixed mmap threshold: glibc would otherwise raise it (up to 32 MiB) after each large
  // free, and later large buffers would then stay in the heap. (argon2id's 19 MiB work area
  // is mapped by libsodium itself and returned after every login either way.)
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);

  uv_loop_t* loop = uv_default_loop();
  int exit_code = 0;
  {
    service::Server server(loop);
    if (auto r = server.bind(config); !r) {
      log_line("postroomd: ", r.error().message);
      exit_code = 1;
    } else if (auto settled = daemon::settle_identity(*config, *identity); !settled) {
      // Root (or a capability) must not outlive a failed drop: stop before serving anything.
      log_line("postroomd: ", settled.error().message);
      exit_code = 1;
      server.stop();
    }
    std::unique_ptr<net::Signal> term, interrupt, hangup;
    auto stop = [&] {
      term.reset();
      interrupt.reset();
      hangup.reset();
      server.stop();
    };
    auto cannot_open = [&](const Error& why) {
      log_line("postroomd: cannot open the store: ", why.message);
      exit_code = 1;
      stop();
    };
    if (exit_code == 0) {
      auto opened = server.open_store([&](Result<void> ready) {
        if (!ready) return cannot_open(ready.error());
        log_line("postroomd ready (config ", path, ")");
      });
      if (!opened) cannot_open(opened.error());
    }
    if (exit_code == 0) {
      term = std::make_unique<net::Signal>(loop, SIGTERM, stop);
      interrupt = std::make_unique<net::Signal>(loop, SIGINT, stop);
      hangup = std::make_unique<net::Signal>(loop, SIGHUP, [&] {
        auto fresh = load_or_report(path, "reload failed, keeping the running config: ");
        if (!fresh) return;
        // The process switched accounts once, at start; it cannot switch again.
        if (fresh->user != config->user || fresh->run_as_root != config->run_as_root)
          log_line("reload: user or run_as_root changed; it takes effect at the next restart");
        server.reload(fresh);
      });
    }
    uv_run(loop, UV_RUN_DEFAULT);
  }
  // Closing handles queued by destructors still needs their callbacks.
  uv_run(loop, UV_RUN_DEFAULT);
  if (uv_loop_close(loop) != 0) log_line("postroomd: handles left open at exit");
  if (exit_code == 0) log_line("postroomd stopped");
  return exit_code;
}

}  // namespace
