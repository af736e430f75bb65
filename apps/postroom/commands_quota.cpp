// postroom user quota, domain quota and domain list: the limits an admin sets, and usage.
#include <algorithm>
#include <cctype>
#include <iostream>

#include "admin_store.hpp"
#include "cli.hpp"
#include "postroom/base/units.hpp"
#include "postroom/store/accounts.hpp"
#include "postroom/store/quotas.hpp"

namespace postroom::cli {

namespace {

std::optional<std::int64_t> as_limit(const std::optional<std::uint64_t>& value) {
  if (!value) return std::nullopt;
  return static_cast<std::int64_t>(std::min<std::uint64_t>(*value, INT64_MAX));
}

// One flag's value: a limit, "unlimited" (0 in the store) or "none" (back to the default).
struct FlagValue {
  bool given = false;
  std::optional<std::int64_t> setting;
};

// "50M", "50MiB", "2G", "1048576": K, M and G are binary units here, as in the config.
Result<std::int64_t> parse_bytes(std::string text) {
  if (!text.empty() && std::isdigit(static_cast<unsigned char>(text.back()))) text += "B";
  for (const char* unit : {"K", "M", "G"}) {
    if (text.ends_with(unit)) text += "iB";
  }
  auto size = parse_size(text);
  if (!size) return std::unexpected(size.error());
  return static_cast<std::int64_t>(std::min<std::uint64_t>(*size, INT64_MAX));
}

Result<std::int64_t> parse_messages(const std::string& text) {
  if (text.empty() || text.size() > 12 ||
      !std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }))
    return fail("'" + text + "' is not a whole number");
  return std::stoll(text);
}

Result<FlagValue> flag_value(const Args& args, const std::string& flag,
                             Result<std::int64_t> (*parse)(const std::string&)) {
  auto it = args.values.find(flag);
  if (it == args.values.end()) return FlagValue{};
  if (it->second == "none") return FlagValue{true, std::nullopt};
  if (it->second == "unlimited") return FlagValue{true, 0};
  auto value = parse(it->second);
  if (!value) return fail(flag + ": " + value.error().message + " (or none, unlimited)");
  if (*value <= 0) return fail(flag + ": must be at least 1 (or none, unlimited)");
  return FlagValue{true, *value};
}

Result<std::int64_t> parse_bytes_ref(const std::string& text) {
  return parse_bytes(text);
}

// The setting after the flags given: each flag replaces its half, the other stays.
Result<std::optional<store::QuotaSetting>> changed_setting(const Args& args,
                                                           store::QuotaSetting setting) {
  auto bytes = flag_value(args, "--bytes", parse_bytes_ref);
  if (!bytes) return std::unexpected(bytes.error());
  auto messages = flag_value(args, "--messages", parse_messages);
  if (!messages) return std::unexpected(messages.error());
  if (!bytes->given && !messages->given) return std::nullopt;
  if (bytes->given) setting.bytes = bytes->setting;
  if (messages->given) setting.messages = messages->setting;
  return setting;
}

std::string limit_column(const std::optional<std::int64_t>& limit) {
  return limit ? std::to_string(*limit) : "-";
}

// "10000 (set)", "50MiB (default)", "unlimited (set)", "none".
std::string describe(const std::optional<std::int64_t>& set,
                     const std::optional<std::int64_t>& dflt, bool bytes) {
  auto show = [&](std::int64_t v) {
    if (v == 0) return std::string("unlimited");
    return bytes ? format_size(static_cast<std::uint64_t>(v)) : std::to_string(v);
  };
  if (set) return show(*set) + " (set)";
  if (dflt) return show(*dflt) + " (default)";
  return "none";
}

void print_setting(const std::string& who, const store::QuotaSetting& set,
                   const store::QuotaLimit& defaults) {
  std::cout << "quota for " << who << ": messages "
            << describe(set.messages, defaults.messages, false) << ", bytes "
            << describe(set.bytes, defaults.bytes, true) << "\n";
}

