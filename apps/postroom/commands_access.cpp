// postroom allow|block add|del|list: the allow and block lists for incoming mail.
#include <iostream>

#include "admin_store.hpp"
#include "cli.hpp"
#include "postroom/base/address.hpp"
#include "postroom/base/endpoint.hpp"
#include "postroom/store/access_rules.hpp"

namespace postroom::cli {
namespace {

// A sender address (has '@'), a client network (CIDR, or a bare address), or a sender domain.
Result<store::AccessRule> parse_rule(const std::string& text) {
  store::AccessRule rule;
  if (text.find('@') != std::string::npos) {
    auto a = parse_address(text);
    if (!a) return fail("'" + text + "' is not a valid address: " + a.error().message);
    rule.kind = store::AccessRule::Kind::address;
    rule.value = a->str();
    return rule;
  }
  bool numeric = text.find('/') != std::string::npos || text.find(':') != std::string::npos ||
                 (!text.empty() && text.find_first_not_of("0123456789.") == std::string::npos);
  if (numeric) {
    std::string cidr = text;
    if (cidr.find('/') == std::string::npos)
      cidr += cidr.find(':') != std::string::npos ? "/128" : "/32";
    auto net = Cidr::parse(cidr);
    if (!net) return fail("'" + text + "' is not a network: " + net.error().message);
    rule.kind = store::AccessRule::Kind::network;
    rule.value = net->str();
    return rule;
  }
  if (!is_valid_domain(text)) return fail("'" + text + "' is not an address, domain or network");
  rule.kind = store::AccessRule::Kind::domain;
  rule.value = to_lower_ascii(text);
  return rule;
}

}  // namespace

int access_command(Context& ctx, const std::string& list, const std::string& sub) {
  const Args& args = ctx.args;
  std::string usage = "usage: postroom " + list +
                      " add|del ADDRESS|DOMAIN|NETWORK [LOCAL-DOMAIN|LOCAL-ADDRESS]" +
                      " | postroom " + list + " list";
  if (sub == "list" ? !args.words.empty() : args.words.empty() || args.words.size() > 2)
    return usage_error(usage);
  store::AccessRule rule;
  if (sub != "list") {
    auto parsed = parse_rule(args.words[0]);
    if (!parsed) return failure(parsed.error().message);
    rule = *parsed;
    if (args.words.size() == 2) {
      // Scoped to one local domain or one local address: that domain's or user's own rule.
      const std::string& scope = args.words[1];
      if (scope.find('@') != std::string::npos) {
        auto local = local_address(ctx.config, scope);
        if (!local) return failure(local.error().message);
        rule.scope = local->str();
      } else if (ctx.config.is_local_domain(scope)) {
        rule.scope = to_lower_ascii(scope);
      } else {
        return failure("'" + scope + "' is not one of the domains or a local address");
      }
    }
  }
  rule.list = list == "allow" ? store::AccessRule::List::allow : store::AccessRule::List::block;
  auto admin = open_admin_store(ctx.config);
  if (!admin) return failure(admin.error().message);
  if (sub == "list") {
    auto rules = (*admin)->list_access_rules();
    if (!rules) return failure(rules.error().message);
    for (const auto& r : *rules) {
      if (r.list != rule.list) continue;
      std::cout << store::kind_name(r.kind) << '\t' << r.value << '\t'
                << (r.scope.empty() ? "*" : r.scope) << '\n';
    }
    return kOk;
  }
  auto r = sub == "add" ? (*admin)->add_access_rule(rule) : (*admin)->delete_access_rule(rule);
  if (!r) return failure(r.error().message);
  std::cout << (sub == "add" ? "added " : "deleted ") << list << " " << store::kind_name(rule.kind)
            << " " << rule.value << (rule.scope.empty() ? "" : " for " + rule.scope) << "\n";
  return kOk;
}

}  // namespace postroom::cli
