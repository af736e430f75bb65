// Runs a ClientSession against a scripted server and renders what it did as a transcript.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "postroom/relay/client_session.hpp"

namespace postroom::relay::test {

// A transcript, one event per line (leading spaces and blank lines ignored):
//   S: text       a server reply line, fed to the session (consecutive S lines form one write)
//   C: text       a line the client sent ("C:" alone for an empty line)
//   == tls        the session asked for TLS; the helper calls on_tls_started() at once
//   == body       the session asked for the body; the helper streams it and calls end_body()
//   == done       the session reported its results
//   == close      the session closed the connection
//   == ready      the session is idle and can take another envelope (ClientParams::reuse)
//   !! next A B   the helper calls next_envelope() with the same sender, recipients A B
//   !! quit       the helper calls quit()
//   !! timeout    the helper calls on_timeout()
//   !! disconnect the helper calls on_disconnected()
//   !! tls-failed the helper calls on_tls_failed("handshake failure")
// S and !! lines are input; the rest is what the session must produce.
// What the scripted harnesses share: reading a script, feeding consecutive S lines to the
// state machine as one write (whole or byte by byte), handing "!!" and "<<" lines to
// input(), draining its actions after each, and logging what the client sent as C lines.
class ScriptPlayer {
 public:
  virtual ~ScriptPlayer() = default;

 protected:
  // The produced transcript for `script`.
  std::string play_script(std::string_view script, bool byte_by_byte);
  void log(const std::string& line);
  // Bytes the client sent: each complete line becomes "C: line".
  void client_bytes(std::string_view bytes);

  virtual void feed(std::string_view bytes) = 0;
  virtual void input(const std::string& line) = 0;
  virtual void drain() = 0;

 private:
  std::string transcript_;
  std::string client_partial_;
};

struct Run {
  std::string transcript;                // the produced transcript, normalized like the script
  std::vector<RecipientResult> results;  // the last Done's
  std::vector<std::vector<RecipientResult>> dones;  // every Done's, in order
  std::vector<bool> unanswered;                     // every Done's flag, in order
  std::vector<bool> sensitive_sends;                // per Send action, in order
};

struct Feeding {
  bool byte_by_byte = false;   // server bytes one at a time
  std::size_t body_chunk = 0;  // body chunk size; 0: the whole body at once
};

Run run(const ClientParams& params, std::string_view script, std::string_view body,
        Feeding feeding);

// The script with the normalization run() applies to its own output.
std::string normalize(std::string_view script);

// Runs the script fed whole and byte by byte, with the body whole, in 1-octet
// and in 7-octet chunks; CHECKs each produced transcript against the script
// and that every run gives the same results, which it returns.
std::vector<RecipientResult> check_transcript(const ClientParams& params, std::string_view script,
                                              std::string_view body = "");

// As check_transcript, for a session that carries several envelopes: returns every Done's
// results, in order.
std::vector<std::vector<RecipientResult>> check_transcript_dones(const ClientParams& params,
                                                                 std::string_view script,
                                                                 std::string_view body = "");

}  // namespace postroom::relay::test
