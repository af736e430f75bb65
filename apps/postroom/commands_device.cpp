// postroom device add|list|revoke: per-device passwords for scanners, printers and phones.
#include <charconv>
#include <ctime>
#include <iostream>

#include "admin_store.hpp"
#include "cli.hpp"
#include "postroom/auth/device_password.hpp"
#include "postroom/auth/password.hpp"
#include "postroom/base/wipe.hpp"
#include "postroom/store/devices.hpp"

namespace postroom::cli {

namespace {

constexpr const char* kAddUsage =
    "usage: postroom device add ADDRESS NAME [--pop3] [--smtp] [--from ADDRESS]... [--rate N/h]";

// "N/h", N a whole number from 1 on.
std::optional<std::int64_t> parse_rate(const std::string& text) {
  if (!text.ends_with("/h")) return std::nullopt;
  std::int64_t n = 0;
  auto end = text.data() + text.size() - 2;
  auto [ptr, ec] = std::from_chars(text.data(), end, n);
  if (ec != std::errc() || ptr != end || n < 1 || n > 1'000'000) return std::nullopt;
  return n;
}

// A device name is what the admin will recognize in `device list` and the log: printable,
// no tabs (the list is tab-separated), not empty and not absurdly long.
bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f || c == '\t') return false;
  }
  return true;
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

std::string protocols(const store::DeviceRights& rights) {
  std::vector<std::string> out;
  if (rights.pop3) out.push_back("pop3");
  if (rights.smtp) out.push_back("smtp");
  return join(out, ",");
}

int add(Context& ctx) {
  const Args& args = ctx.args;
  if (args.words.size() != 2) return usage_error(kAddUsage);
  if (!valid_name(args.words[1]))
    return failure("a device name is 1 to 64 printable characters without tabs");
  store::DeviceRights rights;
  // No protocol flag: both; otherwise exactly those given.
  if (args.has("--pop3") || args.has("--smtp")) {
    rights.pop3 = args.has("--pop3");
    rights.smtp = args.has("--smtp");
  }
  if (args.values.contains("--rate")) {
    auto rate = parse_rate(args.values.at("--rate"));
    if (!rate) return usage_error("--rate takes N/h, messages per hour (10/h)");
    rights.rate_per_hour = *rate;
  }
  auto parsed_mailbox = local_address(ctx.config, args.words[0]);
  if (!parsed_mailbox) return failure(parsed_mailbox.error().message);
  auto admin = open_admin_store(ctx.config);
  if (!admin) return failure(admin.error().message);
  AdminStore& backend = **admin;
  const std::string mailbox = parsed_mailbox->str();
  auto exists = backend.has_account(mailbox);
  if (!exists) return failure(exists.error().message);
  if (!*exists) return failure("no mailbox " + mailbox);
  auto allowed = backend.sender_addresses(mailbox);
  if (!allowed) return failure(allowed.error().message);
  if (auto from = args.all_values.find("--from"); from != args.all_values.end()) {
    if (!rights.smtp) return usage_error("--from is for a device that sends (--smtp)");
    for (const auto& list : from->second) {
      // "--from a@x --from b@x" and "--from a@x,b@x" alike.
      std::size_t start = 0;
      while (start <= list.size()) {
        auto comma = list.find(',', start);
        std::string one = list.substr(start, comma == std::string::npos ? comma : comma - start);
        start = comma == std::string::npos ? list.size() + 1 : comma + 1;
        if (one.empty()) continue;
        auto parsed = parse_address(one);
        if (!parsed) return failure("'" + one + "' is not a valid address");
        std::string address = parsed->str();
        // A device narrows what its account may do, never widens it.
        if (std::find(allowed->begin(), allowed->end(), address) == allowed->end())
          return failure(mailbox + " may not send as " + address +
                         " (its own address and aliases pointing at it only)");
        if (std::find(rights.senders.begin(), rights.senders.end(), address) ==
            rights.senders.end())
          rights.senders.push_back(address);
      }
    }
  }
  // A selector is unique per mailbox: draw again on the rare collision.
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto generated = auth::generate_device_password();
    if (!generated) return failure(generated.error().message);
    auto taken = backend.device_selector_taken(mailbox, generated->selector);
    if (!taken) return failure(taken.error().message);
    if (*taken) {
      wipe(generated->password);
      continue;
    }
    auto hash = auth::hash_password(generated->password);
    if (!hash) {
      wipe(generated->password);
      return failure(hash.error().message);
    }
    auto added = backend.add_device(mailbox, args.words[1], generated->selector, *hash, rights);
    if (!added) {
      wipe(generated->password);
      return failure(added.error().message);
    }
    std::cout << "added device " << args.words[1] << " for " << mailbox << ": "
              << protocols(rights);
    if (rights.smtp) {
      std::cout << ", sending as "
                << (rights.senders.empty() ? join(*allowed, ", ") : join(rights.senders, ", "));
      if (rights.rate_per_hour > 0) std::cout << ", at most " << rights.rate_per_hour << "/h";
    }
    std::cout << "\npassword: " << generated->password
              << "\nThe password is shown only now (only its hash is kept).\n";
    wipe(generated->password);
    return kOk;
  }
  return failure("could not draw an unused device password");
}

