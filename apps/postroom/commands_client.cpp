// mobileconfig: the Apple configuration profile for one mailbox, printed for the admin to hand out.
#include <iostream>

#include "cli.hpp"
#include "postroom/http/site.hpp"

namespace postroom::cli {

int mobileconfig_command(Context& ctx) {
  if (ctx.args.words.size() != 1) return usage_error("mobileconfig takes one ADDRESS");
  auto address = local_address(ctx.config, ctx.args.words.front());
  if (!address) return failure(address.error().message);
  // The listeners as configured: the same description the daemon's HTTPS listener serves.
  auto site = http::make_site(ctx.config, http::configured_listeners(ctx.config));
  auto profile = http::mobileconfig(site, address->str());
  if (!profile) return failure(profile.error().message);
  std::cout << *profile;
  return kOk;
}

}  // namespace postroom::cli
