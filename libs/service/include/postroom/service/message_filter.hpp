// Filters a message passes through while it arrives by SMTP and before it is committed:
// the DKIM signer for outbound mail, SPF/DKIM/DMARC checks, milters. Each sees the
// envelope, the header section once it is complete, the body as it streams, and at the
// end gives a verdict and may edit the header section; the first verdict that is not
// `accept` decides the message.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/base/address.hpp"
#include "postroom/base/header_section.hpp"

namespace postroom::service {

// What a filter knows of the message it is created for.
struct FilterEnvelope {
  bool submission = false;     // the submission listener (587/465); else port 25
  bool authenticated = false;  // AUTH succeeded; auth_user names the account
  std::string auth_user;
  // A device password's login (device_id 0: the main password): its name and own rate.
  std::int64_t device_id = 0;
  std::string device_name;
  std::int64_t device_rate_per_hour = 0;
  bool trusted = false;                        // the client is in trusted_networks
  bool tls = false;                            // the session is encrypted
  std::string peer_ip;                         // numeric, no brackets
  std::string helo;                            // as the client gave it
  std::string hostname;                        // this server's name (Received "by", authserv-id)
  std::optional<Address> reverse_path;         // nullopt: the null reverse-path
  std::vector<Address> recipients;             // accepted, in RCPT order
  std::vector<std::string> remote_recipients;  // after alias expansion: leave this box
  bool has_local_recipients = false;           // some copy goes to a mailbox here
  std::string transaction_id;                  // as in the Received field and the log
  // Local recipients whose greylisting waits for SPF/DKIM: the sender is allow-listed, which
  // counts only when authenticated (the mail_auth filter decides).
  std::vector<Address> greylist_unless_aligned;
  // A filter whose backlog() shrank calls this: the connection reads from the client again.
  std::function<void()> backlog_shrank;
};

struct FilterVerdict {
  enum class Action {
    accept,    // go on to the next filter, then store
    reject,    // refuse with `reply` (5xx), store nothing
    tempfail,  // refuse with `reply` (4xx), store nothing
    discard,   // answer 250 but store nothing (a milter's DISCARD)
  };
  Action action = Action::accept;
  int code = 0;          // the reply for reject/tempfail: 550, 451, ...
  std::string enhanced;  // "5.7.1"
  std::string text;      // one line, no CRLF
  // Words for the message's verdict log line ("spf=pass dkim=none"), whatever the action.
  std::string log;
};

// One filter for one message, owned by the connection that receives it and destroyed when
// the message is committed or abandoned. Methods run on the loop thread. A filter that
// needs DNS, a socket or a worker thread does that asynchronously and never blocks the
// loop. Destroying a filter cancels whatever it waits for; `done` is never called after.
class MessageFilter {
 public:
  virtual ~MessageFilter() = default;
  // The header section has ended (or the message ended inside it); the body follows.
  // `headers` excludes the Return-Path line this server adds.
  virtual void headers_complete(const HeaderSection& headers) { (void)headers; }
  // The next body octets after the empty line, as stored (CRLF line ends, dot-unstuffed).
  virtual void body(std::string_view bytes) { (void)bytes; }
  // Body octets taken and not yet passed on (to a milter that reads slower than the client
  // sends): while the chain's backlog is high the connection stops reading from the client,
  // as it does while the store is behind.
  virtual std::size_t backlog() const { return 0; }
  // The message is complete. Edit `headers` if needed (it lives until `done` is called),
  // then call `done` exactly once, now or later.
  virtual void finish(HeaderSection& headers, std::function<void(FilterVerdict)> done) = 0;
};

// Makes the filter for one message, or nullptr when it has nothing to do for it (the DKIM
// signer for a message that stays local, the inbound checks for an authenticated user).
using FilterFactory = std::function<std::unique_ptr<MessageFilter>(const FilterEnvelope&)>;

}  // namespace postroom::service
