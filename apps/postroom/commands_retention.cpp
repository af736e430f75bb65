// postroom retention set|clear|list|show: retention and login delay per domain or user.
#include <iostream>

#include "admin_store.hpp"
#include "cli.hpp"
#include "postroom/base/units.hpp"
#include "postroom/store/retention.hpp"

namespace postroom::cli {

namespace {

constexpr const char* kRetentionUsage =
    "usage: postroom retention set ADDRESS|DOMAIN [--retrieved D|never] [--max-age D|never] "
    "[--login-delay D|none] | clear ADDRESS|DOMAIN | list | show ADDRESS";

// A flag's value as stored: seconds, or kNever for `never_word`.
Result<std::optional<std::int64_t>> flag_value(const Args& args, const std::string& flag,
                                               std::string_view never_word, bool zero_allowed) {
  auto it = args.values.find(flag);
  if (it == args.values.end()) return std::nullopt;
  if (it->second == never_word) return store::kNever;
  auto d = parse_duration(it->second);
  if (!d) return fail(flag + ": " + d.error().message + " (or " + std::string(never_word) + ")");
  if (d->count() == 0 && !zero_allowed) return fail(flag + ": must be longer than 0s");
  return d->count();
}

// A domain of `domains`, or a full address in one of them; lower-case.
Result<std::string> scope_of(const config::Config& config, const std::string& text) {
  if (text.find('@') == std::string::npos) {
    std::string domain = to_lower_ascii(text);
    if (!config.is_local_domain(domain))
      return fail("'" + domain + "' is not one of the configured domains");
    return domain;
  }
  auto address = local_address(config, text);
  if (!address) return std::unexpected(address.error());
  return address->str();
}

std::string show(const std::optional<std::int64_t>& value, const char* never_word) {
  if (!value) return "-";  // as the domain or the config says
  if (*value == store::kNever) return never_word;
  return format_duration(Seconds(*value));
}

std::string show_policy_value(const std::optional<std::int64_t>& seconds) {
  return seconds ? format_duration(Seconds(*seconds)) : "never";
}

}  // namespace

int retention_command(Context& ctx, const std::string& sub) {
  const Args& args = ctx.args;
  std::size_t words = (sub == "list") ? 0 : 1;
  if (args.words.size() != words) return usage_error(kRetentionUsage);
  bool has_values = !args.values.empty();
  if (sub != "set" && has_values) return usage_error(kRetentionUsage);
  if (sub == "set" && !has_values)
    return usage_error("retention set needs --retrieved, --max-age or --login-delay");

  std::string scope;
  if (sub != "list") {
    auto parsed = scope_of(ctx.config, args.words[0]);
    if (!parsed) return failure(parsed.error().message);
    scope = *parsed;
    if (sub == "show" && scope.find('@') == std::string::npos)
      return usage_error("usage: postroom retention show ADDRESS");
  }
  store::RetentionSetting setting{scope, std::nullopt, std::nullopt, std::nullopt};
  if (sub == "set") {
    auto retrieved = flag_value(args, "--retrieved", "never", false);
    auto max_age = flag_value(args, "--max-age", "never", false);
    auto login_delay = flag_value(args, "--login-delay", "none", true);
    for (const auto* r : {&retrieved, &max_age, &login_delay}) {
      if (!*r) return failure(r->error().message);
    }
    setting.retrieved = *retrieved;
    setting.max_age = *max_age;
    setting.login_delay = *login_delay;
  }

  auto admin = open_admin_store(ctx.config);
  if (!admin) return failure(admin.error().message);
  if (sub == "set") {
    if (auto r = (*admin)->set_retention(setting); !r) return failure(r.error().message);
    std::cout << "retention set for " << scope << " (a running postroomd applies it within 30 s)\n";
    return kOk;
  }
  if (sub == "clear") {
    auto removed = (*admin)->clear_retention(scope);
    if (!removed) return failure(removed.error().message);
    if (!*removed) return failure("no retention setting for " + scope);
    std::cout << "retention setting removed for " << scope << "\n";
    return kOk;
  }
  auto settings = (*admin)->load_retention_settings();
  if (!settings) return failure(settings.error().message);
  if (sub == "list") {
    // SCOPE<TAB>RETRIEVED<TAB>MAX-AGE<TAB>LOGIN-DELAY; "-": as the domain or the config says.
    for (const auto& row : *settings)
      std::cout << row.scope << '\t' << show(row.retrieved, "never") << '\t'
                << show(row.max_age, "never") << '\t' << show(row.login_delay, "none") << '\n';
    return kOk;
  }
  // show: what is enforced for ADDRESS and what POP3 CAPA tells its client.
  const auto& r = ctx.config.retention;
  auto defaults = store::make_policy(r.retrieved, r.max_age, r.login_delay);
  auto policy = store::effective_policy(defaults, *settings, scope);
  auto days = store::expire_days(policy);
  std::cout << scope << '\t' << show_policy_value(policy.retrieved) << '\t'
            << show_policy_value(policy.max_age) << '\t'
            << (policy.login_delay > 0 ? format_duration(Seconds(policy.login_delay)) : "none")
            << "\tEXPIRE " << (days ? std::to_string(*days) : "NEVER") << '\n';
  return kOk;
}

}  // namespace postroom::cli
