// What every served protocol session wires the same way: connection events and idle timer.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "postroom/base/units.hpp"
#include "postroom/net/connection.hpp"
#include "postroom/net/handles.hpp"

namespace postroom::service {

// Data goes to owner->on_data; a TLS session set up by STARTTLS/STLS to on_tls_started
// (implicit TLS needs no notice: the session began with it); the close to on_closed. Only
// on_close holds the owner strongly: it lives until its connection has closed.
template <class Owner>
net::ConnectionEvents session_events(const std::shared_ptr<Owner>& owner, bool implicit_tls) {
  std::weak_ptr<Owner> weak = owner;
  return {
      .on_data =
          [weak](std::string_view bytes) {
            if (auto s = weak.lock()) s->on_data(bytes);
          },
      .on_tls_ready =
          [weak, implicit_tls] {
            if (auto s = weak.lock(); s && !implicit_tls) s->on_tls_started();
          },
      .on_close = [owner](const std::string& reason) { owner->on_closed(reason); },
  };
}

// (Re)starts the idle timer: after `timeout` without a call, owner->on_idle runs.
template <class Owner>
void restart_idle_timer(net::Timer& timer, Seconds timeout, const std::shared_ptr<Owner>& owner) {
  std::weak_ptr<Owner> weak = owner;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  timer.start(static_cast<std::uint64_t>(ms), [weak] {
    if (auto s = weak.lock()) s->on_idle();
  });
}

// Starts a deadline: after `after`, expired(owner) runs unless the timer was stopped. Unlike
// the idle timer, traffic does not restart it, so a client trickling a byte now and then
// cannot hold its connection past it.
template <class Owner, class Expired>
void start_deadline(net::Timer& timer, std::chrono::milliseconds after,
                    const std::shared_ptr<Owner>& owner, Expired expired) {
  std::weak_ptr<Owner> weak = owner;
  timer.start(static_cast<std::uint64_t>(std::max<std::int64_t>(after.count(), 1)),
              [weak, expired] {
                if (auto s = weak.lock()) expired(*s);
              });
}

}  // namespace postroom::service
