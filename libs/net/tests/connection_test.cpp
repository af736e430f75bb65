#include "postroom/net/connection.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace postroom;
using namespace postroom::net;

namespace {

// Every test ends by closing the loop with no handle left (libuv's own test style).
void run_to_completion(uv_loop_t* loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(loop) == 0);
}

}  // namespace

TEST_CASE("net: a listener on port 0 accepts, echoes and closes cleanly") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<std::shared_ptr<Connection>> served;
  std::string echoed;
  std::string server_close_reason;
  {
    auto endpoint = parse_endpoint("127.0.0.1:0");
    auto listener = Listener::bind(&loop, *endpoint, [&](std::shared_ptr<Connection> c) {
      served.push_back(c);
      c->start({.on_data = [c](std::string_view bytes) { c->write(bytes); },
                .on_close = [&](const std::string& why) { server_close_reason = why; }});
    });
    REQUIRE(listener);
    CHECK((*listener)->bound().port != 0);
    sockaddr_in address{};
    uv_ip4_addr("127.0.0.1", (*listener)->bound().port, &address);
    std::shared_ptr<Connection> client;
    Connection::connect(&loop, reinterpret_cast<sockaddr*>(&address),
                        [&](Result<std::shared_ptr<Connection>> c) {
                          REQUIRE(c);
                          client = *c;
                          client->start({.on_data =
                                             [&](std::string_view bytes) {
                                               echoed.append(bytes);
                                               if (echoed.size() >= 5) {
                                                 // close() destroys this callback: touch
                                                 // nothing captured after it.
                                                 (*listener)->close();
                                                 client->close("done");
                                               }
                                             }});
                          client->write("hello");
                        });
    run_to_completion(&loop);
  }
  CHECK(echoed == "hello");
  CHECK(server_close_reason == "peer closed");
}

TEST_CASE("net: binding a taken port is an error naming the endpoint") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    auto first = Listener::bind(&loop, *parse_endpoint("127.0.0.1:0"), [](auto) {});
    REQUIRE(first);
    auto taken = (*first)->bound();
    auto second = Listener::bind(&loop, taken, [](auto) {});
    REQUIRE_FALSE(second);
    CHECK(second.error().message.find(taken.str()) != std::string::npos);
    (*first)->close();
  }
  run_to_completion(&loop);
}

TEST_CASE("net: a connection refused is reported, and the loop still closes clean") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::string error;
  {
    // Find a free port, then close it so that nothing listens there.
    auto listener = Listener::bind(&loop, *parse_endpoint("127.0.0.1:0"), [](auto) {});
    int port = (*listener)->bound().port;
    (*listener)->close();
    sockaddr_in address{};
    uv_ip4_addr("127.0.0.1", port, &address);
    Connection::connect(&loop, reinterpret_cast<sockaddr*>(&address),
                        [&](Result<std::shared_ptr<Connection>> c) {
                          REQUIRE_FALSE(c);
                          error = c.error().message;
                        });
    run_to_completion(&loop);
  }
  CHECK_FALSE(error.empty());
}

TEST_CASE("net: timers fire once and can be stopped") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int fired = 0;
  {
    Timer once(&loop);
    Timer stopped(&loop);
    once.start(1, [&] { ++fired; });
    stopped.start(1, [&] { fired += 100; });
    stopped.stop();
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  run_to_completion(&loop);
  CHECK(fired == 1);
}
