// The scripted world behind the outbound attempt's transcript tests.
#include "attempt_transcript.hpp"

#include <doctest/doctest.h>

#include <sstream>

#include "transcript.hpp"

namespace postroom::relay::test {

namespace {

std::vector<std::string> words(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

LookupStatus status_word(const std::string& word) {
  if (word == "nodata") return LookupStatus::no_data;
  if (word == "nxdomain") return LookupStatus::not_found;
  return LookupStatus::temporary;
}

class World : public ScriptPlayer {
 public:
  World(const AttemptParams& params, std::string_view body, bool byte_by_byte)
      : attempt_(params),
        envelope_(params.client.envelope),
        body_(body),
        byte_by_byte_(byte_by_byte) {}

  AttemptRun play(std::string_view script) {
    attempt_.start();
    drain();
    run_.transcript = play_script(script, byte_by_byte_);
    return std::move(run_);
  }

 private:
  void feed(std::string_view bytes) override { attempt_.on_data(bytes); }

  void input(const std::string& line) override {
    auto w = words(line);
    if (w[0] == "!!") {
      if (w.size() > 1 && w[1] == "timeout") attempt_.on_timeout();
      return;
    }
    const std::string& what = w.size() > 1 ? w[1] : "";
    std::string rest;
    for (std::size_t i = 3; i < w.size(); ++i) rest += (rest.empty() ? "" : " ") + w[i];
    if (what == "next") {
      Envelope envelope = envelope_;
      envelope.recipients.assign(w.begin() + 2, w.end());
      attempt_.next_message(envelope);
    } else if (what == "quit") {
      attempt_.quit();
    } else if (what == "sts") {
      MtaStsLookup lookup;
      if (w.size() > 2 && w[2] != "none") {
        MtaStsPolicy policy;
        policy.mode = w[2] == "enforce" ? MtaStsMode::enforce : MtaStsMode::testing;
        policy.max_age = 86400;
        policy.id = "20260101";
        for (std::size_t i = 3; i < w.size(); ++i) policy.mx.push_back(w[i]);
        lookup.policy = policy;
      }
      attempt_.on_mta_sts(lookup);
    } else if (what == "mx") {
      MxLookup lookup;
      if (w.size() > 2 && (w[2] == "nodata" || w[2] == "nxdomain" || w[2] == "temporary")) {
        lookup.status = status_word(w[2]);
        if (lookup.status == LookupStatus::temporary) lookup.error = "timeout";
      } else {
        lookup.status = LookupStatus::ok;
        for (std::size_t i = 2; i + 1 < w.size(); i += 2)
          lookup.records.push_back({static_cast<std::uint16_t>(std::stoi(w[i])), w[i + 1]});
      }
      attempt_.on_mx(lookup);
    } else if (what == "a") {
      AddressLookup lookup;
      if (w.size() > 2 && (w[2] == "nxdomain" || w[2] == "temporary")) {
        lookup.status = status_word(w[2]);
        if (lookup.status == LookupStatus::temporary) lookup.error = "timeout";
      } else {
        lookup.status = LookupStatus::ok;
        lookup.addresses.assign(w.begin() + 2, w.end());
      }
      attempt_.on_addresses(lookup);
    } else if (what == "tlsa") {
      TlsaLookup lookup;
      if (w.size() > 2 && w[2] == "bogus") {
        lookup.failed = true;
        lookup.error = "validation failure";
      } else if (w.size() > 2 && w[2] == "secure") {
        lookup.secure = true;
        for (std::size_t i = 3; i + 3 < w.size(); i += 4)
          lookup.records.push_back({static_cast<std::uint8_t>(std::stoi(w[i])),
                                    static_cast<std::uint8_t>(std::stoi(w[i + 1])),
                                    static_cast<std::uint8_t>(std::stoi(w[i + 2])),
                                    unhex(w[i + 3])});
      }
      attempt_.on_tlsa(lookup);
    } else if (what == "connected") {
      attempt_.on_connected();
    } else if (what == "refused") {
      attempt_.on_connect_failed("failed: connection refused");
    } else if (what == "tls") {
      std::string reason = w.size() > 3 ? rest : "";
      if (w[2] == "ok") attempt_.on_tls_started();
      if (w[2] == "unverified") attempt_.on_tls_started(reason);
      if (w[2] == "failed") attempt_.on_tls_failed(reason);
    } else if (what == "closed") {
      std::string reason;
      for (std::size_t i = 2; i < w.size(); ++i) reason += (reason.empty() ? "" : " ") + w[i];
      attempt_.on_closed(reason);
    }
  }

  void drain() override {
    while (true) {
      auto actions = attempt_.take_actions();
      if (actions.empty()) return;
      for (AttemptAction& action : actions) {
        if (auto* send = std::get_if<Send>(&action)) {
          client_bytes(send->bytes);
          continue;
        }
        log(describe(action));
        if (std::holds_alternative<NeedBody>(action)) {
          attempt_.send_body_chunk(body_);
          attempt_.end_body();
        } else if (std::holds_alternative<Disconnect>(action)) {
          attempt_.on_closed("closed by us");
        } else if (auto* report = std::get_if<Report>(&action)) {
          run_.results = report->results;
          run_.reported.push_back(report->results);
          ++run_.reports;
        } else if (std::holds_alternative<Finished>(action)) {
          ++run_.finishes;
        }
      }
    }
  }

  Attempt attempt_;
  Envelope envelope_;
  std::string body_;
  bool byte_by_byte_;
  AttemptRun run_;
};

}  // namespace

AttemptRun run_attempt(const AttemptParams& params, std::string_view script, std::string_view body,
                       bool byte_by_byte) {
  return World(params, body, byte_by_byte).play(script);
}

std::vector<RecipientResult> check_attempt(const AttemptParams& params, std::string_view script,
                                           std::string_view body) {
  auto reported = check_attempt_messages(params, script, 1, body);
  return reported.empty() ? std::vector<RecipientResult>{} : reported.back();
}

std::vector<std::vector<RecipientResult>> check_attempt_messages(const AttemptParams& params,
                                                                 std::string_view script,
                                                                 int messages,
                                                                 std::string_view body) {
  const std::string expected = normalize(script);
  std::vector<std::vector<RecipientResult>> first;
  for (bool bytewise : {false, true}) {
    CAPTURE(bytewise);
    AttemptRun run = run_attempt(params, script, body, bytewise);
    CHECK(run.transcript == expected);
    CHECK(run.reports == messages);
    CHECK(run.finishes == 1);
    if (!bytewise) first = run.reported;
  }
  return first;
}

}  // namespace postroom::relay::test
