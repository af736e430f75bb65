// The allow and block lists (`postroom allow|block`) as the daemon applies them: a snapshot
// read off the loop every two seconds, so the admin's changes apply within 2 s and checks on
// the loop never touch the database.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "postroom/base/address.hpp"
#include "postroom/base/endpoint.hpp"
#include "postroom/service/message_filter.hpp"
#include "postroom/store/access_rules.hpp"

namespace postroom::service {

struct Context;

// The rules, matched against one message or one client.
class AccessSnapshot {
 public:
  explicit AccessSnapshot(std::vector<store::AccessRule> rules);

  enum class Verdict { none, allow, block };
  // For mail from `sender` at `peer_ip` to `recipient`: the rules of the most specific scope
  // that has a matching one decide (the user's, then the domain's, then everyone's); at the
  // same scope, allow wins over block.
  Verdict decide(const std::string& peer_ip, const std::optional<Address>& sender,
                 const Address& recipient) const;
  // The client's network is allow-listed for everyone (no sender or recipient known yet).
  bool network_allowed(const std::string& peer_ip) const;
  bool empty() const { return rules_.empty(); }

 private:
  struct Rule {
    store::AccessRule rule;
    std::optional<Cidr> network;
  };
  bool matches(const Rule& r, const sockaddr* peer, const std::optional<Address>& sender) const;
  std::vector<Rule> rules_;
};

// Keeps the snapshot fresh: reloads every 2 s on libuv's thread pool, one read at a time.
class AccessLists {
 public:
  explicit AccessLists(Context& context);
  ~AccessLists();
  void start();
  void stop();  // no more reloads: the loop may end
  std::shared_ptr<const AccessSnapshot> snapshot() const { return snapshot_; }

 private:
  struct Loader;
  void reload();
  Context& context_;
  std::shared_ptr<const AccessSnapshot> snapshot_;
  std::shared_ptr<Loader> loader_;
};

// The filter that refuses blocked senders (550 5.7.1) on port 25; it also tells the later
// checks whether the sender is allow-listed (FilterVerdict log "access=allow").
FilterFactory access_filter_factory(Context& context);

// Whether the envelope's sender (or client network) is allow-listed for every recipient:
// DNSBL tagging and greylisting are skipped for it.
bool sender_allow_listed(const Context& context, const FilterEnvelope& envelope);

}  // namespace postroom::service
