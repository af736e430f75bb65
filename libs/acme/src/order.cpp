// The RFC 8555 issuance state machine: directory, account, order, challenges, finalize, download.
#include "postroom/acme/order.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace postroom::acme {

namespace {

using nlohmann::json;

// Polling pauses: quick at first (a CA validates in a second or two), then slower.
constexpr std::int64_t kFirstPollMs = 250;
constexpr std::int64_t kMaxPollMs = 5000;

json parse(const std::string& text) {
  return json::parse(text, nullptr, false);
}

std::string text(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// RFC 8555 §6.7 / RFC 7807: "type: detail" of a problem document, or the HTTP status.
std::string problem(const Response& r) {
  if (r.status == 0) return r.error.empty() ? "no answer" : r.error;
  json j = parse(r.body);
  std::string type = text(j, "type"), detail = text(j, "detail");
  const std::string prefix = "urn:ietf:params:acme:error:";
  if (type.starts_with(prefix)) type = type.substr(prefix.size());
  std::string out = "HTTP " + std::to_string(r.status);
  if (!type.empty()) out += " " + type;
  if (!detail.empty()) out += ": " + detail;
  return out;
}

bool is_bad_nonce(const Response& r) {
  return r.status == 400 && text(parse(r.body), "type") == "urn:ietf:params:acme:error:badNonce";
}

const char* type_name(ChallengeType t) {
  return t == ChallengeType::http01 ? "http-01" : "tls-alpn-01";
}

// The first error found in an invalid authorization: its challenges' error documents.
std::string authorization_error(const json& authz) {
  std::string name = text(authz.value("identifier", json::object()), "value");
  if (authz.contains("challenges") && authz["challenges"].is_array()) {
    for (const auto& c : authz["challenges"]) {
      if (c.is_object() && c.contains("error")) {
        const json& e = c["error"];
        std::string type = text(e, "type");
        const std::string prefix = "urn:ietf:params:acme:error:";
        if (type.starts_with(prefix)) type = type.substr(prefix.size());
        return name + ": " + text(c, "type") + " failed: " + type + ": " + text(e, "detail");
      }
    }
  }
  return name + ": the authorization is " + text(authz, "status");
}

}  // namespace

Order::Order(OrderSettings settings, EcKey account_key)
    : settings_(std::move(settings)), key_(std::move(account_key)) {}

void Order::enter(State next) {
  state_ = next;
}

void Order::fail(std::string why) {
  error_ = std::move(why);
  post_.reset();
  enter(State::failed);
}

void Order::post(std::string url, std::string payload) {
  post_ = Post{std::move(url), std::move(payload)};
}

Step Order::signed_request() {
  // §6.2: the protected header names the key by jwk for newAccount, else by the account URL.
  json header = {{"alg", "ES256"}, {"nonce", nonce_}, {"url", post_->url}};
  if (account_url_.empty())
    header["jwk"] = json::parse(key_.jwk());
  else
    header["kid"] = account_url_;
  nonce_.clear();  // each nonce is good for one request (§6.5)
  std::string protected64 = base64url(header.dump());
  std::string payload64 = base64url(post_->payload);
  auto signature = key_.sign(protected64 + "." + payload64);
  if (!signature) {
    fail(signature.error().message);
    return next();
  }
  json body = {
      {"protected", protected64}, {"payload", payload64}, {"signature", base64url(*signature)}};
  Step step;
  step.kind = Step::Kind::request;
  step.request = {Request::Method::post, post_->url, body.dump()};
  in_flight_ = true;
  return step;
}

Step Order::poll_wait() {
  wait_first_ = false;
  Step step;
  step.kind = Step::Kind::wait;
  // 250 ms, 500 ms, 1 s, ... up to 5 s between polls.
  step.wait_ms = std::min(kMaxPollMs, kFirstPollMs << std::min(polls_, 5));
  return step;
}

Step Order::next() {
  Step step;
  if (state_ == State::done) {
    step.kind = Step::Kind::done;
    step.certificate = certificate_;
    return step;
  }
  if (state_ == State::failed) {
    step.kind = Step::Kind::failed;
    step.error = error_;
    return step;
  }
  if (state_ == State::directory) {
    step.kind = Step::Kind::request;
    step.request = {Request::Method::get, settings_.directory_url, {}};
    in_flight_ = true;
    return step;
  }
  if (state_ == State::publish) {
    step.kind = Step::Kind::publish;
    step.challenge = pending_[index_].challenge;
    if (++index_ == pending_.size()) {
      index_ = 0;
      enter(State::respond);
      post(pending_[0].challenge_url, "{}");
    }
    return step;
  }
  if (wait_first_) return poll_wait();
  if (!post_) {
    fail("internal error: nothing to ask the CA");
    return next();
  }
  if (nonce_.empty()) {
    // §7.2: a fresh nonce from newNonce when the last answer gave none.
    step.kind = Step::Kind::request;
    step.request = {Request::Method::head, new_nonce_url_, {}};
    fetching_nonce_ = true;
    in_flight_ = true;
    return step;
  }
  return signed_request();
}

void Order::on_response(const Response& response) {
  if (!in_flight_) return;
  in_flight_ = false;
  if (!response.nonce.empty()) nonce_ = response.nonce;
  if (fetching_nonce_) {
    fetching_nonce_ = false;
    if (response.nonce.empty())
      fail("the CA's newNonce gave no Replay-Nonce: " + problem(response));
    return;
  }
  if (post_ && is_bad_nonce(response)) {
    // §6.5: retry with the nonce this answer carried (or a fresh one).
    if (++nonce_retries_ > kMaxNonceRetries) return fail("the CA refused nonces repeatedly");
    return;
  }
  nonce_retries_ = 0;
  handle(response);
}

void Order::handle(const Response& r) {
  const bool ok = r.status >= 200 && r.status < 300;
  switch (state_) {
    case State::directory: {
      if (!ok) return fail("directory " + settings_.directory_url + ": " + problem(r));
      json d = parse(r.body);
      new_nonce_url_ = text(d, "newNonce");
      new_account_url_ = text(d, "newAccount");
      new_order_url_ = text(d, "newOrder");
      if (new_nonce_url_.empty() || new_account_url_.empty() || new_order_url_.empty())
        return fail("directory " + settings_.directory_url + " is not an ACME directory");
      json account = {{"termsOfServiceAgreed", true}};
      if (!settings_.contact.empty())
        account["contact"] = json::array({"mailto:" + settings_.contact});
      enter(State::account);
      return post(new_account_url_, account.dump());
    }
    case State::account: {
      if (!ok) return fail("account: " + problem(r));
      if (r.location.empty()) return fail("account: the CA gave no account URL");
      account_url_ = r.location;
      json identifiers = json::array();
      for (const auto& name : settings_.names)
        identifiers.push_back({{"type", "dns"}, {"value", name}});
      enter(State::new_order);
      return post(new_order_url_, json{{"identifiers", identifiers}}.dump());
    }
    case State::new_order: {
      if (!ok) return fail("new order: " + problem(r));
      json o = parse(r.body);
      order_url_ = r.location;
      finalize_url_ = text(o, "finalize");
      if (o.contains("authorizations") && o["authorizations"].is_array())
        for (const auto& a : o["authorizations"])
          if (a.is_string()) authorizations_.push_back(a.get<std::string>());
      if (order_url_.empty() || finalize_url_.empty() || authorizations_.empty())
        return fail("new order: the CA's answer lacks the order URL, finalize or authorizations");
      index_ = 0;
      enter(State::fetch_authorizations);
      return post(authorizations_[0]);
    }
    case State::fetch_authorizations: {
      if (!ok) return fail("authorization: " + problem(r));
      json a = parse(r.body);
      std::string status = text(a, "status");
      std::string name = text(a.value("identifier", json::object()), "value");
      if (status == "pending") {
        const char* wanted = type_name(settings_.challenge);
        bool found = false;
        if (a.contains("challenges") && a["challenges"].is_array()) {
          for (const auto& c : a["challenges"]) {
            if (text(c, "type") != wanted) continue;
            std::string token = text(c, "token"), url = text(c, "url");
            // §8.1: tokens are base64url; anything else must not reach a path or a file.
            if (token.empty() || url.empty() ||
                token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789-_") != std::string::npos)
              break;
            Challenge ch{settings_.challenge, name, token, token + "." + key_.thumbprint()};
            pending_.push_back({authorizations_[index_], url, ch});
            found = true;
            break;
          }
        }
        if (!found) return fail(name + ": the CA offers no usable " + wanted + " challenge");
      } else if (status != "valid") {
        return fail(authorization_error(a));
      }
      if (++index_ < authorizations_.size()) return post(authorizations_[index_]);
      index_ = 0;
      if (pending_.empty()) {
        // Every name was validated recently (§7.1.4 authorization reuse).
        enter(State::finalize);
        return post(finalize_url_, json{{"csr", base64url(settings_.csr_der)}}.dump());
      }
      return enter(State::publish);
    }
    case State::respond: {
      if (!ok) return fail(pending_[index_].challenge.name + ": challenge: " + problem(r));
      if (++index_ < pending_.size()) return post(pending_[index_].challenge_url, "{}");
      index_ = 0;
      polls_ = 0;
      enter(State::poll_authorizations);
      wait_first_ = true;
      return post(pending_[0].authorization_url);
    }
    case State::poll_authorizations: {
      if (!ok) return fail("authorization: " + problem(r));
      json a = parse(r.body);
      std::string status = text(a, "status");
      if (status == "valid") {
        if (++index_ < pending_.size()) return post(pending_[index_].authorization_url);
        enter(State::finalize);
        return post(finalize_url_, json{{"csr", base64url(settings_.csr_der)}}.dump());
      }
      if (status != "pending") return fail(authorization_error(a));
      if (++polls_ > kMaxPolls)
        return fail(pending_[index_].challenge.name + ": the CA did not validate in time");
      wait_first_ = true;
      return post(pending_[index_].authorization_url);
    }
    case State::finalize:
      if (!ok) return fail("finalize: " + problem(r));
      return handle_order(r.body, true);
    case State::poll_order:
      if (!ok) return fail("order: " + problem(r));
      return handle_order(r.body, false);
    case State::download: {
      if (!ok) return fail("certificate download: " + problem(r));
      if (r.body.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
        return fail("certificate download: the answer is not a PEM chain");
      certificate_ = r.body;
      post_.reset();
      return enter(State::done);
    }
    case State::publish:
    case State::done:
    case State::failed:
      return;
  }
}

void Order::handle_order(const std::string& body, bool from_finalize) {
  json o = parse(body);
  std::string status = text(o, "status");
  if (status == "valid") {
    certificate_url_ = text(o, "certificate");
    if (certificate_url_.empty()) return fail("order is valid but names no certificate");
    enter(State::download);
    return post(certificate_url_);
  }
  if (status == "processing" || (status == "ready" && !from_finalize)) {
    if (from_finalize) polls_ = 0;
    if (++polls_ > kMaxPolls) return fail("the CA did not issue in time");
    enter(State::poll_order);
    wait_first_ = true;
    return post(order_url_);
  }
  std::string why = "order is " + (status.empty() ? std::string("unreadable") : status);
  if (o.contains("error")) why += ": " + text(o["error"], "detail");
  fail(why);
}

}  // namespace postroom::acme
