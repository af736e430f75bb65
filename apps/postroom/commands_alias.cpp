// postroom alias add|del|list.
#include <iostream>

#include "admin_store.hpp"
#include "cli.hpp"

namespace postroom::cli {

int alias_command(Context& ctx, const std::string& sub) {
  const Args& args = ctx.args;
  if (sub == "list" && !args.words.empty()) return usage_error("usage: postroom alias list");
  if (sub == "del" && args.words.size() != 1) return usage_error("usage: postroom alias del ALIAS");
  if (sub == "add" && args.words.size() < 2)
    return usage_error("usage: postroom alias add ALIAS|@DOMAIN TARGET [TARGET...]");

  std::string alias;
  std::vector<std::string> targets;
  if (sub != "list" && args.words[0].starts_with('@')) {
    // A domain's catch-all: mail for any address there that is neither a mailbox nor an
    // alias (never postmaster@ or abuse@).
    std::string domain = to_lower_ascii(args.words[0].substr(1));
    if (!ctx.config.is_local_domain(domain))
      return failure("'" + domain + "' is not one of the configured domains");
    alias = "@" + domain;
  } else if (sub != "list") {
    auto parsed = local_address(ctx.config, args.words[0]);
    if (!parsed) return failure(parsed.error().message);
    alias = parsed->str();
  }
  for (std::size_t i = 1; sub == "add" && i < args.words.size(); ++i) {
    auto target = parse_address(args.words[i]);
    if (!target)
      return failure("'" + args.words[i] + "' is not a valid address: " + target.error().message);
    targets.push_back(target->str());
  }
  auto db = open_admin_store(ctx.config);
  if (!db) return failure(db.error().message);
  if (sub == "list") {
    auto aliases = (*db)->list_aliases();
    if (!aliases) return failure(aliases.error().message);
    for (const auto& a : *aliases) {
      std::cout << a.alias;
      for (const auto& t : a.targets) std::cout << '\t' << t;
      std::cout << '\n';
    }
    return kOk;
  }
  if (sub == "del") {
    if (auto r = (*db)->delete_alias(alias); !r) return failure(r.error().message);
    std::cout << "deleted alias " << alias << "\n";
    return kOk;
  }
  if (auto r = (*db)->add_alias(alias, targets); !r) return failure(r.error().message);
  std::cout << "added alias " << alias << "\n";
  return kOk;
}

}  // namespace postroom::cli
