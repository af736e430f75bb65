// One certificate issuance (RFC 8555 §7.4) as a sans-I/O state machine: the host performs each
// step next() returns (an HTTP request, publishing a challenge answer, a pause) and feeds
// every HTTP answer back with on_response(). The order of requests, nonces (§7.2, badNonce
// retries), JWS signing (§6.2) and polling are decided here; sockets and files are not.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "postroom/acme/crypto.hpp"

namespace postroom::acme {

enum class ChallengeType { http01, tls_alpn01 };

struct Request {
  enum class Method { get, head, post } method = Method::get;
  std::string url;
  std::string body;  // POST: a flattened JWS (Content-Type application/jose+json)
};

struct Response {
  long status = 0;       // 0: the request failed before an answer (see `error`)
  std::string location;  // Location header
  std::string nonce;     // Replay-Nonce header
  std::string body;
  std::string error;  // transport failure, when status is 0
};

// A challenge answer the host must serve until the issuance ends: for http01 the key
// authorization at /.well-known/acme-challenge/TOKEN (RFC 8555 §8.3), for tls_alpn01 a
// certificate for `name` with acmeIdentifier = SHA-256(key_authorization) under ALPN
// acme-tls/1 (RFC 8737 §3).
struct Challenge {
  ChallengeType type = ChallengeType::http01;
  std::string name;
  std::string token;
  std::string key_authorization;
};

struct Step {
  enum class Kind {
    request,  // perform `request`, then call on_response() with the answer
    publish,  // serve `challenge` (until done or failed), then call next()
    wait,     // call next() after `wait_ms`
    done,     // `certificate` is the issued chain (PEM), leaf first
    failed,   // `error` says why; the host retries later (schedule.hpp)
  };
  Kind kind = Kind::failed;
  Request request;
  Challenge challenge;
  std::int64_t wait_ms = 0;
  std::string certificate;
  std::string error;
};

struct OrderSettings {
  std::string directory_url;
  std::string contact;  // an email address; empty: none
  std::vector<std::string> names;
  ChallengeType challenge = ChallengeType::http01;
  std::string csr_der;  // make_csr() for names, with the new certificate's key
};

class Order {
 public:
  Order(OrderSettings settings, EcKey account_key);

  Step next();
  void on_response(const Response& response);

  // Polls before giving up on a CA that keeps an authorization or the order pending.
  static constexpr int kMaxPolls = 60;
  // badNonce answers retried in a row (RFC 8555 §6.5: the client should retry).
  static constexpr int kMaxNonceRetries = 5;

 private:
  enum class State {
    directory,
    account,
    new_order,
    fetch_authorizations,  // POST-as-GET each authorization, collect pending challenges
    publish,               // hand each challenge to the host
    respond,               // tell the CA each challenge is ready (POST {})
    poll_authorizations,   // until each is valid (or one is invalid)
    finalize,
    poll_order,
    download,
    done,
    failed,
  };
  struct Pending {
    std::string authorization_url;
    std::string challenge_url;
    Challenge challenge;
  };
  struct Post {
    std::string url;
    std::string payload;  // JSON text; empty: POST-as-GET (§6.3)
  };

  void enter(State next);
  void fail(std::string why);
  void post(std::string url, std::string payload = {});
  Step signed_request();
  void handle(const Response& response);
  void handle_order(const std::string& body, bool from_finalize);
  Step poll_wait();

  OrderSettings settings_;
  EcKey key_;
  State state_ = State::directory;
  std::string error_;
  std::string certificate_;
  // From the directory (§7.1.1).
  std::string new_nonce_url_, new_account_url_, new_order_url_;
  std::string account_url_;  // the kid (§7.3)
  std::string order_url_, finalize_url_, certificate_url_;
  std::vector<std::string> authorizations_;
  std::vector<Pending> pending_;
  std::size_t index_ = 0;  // the authorization or pending challenge being worked on
  std::string nonce_;
  std::optional<Post> post_;
  bool fetching_nonce_ = false;
  bool in_flight_ = false;
  bool wait_first_ = false;  // the next poll comes after a pause
  int polls_ = 0;
  int nonce_retries_ = 0;
};

}  // namespace postroom::acme
