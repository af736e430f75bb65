// The requests a POP3 session hands to its host, to be carried out in order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace postroom::pop3 {

// Write these bytes to the client (already CRLF-terminated reply lines or message data).
struct Send {
  std::string bytes;
};

// RFC 2595 §4: the "+OK" to STLS has been queued before this. Send nothing more in
// plaintext, run the TLS handshake, then call Session::on_tls_started().
struct StartTls {};

// Check a plaintext password (USER/PASS or AUTH PLAIN), then call Session::on_login_result().
// `user` is the name exactly as the client sent it; the host normalizes it.
struct Login {
  std::string user;
  std::string password;
};

// RFC 1939 §7: check that `digest` (32 lower-case hex digits) equals
// md5(timestamp + shared secret), then call Session::on_login_result().
struct LoginApop {
  std::string user;
  std::string digest;
};

// Stream the stored message through Session::on_content() and finish with
// on_content_end() (or on_content_failed()). `top_lines` is set for TOP.
struct Retrieve {
  std::int64_t id = 0;
  std::optional<std::uint64_t> top_lines;
};

// RFC 1939 §6 UPDATE state: delete these messages durably (possibly none),
// then call Session::on_update_done().
struct Update {
  std::vector<std::int64_t> deleted_ids;
};

// Flush every Send queued before this, then close the connection. `reason` is
// safe to log: it never holds a password or an AUTH payload.
struct Close {
  std::string reason;
};

using Action = std::variant<Send, StartTls, Login, LoginApop, Retrieve, Update, Close>;

// One line describing the action for a debug log; passwords and digests are
// shown as <redacted> and Send shows only its length.
std::string describe(const Action& action);

}  // namespace postroom::pop3
