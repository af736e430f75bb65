// The public Session: a thin handle over SessionCore, so handlers see one shared state.
#include "postroom/pop3/session.hpp"

#include <utility>

#include "session_core.hpp"

namespace postroom::pop3 {

std::string_view to_string(State state) {
  switch (state) {
    case State::authorization:
      return "authorization";
    case State::transaction:
      return "transaction";
    case State::update:
      return "update";
    case State::closed:
      return "closed";
  }
  return "unknown";
}

Session::Session(SessionParams params)
    : core_(std::make_unique<detail::SessionCore>(std::move(params))) {}
Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

void Session::feed(std::string_view bytes) {
  core_->feed(bytes);
}

std::vector<Action> Session::take_actions() {
  core_->queued_reply_bytes = 0;
  return std::exchange(core_->actions, {});
}

bool Session::replies_held() const {
  return core_->replies_held && core_->state != State::closed;
}

bool Session::waiting() const {
  return core_->pending != detail::Pending::nothing;
}
bool Session::closed() const {
  return core_->state == State::closed;
}
std::size_t Session::buffered_input() const {
  return core_->reader.buffered_size();
}

State Session::state() const {
  return core_->state;
}

const Maildrop& Session::maildrop() const {
  return core_->maildrop;
}

void Session::on_login_result(LoginOutcome outcome, Maildrop maildrop,
                              std::optional<Announced> user_policy) {
  core_->login_result(outcome, std::move(maildrop), std::move(user_policy));
}

std::vector<std::int64_t> Session::take_retrieved() {
  return std::exchange(core_->retrieved_ids, {});
}

void Session::on_content(std::string_view chunk) {
  core_->content(chunk);
}
void Session::on_content_end() {
  core_->content_end();
}
void Session::on_content_failed() {
  core_->content_failed();
}

bool Session::content_wanted() const {
  return core_->pending == detail::Pending::content && core_->retrieval &&
         core_->retrieval->encoder.wants_more();
}

void Session::on_update_done(bool ok) {
  core_->update_done(ok);
}
void Session::on_tls_started() {
  core_->tls_started();
}
void Session::set_plaintext_allowed(bool allowed) {
  core_->params.plaintext_allowed = allowed;
}

const std::string& Session::user() const {
  return core_->user;
}
bool Session::authenticated() const {
  return core_->authenticated;
}
int Session::retrieved() const {
  return core_->retrieved;
}
int Session::deleted() const {
  return core_->deleted;
}

}  // namespace postroom::pop3
