// An SPF record parsed into its terms (RFC 7208 §4.6, §5, §6), and its macro language
// (§7). Internal to the SPF evaluator.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "postroom/mailauth/ip_address.hpp"

namespace postroom::mailauth::spf {

struct Mechanism {
  enum class Kind { all, include, a, mx, ptr, ip4, ip6, exists } kind = Kind::all;
  char qualifier = '+';
  std::string domain_spec;  // unexpanded; empty: the domain being checked
  int cidr4 = 32;
  int cidr6 = 128;
  IpAddress network;  // ip4 / ip6
  std::string text;   // as written, for the reason
};

struct Record {
  std::vector<Mechanism> mechanisms;
  std::optional<std::string> redirect;
  std::optional<std::string> exp;
};

// nullopt: a syntax error anywhere in the record (permerror, §4.6).
std::optional<Record> parse_record(std::string_view text);

// Is `text` a well-formed macro-string (§7.1)? `explanation` allows c, r, t and spaces.
bool valid_macro_string(std::string_view text, bool explanation);
// A well-formed domain-spec: a macro-string ending in "." toplabel or in a macro.
bool valid_domain_spec(std::string_view text);

// What the macros expand to (§7.2).
struct MacroValues {
  std::string sender, local, sender_domain, domain, ip_dotted, ip_readable, ip_version, helo,
      receiver, timestamp;
  std::string validated;  // %{p}; filled only when the string uses it
};

bool uses_p_macro(std::string_view text);
// nullopt: a syntax error.
std::optional<std::string> expand_macros(std::string_view text, const MacroValues& values,
                                         bool explanation);

}  // namespace postroom::mailauth::spf
