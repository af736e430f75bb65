// The scripted-server harness behind the client session's transcript tests.
#include "transcript.hpp"

#include <doctest/doctest.h>

namespace postroom::relay::test {

namespace {

std::vector<std::string> script_lines(std::string_view script) {
  std::vector<std::string> lines;
  while (!script.empty()) {
    std::size_t end = script.find('\n');
    std::string_view line = script.substr(0, end);
    script.remove_prefix(end == std::string_view::npos ? script.size() : end + 1);
    std::size_t start = line.find_first_not_of(' ');
    if (start == std::string_view::npos) continue;
    lines.emplace_back(line.substr(start));
  }
  return lines;
}

std::string render(std::string_view prefix, std::string_view text) {
  std::string out(prefix);
  if (!text.empty()) {
    out += ' ';
    out += text;
  }
  return out;
}

class Harness : public ScriptPlayer {
 public:
  Harness(const ClientParams& params, std::string_view body, Feeding feeding)
      : session_(params), envelope_(params.envelope), body_(body), feeding_(feeding) {}

  Run play(std::string_view script) {
    drain();
    run_.transcript = play_script(script, feeding_.byte_by_byte);
    return std::move(run_);
  }

 private:
  void feed(std::string_view bytes) override { session_.feed(bytes); }

  void input(const std::string& line) override {
    if (line == "!! timeout") session_.on_timeout();
    if (line == "!! disconnect") session_.on_disconnected();
    if (line == "!! tls-failed") session_.on_tls_failed("handshake failure");
    if (line == "!! quit") session_.quit();
    if (line.starts_with("!! next")) {
      Envelope envelope = envelope_;
      envelope.recipients.clear();
      std::string_view rest = std::string_view(line).substr(7);
      while (!rest.empty()) {
        std::size_t start = rest.find_first_not_of(' ');
        if (start == std::string_view::npos) break;
        rest.remove_prefix(start);
        std::size_t end = rest.find(' ');
        envelope.recipients.emplace_back(rest.substr(0, end));
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
      }
      session_.next_envelope(envelope);
    }
  }

  void drain() override {
    while (true) {
      std::vector<Action> actions = session_.take_actions();
      if (actions.empty()) return;
      for (Action& action : actions) {
        if (auto* send = std::get_if<Send>(&action)) {
          run_.sensitive_sends.push_back(send->sensitive);
          client_bytes(send->bytes);
        } else if (std::holds_alternative<StartTls>(action)) {
          log("== tls");
          session_.on_tls_started();
        } else if (std::holds_alternative<NeedBody>(action)) {
          log("== body");
          std::string_view rest = body_;
          std::size_t chunk = feeding_.body_chunk == 0 ? rest.size() : feeding_.body_chunk;
          while (!rest.empty()) {
            session_.send_body_chunk(rest.substr(0, chunk));
            rest.remove_prefix(std::min(chunk, rest.size()));
          }
          session_.end_body();
        } else if (auto* done = std::get_if<Done>(&action)) {
          log("== done");
          run_.results = done->results;
          run_.dones.push_back(done->results);
          run_.unanswered.push_back(done->unanswered);
        } else if (std::holds_alternative<Ready>(action)) {
          log("== ready");
        } else if (std::holds_alternative<Close>(action)) {
          log("== close");
        }
      }
    }
  }

  ClientSession session_;
  Envelope envelope_;
  std::string body_;
  Feeding feeding_;
  Run run_;
};

bool same_results(const std::vector<RecipientResult>& a, const std::vector<RecipientResult>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].address != b[i].address || a[i].kind != b[i].kind || a[i].reply != b[i].reply ||
        a[i].code != b[i].code || a[i].status != b[i].status) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string ScriptPlayer::play_script(std::string_view script, bool byte_by_byte) {
  std::string group;
  auto flush = [&] {
    if (group.empty()) return;
    if (byte_by_byte) {
      for (char c : group) {
        feed(std::string_view(&c, 1));
        drain();
      }
    } else {
      feed(group);
      drain();
    }
    group.clear();
  };
  for (const std::string& line : script_lines(script)) {
    if (line.starts_with("S:")) {
      log(line);
      std::string_view text = std::string_view(line).substr(2);
      if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
      group += text;
      group += "\r\n";
      continue;
    }
    flush();
    if (line.starts_with("!!") || line.starts_with("<<")) {
      log(line);
      input(line);
      drain();
    }
  }
  flush();
  if (!client_partial_.empty()) log(render("C~", client_partial_));
  return std::move(transcript_);
}

void ScriptPlayer::log(const std::string& line) {
  transcript_ += line;
  transcript_ += '\n';
}

void ScriptPlayer::client_bytes(std::string_view bytes) {
  client_partial_ += bytes;
  std::size_t end;
  while ((end = client_partial_.find("\r\n")) != std::string::npos) {
    log(render("C:", client_partial_.substr(0, end)));
    client_partial_.erase(0, end + 2);
  }
}

std::string normalize(std::string_view script) {
  std::string out;
  for (const std::string& line : script_lines(script)) {
    out += line;
    out += '\n';
  }
  return out;
}

Run run(const ClientParams& params, std::string_view script, std::string_view body,
        Feeding feeding) {
  return Harness(params, body, feeding).play(script);
}

std::vector<RecipientResult> check_transcript(const ClientParams& params, std::string_view script,
                                              std::string_view body) {
  auto dones = check_transcript_dones(params, script, body);
  return dones.empty() ? std::vector<RecipientResult>{} : dones.back();
}

std::vector<std::vector<RecipientResult>> check_transcript_dones(const ClientParams& params,
                                                                 std::string_view script,
                                                                 std::string_view body) {
  const std::string expected = normalize(script);
  std::vector<std::vector<RecipientResult>> first;
  bool have_first = false;
  for (bool bytewise : {false, true}) {
    for (std::size_t chunk : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
      CAPTURE(bytewise);
      CAPTURE(chunk);
      Run result = run(params, script, body, Feeding{bytewise, chunk});
      CHECK(result.transcript == expected);
      if (!have_first) {
        first = result.dones;
        have_first = true;
      } else {
        CHECK(first.size() == result.dones.size());
        for (std::size_t i = 0; i < first.size() && i < result.dones.size(); ++i)
          CHECK(same_results(first[i], result.dones[i]));
      }
    }
  }
  return first;
}

}  // namespace postroom::relay::test
