// Runs the openspf.org RFC 7208 test suite (tests/data/rfc7208-tests.yml) through spf_check,
// every case, with DNS answered from each scenario's zonedata the way pyspf's driver does
// (test/testspf.py): SPF-type records stand in for TXT where a name has no TXT, "TIMEOUT"
// makes lookups of types not yet seen fail temporarily, CNAMEs are followed one level.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

#include "postroom/mailauth/spf.hpp"

using namespace postroom::mailauth;

namespace {

struct Entry {
  std::string type;                 // "A", "TXT", ..., or "TIMEOUT"
  std::vector<std::string> values;  // TXT strings, MX {pref, host}, or one value
  bool timeout_value = false;       // the value itself is TIMEOUT
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class ZoneDns final : public DnsView {
 public:
  explicit ZoneDns(const YAML::Node& zonedata) {
    for (auto it = zonedata.begin(); it != zonedata.end(); ++it) {
      std::string name = lower(it->first.as<std::string>());
      std::vector<Entry> entries;
      std::vector<Entry> generated;
      bool generate = true;
      // Copies of the nodes: yaml-cpp's iterator proxies die with their full expression.
      YAML::Node records = it->second;
      for (const YAML::Node& record : records) {
        if (record.IsScalar()) {
          entries.push_back({record.as<std::string>(), {}, false});
          continue;
        }
        for (auto field = record.begin(); field != record.end(); ++field) {
          Entry e;
          e.type = field->first.as<std::string>();
          YAML::Node value = field->second;
          if (value.IsSequence()) {
            for (const YAML::Node& v : value) e.values.push_back(v.as<std::string>());
          } else {
            e.values.push_back(value.as<std::string>());
          }
          if (e.type == "TXT") generate = false;
          if (e.type == "SPF" && generate) {
            Entry txt = e;
            txt.type = "TXT";
            generated.push_back(txt);
          }
          bool none =
              (e.type == "TXT" || e.type == "SPF") && e.values.size() == 1 && e.values[0] == "NONE";
          e.timeout_value = e.values.size() == 1 && e.values[0] == "TIMEOUT";
          if (!none) entries.push_back(e);
        }
      }
      if (generate)
        for (auto& g : generated) entries.push_back(g);
      zone_[name] = std::move(entries);
    }
  }

  std::optional<DnsAnswer> lookup(DnsType type, const std::string& name_in) override {
    return resolve(type, name_in, 0);
  }

 private:
  DnsAnswer resolve(DnsType type, const std::string& name_in, int level) {
    // pyspf's driver drops empty labels and refuses labels over 63 octets.
    std::string name;
    std::size_t start = 0;
    while (start <= name_in.size()) {
      std::size_t dot = name_in.find('.', start);
      if (dot == std::string::npos) dot = name_in.size();
      std::string label = name_in.substr(start, dot - start);
      if (label.size() > 63) return {DnsStatus::temporary, {}};
      if (!label.empty()) name += (name.empty() ? "" : ".") + label;
      start = dot + 1;
    }
    name = lower(name);
    auto it = zone_.find(name);
    if (it == zone_.end()) {
      if (name.starts_with("error.")) return {DnsStatus::temporary, {}};
      return {DnsStatus::not_found, {}};
    }
    std::string wanted = dns_type_name(type);
    DnsAnswer answer{DnsStatus::ok, {}};
    bool seen = false;
    for (const Entry& e : it->second) {
      if (e.type == "TIMEOUT") {
        if (!seen) return {DnsStatus::temporary, {}};
        break;
      }
      if (e.type == wanted) seen = true;
      if (e.timeout_value) {
        if (e.type == wanted) return {DnsStatus::temporary, {}};
        continue;
      }
      if (e.type == wanted) {
        if (type == DnsType::txt) {
          std::string joined;
          for (const auto& s : e.values) joined += s;
          answer.records.push_back(joined);
        } else if (type == DnsType::mx) {
          answer.records.push_back(e.values.size() > 1 ? e.values[1] : "");
        } else {
          answer.records.push_back(e.values[0]);
        }
      } else if (e.type == "CNAME" && level == 0) {
        DnsAnswer target = resolve(type, e.values[0], 1);
        if (target.status == DnsStatus::temporary) return target;
        for (auto& r : target.records) answer.records.push_back(r);
      }
    }
    if (answer.records.empty()) answer.status = DnsStatus::no_data;
    return answer;
  }

  std::map<std::string, std::vector<Entry>> zone_;
};

}  // namespace

TEST_CASE("spf: the RFC 7208 test suite, every case, through spf_check") {
  std::vector<YAML::Node> scenarios = YAML::LoadAllFromFile(POSTROOM_SPF_SUITE);
  REQUIRE(scenarios.size() == 16);
  int cases = 0;
  int failed = 0;
  for (const YAML::Node& scenario : scenarios) {
    YAML::Node tests = scenario["tests"];
    for (auto it = tests.begin(); it != tests.end(); ++it) {
      std::string id = it->first.as<std::string>();
      YAML::Node t = it->second;
      ZoneDns dns(scenario["zonedata"]);
      std::string helo = t["helo"].as<std::string>();
      std::string host = t["host"].as<std::string>();
      std::string mailfrom = t["mailfrom"].as<std::string>();
      SpfRequest request = mailfrom.empty() ? spf_helo_request(host, helo)
                                            : spf_mail_from_request(host, mailfrom, helo);
      request.default_explanation = "DEFAULT";
      auto outcome = spf_check(request, dns);
      ++cases;
      REQUIRE(outcome.has_value());  // the zone answers every lookup at once
      std::vector<std::string> accepted;
      if (t["result"].IsSequence()) {
        YAML::Node results = t["result"];
        for (const YAML::Node& r : results) accepted.push_back(r.as<std::string>());
      } else {
        accepted.push_back(t["result"].as<std::string>());
      }
      std::string got = spf_result_name(outcome->result);
      bool ok = std::find(accepted.begin(), accepted.end(), got) != accepted.end();
      if (ok && t["explanation"] && outcome->result == SpfResult::fail)
        ok = outcome->explanation == t["explanation"].as<std::string>();
      if (!ok) {
        ++failed;
        std::string want;
        for (auto& a : accepted) want += a + " ";
        MESSAGE(id << ": want " << want << "got " << got << " (" << outcome->reason
                   << ") explanation \"" << outcome->explanation << "\"");
      }
    }
  }
  CHECK(cases == 203);
  CHECK(failed == 0);
}
