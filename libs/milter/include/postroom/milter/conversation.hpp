// One message's conversation with one milter, from the MTA's side, without I/O: the host
// writes what output() gives, feeds every decoded answer to on_reply(), and reads the outcome
// once done(). Commands that expect an answer are sent one at a time; commands the milter
// said it does not answer (the SMFIP_NR_* steps) go out without waiting.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/milter/codec.hpp"

namespace postroom::milter {

// What the MTA knows before the message's data; macros by name without braces ("j",
// "client_addr"), sent at the stage each belongs to (or as the milter asks, version 6).
struct Envelope {
  std::string client_name;  // reverse name, or "[ip]" when none is known
  std::string client_ip;    // numeric; empty when unknown
  std::uint16_t client_port = 0;
  bool client_ipv6 = false;
  std::string helo;
  std::string sender;                   // without angle brackets; "" for the null path
  std::vector<std::string> recipients;  // accepted ones, in order
  std::vector<std::pair<std::string, std::string>> macros;
};

// The verdict of one milter for one message and what it asked to change.
struct Outcome {
  enum class Action { accept, reject, tempfail, discard };
  Action action = Action::accept;
  int code = 0;  // reject / tempfail: the milter's SMTP reply, or 0 for the default one
  std::string enhanced;
  std::string text;
  std::vector<Reply> edits;               // header changes, in the order given
  std::optional<std::string> quarantine;  // the milter asked to quarantine, with its reason
};

class Conversation {
 public:
  // Actions and steps this MTA offers in negotiation.
  static constexpr std::uint32_t kOfferedActions =
      action::add_headers | action::change_headers | action::quarantine | action::set_macro_list;
  static constexpr std::uint32_t kOfferedSteps =
      step::no_connect | step::no_helo | step::no_mail | step::no_rcpt | step::no_body |
      step::no_headers | step::no_eoh | step::no_reply_header | step::no_unknown | step::no_data |
      step::skip | step::no_reply_connect | step::no_reply_helo | step::no_reply_mail |
      step::no_reply_rcpt | step::no_reply_data | step::no_reply_unknown | step::no_reply_eoh |
      step::no_reply_body | step::header_leading_space;

  explicit Conversation(Envelope envelope);

  // Bytes to write now: every queued command up to and including the next one that expects
  // an answer; empty while an answer is awaited or nothing is queued.
  std::string output();
  // An answer is awaited (the host runs its timeout while this is true).
  bool awaiting_reply() const { return awaiting_; }

  // The header section is complete: each field (name, value after the colon, as stored) then
  // end-of-headers.
  void headers(const std::vector<std::pair<std::string, std::string>>& fields);
  // The next body octets; sent in chunks of at most kBodyChunk.
  void body(std::string_view bytes);
  // The message is complete: end-of-body follows the queued commands.
  void end_of_message();

  // Takes one decoded answer; an error is a protocol violation (the host gives up on this
  // milter and applies its default action).
  Result<void> on_reply(const Reply& reply);

  bool done() const { return state_ == State::done; }
  const Outcome& outcome() const { return outcome_; }
  // Octets queued and not yet handed out by output(): the host's back-pressure measure.
  std::size_t queued_bytes() const { return queued_bytes_ + pending_body_.size(); }
  // What was negotiated (after the milter's answer).
  std::uint32_t steps() const { return steps_; }
  std::uint32_t version() const { return version_; }

  // SMFIC_QUIT: the last packet on the connection.
  static std::string quit();
  // Header values a milter gives use bare LF between folded lines (sendmail's internal
  // form): this gives them back with CRLF, each continuation starting with white space, and
  // without the leading space when the milter was allowed to send it (header_leading_space).
  std::string stored_value(std::string_view milter_value) const;

 private:
  enum class State { negotiating, envelope, headers, body, end_of_message, done };
  struct Pending {
    std::string bytes;
    bool expects_reply = false;
    bool body = false;   // a body chunk (dropped when the milter answers SKIP)
    bool final = false;  // end of body
  };

  void enqueue(std::string bytes, bool expects_reply, bool body = false, bool final = false);
  void enqueue_macros(Stage stage, Command command);
  void enqueue_envelope();
  void enqueue_headers(const std::vector<std::pair<std::string, std::string>>& fields);
  void enqueue_body(std::string_view bytes);
  void enqueue_end();
  void finish(Outcome::Action action);
  std::string milter_value(std::string_view stored) const;

  Envelope envelope_;
  State state_ = State::negotiating;
  std::deque<Pending> queue_;
  std::size_t queued_bytes_ = 0;
  bool awaiting_ = false;
  bool awaiting_final_ = false;  // the awaited answer is the one to end-of-body
  bool headers_seen_ = false;
  // What the host gave before negotiation ended (the steps to skip were not known yet).
  std::vector<std::pair<std::string, std::string>> pending_headers_;
  std::string pending_body_;
  bool eom_seen_ = false;
  bool skipping_body_ = false;
  std::uint32_t version_ = 0;
  std::uint32_t actions_ = 0;
  std::uint32_t steps_ = 0;
  std::vector<std::vector<std::string>> macro_lists_;  // per stage; empty: our defaults
  Outcome outcome_;
};

}  // namespace postroom::milter
