// Greylisting decisions for RCPT: exemptions here, the triplet's memory in the store.
#include "postroom/service/greylisting.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "postroom/base/log.hpp"
#include "postroom/service/access_lists.hpp"
#include "postroom/service/context.hpp"
#include "postroom/store/mail_store.hpp"

namespace postroom::service {

std::string greylist_network(const std::string& ip) {
  in_addr v4{};
  in6_addr v6{};
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    v4.s_addr &= htonl(0xffffff00u);
    inet_ntop(AF_INET, &v4, text, sizeof text);
    return std::string(text) + "/24";
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      std::memcpy(&v4, &v6.s6_addr[12], 4);
      return greylist_network(inet_ntop(AF_INET, &v4, text, sizeof text));
    }
    std::fill(v6.s6_addr + 8, v6.s6_addr + 16, 0);
    inet_ntop(AF_INET6, &v6, text, sizeof text);
    return std::string(text) + "/64";
  }
  return "";
}

void greylist_recipient(Context& context, const std::string& peer_ip, bool mx, bool trusted,
                        bool authenticated, const std::optional<Address>& sender,
                        const Address& recipient, std::function<void(bool)> done) {
  const auto& config = context.config->greylisting;
  std::string network = greylist_network(peer_ip);
  if (!config.enabled || !mx || trusted || authenticated || network.empty()) return done(true);
  if (context.access && (context.access->snapshot()->network_allowed(peer_ip) ||
                         context.access->snapshot()->decide(peer_ip, sender, recipient) ==
                             AccessSnapshot::Verdict::allow))
    return done(true);
  store::GreylistTriplet t{network, sender ? sender->str() : "", sender ? sender->domain : "",
                           recipient.str()};
  context.store->greylist(t, static_cast<std::int64_t>(std::time(nullptr)), config.window.count(),
                          config.forget.count(), [done, t](Result<bool> pass) {
                            if (!pass) {
                              log_line("greylisting: cannot check ", t.network, ": ",
                                       pass.error().message, "; letting it through");
                              return done(true);
                            }
                            log_line("greylist network=", t.network, " from=<", t.sender, "> to=<",
                                     t.recipient, "> result=", *pass ? "pass" : "defer");
                            done(*pass);
                          });
}

}  // namespace postroom::service
