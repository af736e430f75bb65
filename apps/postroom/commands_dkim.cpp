// postroom dkim generate|list|activate: the DKIM keys in data_dir/dkim and their rotation.
// Only public keys are ever printed.
#include <ctime>
#include <iostream>

#include "cli.hpp"
#include "postroom/base/wipe.hpp"
#include "postroom/dkim/key.hpp"
#include "postroom/dkim/key_directory.hpp"
#include "postroom/dkim/key_state.hpp"
#include "postroom/system/data_dir.hpp"

namespace postroom::cli {

namespace {

std::optional<std::int64_t> activate_after(const config::Config& config) {
  if (!config.dkim.activate_after) return std::nullopt;
  return config.dkim.activate_after->count();
}

std::string utc(std::int64_t when) {
  std::time_t t = static_cast<std::time_t>(when);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M UTC", &tm);
  return text;
}

// The domain as the key directory names it, if it is one of `domains`.
Result<std::string> our_domain(const config::Config& config, const std::string& text) {
  std::string domain = to_lower_ascii(text);
  if (!config.is_local_domain(domain))
    return fail("'" + text + "' is not one of domains in " + config.file.string());
  return domain;
}

// A default selector that sorts by date and says its algorithm: "20261202-rsa".
std::string default_selector(dkim::Algorithm algorithm, std::int64_t now) {
  std::time_t t = static_cast<std::time_t>(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char date[16];
  std::strftime(date, sizeof date, "%Y%m%d", &tm);
  return std::string(date) + "-" + std::string(dkim::algorithm_name(algorithm));
}

int generate(Context& ctx) {
  const Args& args = ctx.args;
  if (args.words.size() != 1)
    return usage_error(
        "usage: postroom dkim generate DOMAIN [--selector S] [--algorithm rsa|ed25519]");
  auto domain = our_domain(ctx.config, args.words[0]);
  if (!domain) return failure(domain.error().message);
  auto algorithm = dkim::Algorithm::rsa;
  if (auto it = args.values.find("--algorithm"); it != args.values.end()) {
    auto parsed = dkim::parse_algorithm(it->second);
    if (!parsed) return usage_error("--algorithm is rsa or ed25519, not '" + it->second + "'");
    algorithm = *parsed;
  }
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  std::string selector = default_selector(algorithm, now);
  if (auto it = args.values.find("--selector"); it != args.values.end()) selector = it->second;
  if (!dkim::valid_selector(selector))
    return failure("'" + selector +
                   "' is not a valid selector: DNS labels of letters, digits and inner hyphens");
  // The data directory as every other command makes it (private, owned by postroomd's user);
  // the keys live there whatever the store backend.
  if (auto ready = ready_data_dir(ctx.config); !ready) return failure(ready.error().message);
  auto pem = dkim::generate_private_key(algorithm);
  if (!pem) return failure(pem.error().message);
  auto pub = dkim::public_key(*pem);
  if (!pub) {
    wipe(*pem);
    return failure(pub.error().message);
  }
  auto created = dkim::write_new_key(ctx.config.dkim_dir(), *domain, selector, *pem,
                                     {dkim::State::published, now});
  wipe(*pem);
  if (!created) {
    std::string hint = dkim::valid_selector(selector) && !ctx.args.values.contains("--selector")
                           ? " (choose another name with --selector)"
                           : "";
    return failure(created.error().message + hint);
  }
  // Run as root: the daemon reads these after it dropped root.
  auto owner = data_owner(ctx.config);
  for (const auto& path : *created) {
    if (auto r = system::hand_over(path, owner); !r) return failure(r.error().message);
  }
  std::cout << "generated " << dkim::algorithm_name(algorithm) << " key for " << *domain
            << ", selector " << selector << ": published, not signing yet\n";
  std::cout << "publish this TXT record:\n"
            << dkim::record_name(selector, *domain) << ". IN TXT \"" << pub->record << "\"\n";
  auto after = activate_after(ctx.config);
  std::cout << "it signs ";
  if (after) std::cout << "from " << utc(now + *after) << ", or ";
  std::cout << "once you run: postroom dkim activate " << *domain << " " << selector << "\n";
  return kOk;
}

int list(Context& ctx) {
  if (!ctx.args.words.empty()) return usage_error("usage: postroom dkim list");
  auto read = dkim::read_keys(ctx.config.dkim_dir(), false);
  for (const auto& problem : read.problems) std::cerr << "postroom: dkim: " << problem << "\n";
  std::vector<dkim::KeyInfo> infos;
  for (const auto& k : read.keys) infos.push_back(k.info);
  auto states = dkim::effective_states(infos, static_cast<std::int64_t>(std::time(nullptr)),
                                       activate_after(ctx.config));
  for (std::size_t i = 0; i < read.keys.size(); ++i) {
    const auto& k = read.keys[i];
    std::cout << k.info.domain << '\t' << k.info.selector << '\t'
              << dkim::algorithm_name(k.info.algorithm) << '\t' << dkim::state_name(states[i])
              << '\t' << dkim::record_name(k.info.selector, k.info.domain) << '\t' << k.record
              << '\n';
  }
  return read.problems.empty() ? kOk : kFailed;
}

int activate(Context& ctx) {
  const Args& args = ctx.args;
  if (args.words.size() != 2) return usage_error("usage: postroom dkim activate DOMAIN SELECTOR");
  auto domain = our_domain(ctx.config, args.words[0]);
  if (!domain) return failure(domain.error().message);
  const std::string& selector = args.words[1];
  auto dir = ctx.config.dkim_dir();
  auto read = dkim::read_keys(dir, false);
  std::vector<dkim::KeyInfo> infos;
  for (const auto& k : read.keys) infos.push_back(k.info);
  auto found = std::find_if(infos.begin(), infos.end(), [&](const dkim::KeyInfo& k) {
    return k.domain == *domain && k.selector == selector;
  });
  if (found == infos.end())
    return failure("no usable key " + selector + " for " + *domain + " (see postroom dkim list)");
  auto now = static_cast<std::int64_t>(std::time(nullptr));
  auto before = dkim::effective_states(infos, now, activate_after(ctx.config));
  auto owner = data_owner(ctx.config);
  auto written = dkim::write_state(dir, *domain, selector, {dkim::State::active, now});
  if (!written) return failure(written.error().message);
  if (auto r = system::hand_over(*written, owner); !r) return failure(r.error().message);
  std::cout << "activated " << *domain << " " << selector << "\n";
  // The key it replaces stays published for mail still on its way, but signs no more.
  for (std::size_t i = 0; i < infos.size(); ++i) {
    const auto& k = infos[i];
    if (&k == &*found || k.domain != *domain || k.algorithm != found->algorithm ||
        before[i] != dkim::State::active)
      continue;
    auto retired = dkim::write_state(dir, k.domain, k.selector, {dkim::State::retired, now});
    if (!retired) return failure(retired.error().message);
    if (auto r = system::hand_over(*retired, owner); !r) return failure(r.error().message);
    std::cout << "retired " << k.domain << " " << k.selector
              << " (keep its record in DNS a few days for mail still on its way)\n";
  }
  std::cout << "reload postroomd (SIGHUP, or systemctl reload postroomd) to sign with it\n";
  return kOk;
}

}  // namespace

int dkim_command(Context& ctx, const std::string& sub) {
  if (sub == "generate") return generate(ctx);
  if (sub == "list") return list(ctx);
  return activate(ctx);
}

}  // namespace postroom::cli