int list(Context& ctx) {
  const Args& args = ctx.args;
  if (args.words.size() > 1) return usage_error("usage: postroom device list [ADDRESS]");
  std::optional<std::string> address;
  if (!args.words.empty()) {
    auto parsed = local_address(ctx.config, args.words[0]);
    if (!parsed) return failure(parsed.error().message);
    address = parsed->str();
  }
  auto admin = open_admin_store(ctx.config);
  if (!admin) return failure(admin.error().message);
  if (address) {
    auto exists = (*admin)->has_account(*address);
    if (!exists) return failure(exists.error().message);
    if (!*exists) return failure("no mailbox " + *address);
  }
  auto devices = (*admin)->list_devices(address);
  if (!devices) return failure(devices.error().message);
  // One line per device; "*" in FROM: the mailbox's own sender addresses, "-" in RATE: no
  // limit of its own. Never the password or its hash.
  for (const auto& d : *devices) {
    std::cout << d.address << '\t' << d.name << '\t' << protocols(d.rights) << '\t'
              << (d.rights.senders.empty() ? "*" : join(d.rights.senders, ",")) << '\t'
              << (d.rights.rate_per_hour > 0 ? std::to_string(d.rights.rate_per_hour) + "/h"
                                             : std::string("-"))
              << '\t' << format_time(d.created_at) << '\t'
              << (d.last_used_at ? format_time(*d.last_used_at) : std::string("never")) << '\t'
              << (d.last_ip.empty() ? "-" : d.last_ip) << '\n';
  }
  return kOk;
}

int revoke(Context& ctx) {
  const Args& args = ctx.args;
  if (args.words.size() != 2) return usage_error("usage: postroom device revoke ADDRESS NAME");
  auto parsed = local_address(ctx.config, args.words[0]);
  if (!parsed) return failure(parsed.error().message);
  auto admin = open_admin_store(ctx.config);
  if (!admin) return failure(admin.error().message);
  // Logins read the device at each attempt: the next one with its password fails.
  if (auto r = (*admin)->delete_device(parsed->str(), args.words[1]); !r)
    return failure(r.error().message);
  std::cout << "revoked device " << args.words[1] << " of " << parsed->str() << "\n";
  return kOk;
}

}  // namespace

int device_command(Context& ctx, const std::string& sub) {
  const Args& args = ctx.args;
  if (sub != "add" && (args.has("--pop3") || args.has("--smtp") || !args.values.empty()))
    return usage_error("--pop3, --smtp, --from and --rate are for device add");
  if (sub == "add") return add(ctx);
  if (sub == "list") return list(ctx);
  return revoke(ctx);
}

}  // namespace postroom::cli
