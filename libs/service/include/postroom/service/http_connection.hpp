// One HTTP(S) connection: requests framed by http::RequestReader, answered by http::plan.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "postroom/http/message.hpp"
#include "postroom/http/metrics.hpp"
#include "postroom/http/site.hpp"
#include "postroom/net/connection.hpp"
#include "postroom/net/handles.hpp"
#include "postroom/service/served.hpp"

namespace postroom::service {

struct Context;

// What the HTTP listeners answer with, rebuilt by the server at start and reload.
struct HttpSite {
  http::Site site;
  std::vector<std::string> listeners;  // "smtp 127.0.0.1:25", one per bound listener
  std::function<http::LatencyHistogram()> commit_latency;
};

// One request at a time: while an answer waits for the store or a login check, reading
// pauses (pipelined requests wait in the socket). The whole request, and a kept-alive
// connection's next one, must arrive within http.request_timeout of the previous answer.
class HttpConnection : public Served, public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(Context& context, std::shared_ptr<net::Connection> connection, bool https);
  void start() override;
  void shutdown() override;
  void abort() override { connection_->close("shutdown deadline"); }

  // Connection events (session_wiring.hpp).
  void on_data(std::string_view bytes);
  void on_tls_started() {}
  void on_closed(const std::string& reason);

 private:
  void process();
  void handle(http::Request request);  // by value: its Authorization field is wiped
  void answer(const http::Request& request, http::Response response);
  void restart_deadline();

  Context& context_;
  std::shared_ptr<net::Connection> connection_;
  bool https_;
  std::string id_;
  http::RequestReader reader_;
  net::Timer deadline_;
  bool busy_ = false;  // an answer is being prepared
  bool stopping_ = false;
  int requests_ = 0;
};

}  // namespace postroom::service