int expect_one_word(const Args& args, const char* usage) {
  if (args.words.size() != 1) return usage_error(std::string("usage: postroom ") + usage);
  return kOk;
}

}  // namespace

store::QuotaDefaults quota_defaults(const config::Config& config) {
  store::QuotaDefaults d;
  d.user = {as_limit(config.quota.user_bytes), as_limit(config.quota.user_messages)};
  d.domain = {as_limit(config.quota.domain_bytes), as_limit(config.quota.domain_messages)};
  return d;
}

std::string quota_columns(const store::QuotaLimit& limit) {
  return limit_column(limit.messages) + '\t' + limit_column(limit.bytes);
}

int user_quota_command(Context& ctx) {
  const char* usage =
      "user quota ADDRESS [--bytes SIZE|none|unlimited] "
      "[--messages N|none|unlimited]";
  if (int rc = expect_one_word(ctx.args, usage)) return rc;
  auto address = local_address(ctx.config, ctx.args.words[0]);
  if (!address) return failure(address.error().message);
  auto admin = open_admin_store(ctx.config);
  if (!admin) return failure(admin.error().message);
  AdminStore& backend = **admin;
  std::string mailbox = address->str();
  auto defaults = quota_defaults(ctx.config);
  auto current = backend.account_quota(mailbox);
  if (!current) return failure(current.error().message);
  auto wanted = changed_setting(ctx.args, *current);
  if (!wanted) return failure(wanted.error().message);
  if (*wanted) {
    if (auto r = backend.set_account_quota(mailbox, **wanted); !r)
      return failure(r.error().message);
    *current = **wanted;
  }
  auto used = backend.mailbox_usage(mailbox);
  if (!used) return failure(used.error().message);
  print_setting(mailbox, *current, defaults.user);
  // The same columns as `user list`.
  std::cout << mailbox << '\t' << used->messages << '\t' << used->bytes << '\t'
            << quota_columns(store::effective(*current, defaults.user)) << '\n';
  return kOk;
}

int domain_command(Context& ctx, const std::string& sub) {
  const Args& args = ctx.args;
  auto defaults = quota_defaults(ctx.config);
  if (sub == "list") {
    if (!args.words.empty() || !args.values.empty())
      return usage_error("usage: postroom domain list");
    auto admin = open_admin_store(ctx.config);
    if (!admin) return failure(admin.error().message);
    for (const auto& domain : ctx.config.domains) {
      auto usage = (*admin)->domain_usage(domain);
      if (!usage) return failure(usage.error().message);
      auto setting = (*admin)->domain_quota(domain);
      if (!setting) return failure(setting.error().message);
      std::cout << domain << '\t' << usage->messages << '\t' << usage->bytes << '\t'
                << quota_columns(store::effective(*setting, defaults.domain)) << '\n';
    }
    return kOk;
  }
  const char* usage =
      "domain quota DOMAIN [--bytes SIZE|none|unlimited] "
      "[--messages N|none|unlimited]";
  if (int rc = expect_one_word(args, usage)) return rc;
  std::string domain = to_lower_ascii(args.words[0]);
  if (!ctx.config.is_local_domain(domain))
    return failure("'" + domain + "' is not one of the configured domains");
  auto admin = open_admin_store(ctx.config);
  if (!admin) return failure(admin.error().message);
  AdminStore& backend = **admin;
  auto current = backend.domain_quota(domain);
  if (!current) return failure(current.error().message);
  auto wanted = changed_setting(args, *current);
  if (!wanted) return failure(wanted.error().message);
  if (*wanted) {
    if (auto r = backend.set_domain_quota(domain, **wanted); !r) return failure(r.error().message);
    *current = **wanted;
  }
  auto used = backend.domain_usage(domain);
  if (!used) return failure(used.error().message);
  print_setting(domain, *current, defaults.domain);
  std::cout << domain << '\t' << used->messages << '\t' << used->bytes << '\t'
            << quota_columns(store::effective(*current, defaults.domain)) << '\n';
  return kOk;
}

}  // namespace postroom::cli
