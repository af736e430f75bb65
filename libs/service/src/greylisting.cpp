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

namespace {

// The mail_auth filter runs (it is what checks an allow-listed sender's SPF or DKIM).
bool mail_auth_runs(const config::Config& config) {
  const auto& m = config.mail_auth;
  return m.spf != config::CheckMode::off || m.dkim != config::CheckMode::off ||
         m.dmarc != config::CheckMode::off;
}

}  // namespace

void greylist_recipient(Context& context, const std::string& peer_ip, bool mx, bool trusted,
                        bool authenticated, const std::optional<Address>& sender,
                        const Address& recipient, std::function<void(GreylistDecision)> done) {
  const auto& config = context.config->greylisting;
  if (!config.enabled || !mx || trusted || authenticated || greylist_network(peer_ip).empty())
    return done(GreylistDecision::pass);
  if (context.access) {
    auto rules = context.access->snapshot();
    // An allow-listed client network cannot be forged over TCP.
    if (rules->network_allowed(peer_ip) ||
        rules->decide(peer_ip, std::nullopt, recipient) == AccessSnapshot::Verdict::allow)
      return done(GreylistDecision::pass);
    if (rules->decide(peer_ip, sender, recipient) == AccessSnapshot::Verdict::allow &&
        mail_auth_runs(*context.config))
      return done(GreylistDecision::unless_aligned);
  }
  greylist_triplet(context, peer_ip, sender, recipient, [done](bool pass) {
    done(pass ? GreylistDecision::pass : GreylistDecision::defer);
  });
}

void greylist_triplet(Context& context, const std::string& peer_ip,
                      const std::optional<Address>& sender, const Address& recipient,
                      std::function<void(bool)> done) {
  const auto& config = context.config->greylisting;
  store::GreylistTriplet t{greylist_network(peer_ip), sender ? sender->str() : "",
                           sender ? sender->domain : "", recipient.str()};
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
