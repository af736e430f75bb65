// postroom user add|passwd|del|list|apop (user quota: commands_quota.cpp).
#include <unistd.h>

#include <iostream>

#include "admin_store.hpp"
#include "cli.hpp"
#include "postroom/auth/device_password.hpp"
#include "postroom/auth/password.hpp"
#include "postroom/base/wipe.hpp"
#include "postroom/store/accounts.hpp"

namespace postroom::cli {

namespace {

int expect_words(const Args& args, std::size_t count, const char* usage) {
  if (args.words.size() != count) return usage_error(std::string("usage: postroom ") + usage);
  return kOk;
}

}  // namespace

int user_command(Context& ctx, const std::string& sub) {
  const Args& args = ctx.args;
  if (sub == "quota") return user_quota_command(ctx);
  if (!args.values.empty()) return usage_error("--bytes and --messages are only for user quota");
  if (sub == "list") {
    if (int rc = expect_words(args, 0, "user list")) return rc;
  } else if (sub == "add" || sub == "passwd" || sub == "del" || sub == "apop") {
    if (int rc = expect_words(args, 1, ("user " + sub + " ADDRESS").c_str())) return rc;
  }
  if (sub == "apop" && args.has("--off") == args.has("--password-stdin"))
    return usage_error("usage: postroom user apop ADDRESS --password-stdin | --off");
  if (sub != "apop" && args.has("--off")) return usage_error("--off is only for user apop");
  if ((sub == "del" || sub == "list") && args.has("--password-stdin"))
    return usage_error("--password-stdin is only for user add, passwd and apop");

  std::string address;
  if (sub != "list") {
    auto parsed = local_address(ctx.config, args.words[0]);
    if (!parsed) return failure(parsed.error().message);
    address = parsed->str();
  }
  auto db = open_admin_store(ctx.config);
  if (!db) return failure(db.error().message);
  if (sub == "apop") {
    std::optional<std::string> secret;
    if (args.has("--password-stdin")) {
      auto read = read_password(args, false);
      if (!read) return failure(read.error().message);
      secret = std::move(*read);
      wipe(*read);
    }
    auto stored = (*db)->set_apop_secret(address, secret);
    if (secret) wipe(*secret);
    if (!stored) return failure(stored.error().message);
    std::cout << "APOP " << (secret ? "enabled" : "disabled") << " for " << address << "\n";
    return kOk;
  }

  if (sub == "list") {
    auto accounts = (*db)->list_accounts();
    if (!accounts) return failure(accounts.error().message);
    auto limits = (*db)->mailbox_limits(quota_defaults(ctx.config));
    if (!limits) return failure(limits.error().message);
    // The quota columns come after the original three, so scripts reading those still work.
    for (const auto& a : *accounts)
      std::cout << a.address << '\t' << a.messages << '\t' << a.bytes << '\t'
                << quota_columns((*limits)[a.address]) << '\n';
    return kOk;
  }
  if (sub == "del") {
    auto progress = [](int done) {
      if (isatty(STDERR_FILENO)) std::cerr << "\r" << done << " messages deleted" << std::flush;
    };
    auto removed = (*db)->delete_account(address, progress);
    if (isatty(STDERR_FILENO)) std::cerr << "\n";
    if (!removed) return failure(removed.error().message);
    std::cout << "deleted " << address << " and " << *removed << " messages\n";
    return kOk;
  }
  // add and passwd: check the mailbox first so nobody types a password for nothing.
  auto existing = (*db)->has_account(address);
  if (!existing) return failure(existing.error().message);
  if (sub == "add" && *existing) return failure("mailbox " + address + " already exists");
  if (sub == "passwd" && !*existing) return failure("no mailbox " + address);
  auto password = read_password(args, true);
  if (!password) return failure(password.error().message);
  if (auth::canonical_device_password(*password)) {
    // Logins check such a password against the devices only: as a main one it could
    // never work.
    wipe(*password);
    return failure("that password has the shape of a device password; choose another");
  }
  auto hash = auth::hash_password(*password);
  wipe(*password);
  if (!hash) return failure(hash.error().message);
  if (sub == "add") {
    if (auto r = (*db)->add_account(address, *hash); !r) return failure(r.error().message);
    std::cout << "added " << address << "\n";
  } else {
    if (auto r = (*db)->set_password(address, *hash); !r) return failure(r.error().message);
    std::cout << "password changed for " << address << "\n";
  }
  return kOk;
}

}  // namespace postroom::cli
