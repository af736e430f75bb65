// The documents that configure mail clients: Thunderbird autoconfig, Outlook Autodiscover (POX)
// and Apple configuration profiles, each describing exactly the listeners that are on.
#include <algorithm>
#include <cstdio>

#include "postroom/http/site.hpp"

namespace postroom::http {
namespace {

std::string xml(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string xml_unescape(std::string_view text) {
  static const std::pair<std::string_view, char> kEntities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    bool replaced = false;
    for (auto [entity, c] : kEntities) {
      if (text.substr(i).starts_with(entity)) {
        out += c;
        i += entity.size();
        replaced = true;
        break;
      }
    }
    if (!replaced) out += text[i++];
  }
  return out;
}

const Offer* best(const Site& site, Offer::Protocol protocol) {
  for (const Offer& o : site.offers) {
    if (o.protocol == protocol) return &o;
  }
  return nullptr;
}

int rank(Offer::Security s) {
  return s == Offer::Security::implicit_tls ? 0 : s == Offer::Security::starttls ? 1 : 2;
}

// Thunderbird's socketType values.
const char* socket_type(Offer::Security s) {
  switch (s) {
    case Offer::Security::implicit_tls:
      return "SSL";
    case Offer::Security::starttls:
      return "STARTTLS";
    case Offer::Security::none:
      return "plain";
  }
  return "plain";
}

// A UUID made from the text (FNV-1a, twice), so the same user gets the same profile
// identifiers every time and an installed profile is replaced rather than duplicated.
std::string name_uuid(std::string_view text) {
  std::uint64_t a = 1469598103934665603ULL, b = 1099511628211ULL ^ 0x9e3779b97f4a7c15ULL;
  for (unsigned char c : text) {
    a = (a ^ c) * 1099511628211ULL;
    b = (b ^ c) * 0x100000001b3ULL + 0x632be59bd9b4e019ULL;
  }
  // Version 8 (custom) and the RFC 9562 variant bits.
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000008000ULL;
  char out[40];
  std::snprintf(out, sizeof out, "%08X-%04X-%04X-%04X-%012llX", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return out;
}

Offer::Security security(bool implicit_tls, bool starttls) {
  if (implicit_tls) return Offer::Security::implicit_tls;
  return starttls ? Offer::Security::starttls : Offer::Security::none;
}

}  // namespace

std::vector<Offer> ordered(std::vector<Offer> offers) {
  std::stable_sort(offers.begin(), offers.end(), [](const Offer& a, const Offer& b) {
    return rank(a.security) < rank(b.security);
  });
  return offers;
}

std::string thunderbird_config(const Site& site, const std::string& domain) {
  // https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<clientConfig version=\"1.1\">\n"
      "  <emailProvider id=\"" +
      xml(domain) +
      "\">\n"
      "    <domain>" +
      xml(domain) +
      "</domain>\n"
      "    <displayName>" +
      xml(domain) + " mail (" + xml(site.hostname) +
      ")</displayName>\n"
      "    <displayShortName>" +
      xml(domain) + "</displayShortName>\n";
  auto server = [&](const char* element, const char* type, const Offer& o) {
    out += std::string("    <") + element + " type=\"" + type + "\">\n" + "      <hostname>" +
           xml(site.hostname) + "</hostname>\n" + "      <port>" + std::to_string(o.port) +
           "</port>\n" + "      <socketType>" + socket_type(o.security) + "</socketType>\n" +
           // The login name is the full address (interface.md).
           "      <username>%EMAILADDRESS%</username>\n" +
           "      <authentication>password-cleartext</authentication>\n" + "    </" + element +
           ">\n";
  };
  for (const Offer& o : site.offers) {
    if (o.protocol == Offer::Protocol::pop3) server("incomingServer", "pop3", o);
  }
  for (const Offer& o : site.offers) {
    if (o.protocol == Offer::Protocol::submission) server("outgoingServer", "smtp", o);
  }
  out += "  </emailProvider>\n</clientConfig>\n";
  return out;
}

std::string autodiscover_response(const Site& site, const std::string& address) {
  // [MS-OXDSCLI] and the Outlook POX schema: SSL on only for implicit TLS; STARTTLS is
  // Encryption TLS with SSL off (an answer that said SSL on for 587 or 110 is the classic
  // misconfiguration the clients then fail on).
  std::string out =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
      "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/"
      "2006\">\n"
      "  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/"
      "responseschema/2006a\">\n"
      "    <Account>\n"
      "      <AccountType>email</AccountType>\n"
      "      <Action>settings</Action>\n";
  for (const Offer& o : site.offers) {
    out += std::string("      <Protocol>\n        <Type>") +
           (o.protocol == Offer::Protocol::pop3 ? "POP3" : "SMTP") + "</Type>\n" +
           "        <Server>" + xml(site.hostname) + "</Server>\n" + "        <Port>" +
           std::to_string(o.port) + "</Port>\n" + "        <LoginName>" + xml(address) +
           "</LoginName>\n" + "        <DomainRequired>off</DomainRequired>\n" +
           "        <SPA>off</SPA>\n";
    switch (o.security) {
      case Offer::Security::implicit_tls:
        out += "        <SSL>on</SSL>\n";
        break;
      case Offer::Security::starttls:
        out += "        <SSL>off</SSL>\n        <Encryption>TLS</Encryption>\n";
        break;
      case Offer::Security::none:
        out += "        <SSL>off</SSL>\n        <Encryption>None</Encryption>\n";
        break;
    }
    out += "        <AuthRequired>on</AuthRequired>\n";
    if (o.protocol == Offer::Protocol::submission)
      out += "        <UsePOPAuth>on</UsePOPAuth>\n        <SMTPLast>off</SMTPLast>\n";
    out += "      </Protocol>\n";
  }
  out += "    </Account>\n  </Response>\n</Autodiscover>\n";
  return out;
}

std::optional<std::string> autodiscover_address(std::string_view body) {
  // The request is tiny and flat (Autodiscover/Request/EMailAddress); the element may carry
  // a namespace prefix in some clients.
  for (std::string_view open : {"<EMailAddress>", ":EMailAddress>"}) {
    std::size_t at = body.find(open);
    if (at == std::string_view::npos) continue;
    std::size_t start = at + open.size();
    std::size_t end = body.find('<', start);
    if (end == std::string_view::npos) return std::nullopt;
    std::string text = xml_unescape(body.substr(start, end - start));
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!text.empty() && blank(text.back())) text.pop_back();
    std::size_t first = 0;
    while (first < text.size() && blank(text[first])) ++first;
    return text.substr(first);
  }
  return std::nullopt;
}

Site make_site(const config::Config& config,
               const std::vector<std::pair<std::string, Endpoint>>& bound) {
  Site site;
  site.hostname = config.hostname;
  site.domains = config.domains;
  bool tls = config.tls.has_value();
  using P = Offer::Protocol;
  std::vector<Offer> offers;
  for (const auto& [name, endpoint] : bound) {
    // Each listener as it is: STLS/STARTTLS only where a certificate makes them possible.
    if (name == "pop3") offers.push_back({P::pop3, security(false, tls), endpoint.port});
    if (name == "pop3s") offers.push_back({P::pop3, security(true, tls), endpoint.port});
    if (name == "submission")
      offers.push_back({P::submission, security(false, tls), endpoint.port});
    if (name == "submissions")
      offers.push_back({P::submission, security(true, tls), endpoint.port});
  }
  // One entry per port: a listener bound on several addresses is one offer.
  std::vector<Offer> unique;
  for (const auto& o : offers) {
    if (std::none_of(unique.begin(), unique.end(),
                     [&](const Offer& u) { return u.protocol == o.protocol && u.port == o.port; }))
      unique.push_back(o);
  }
  site.offers = ordered(std::move(unique));
  if (config.http.mta_sts_mode != "none") {
    // RFC 8461 §3.2; the same text `postroom dns-records` hashes into the TXT record's id.
    site.mta_sts_policy =
        "version: STSv1\r\nmode: " + config.http.mta_sts_mode + "\r\nmx: " + config.hostname +
        "\r\nmax_age: " + std::to_string(config.http.mta_sts_max_age.count()) + "\r\n";
  }
  return site;
}

std::vector<std::pair<std::string, Endpoint>> configured_listeners(const config::Config& config) {
  std::vector<std::pair<std::string, Endpoint>> out;
  const std::pair<const char*, const std::vector<Endpoint>*> groups[] = {
      {"submission", &config.listen.submission},
      {"submissions", &config.listen.submissions},
      {"pop3", &config.listen.pop3},
      {"pop3s", &config.listen.pop3s}};
  for (auto [name, endpoints] : groups) {
    for (const auto& e : *endpoints) out.emplace_back(name, e);
  }
  return out;
}

Result<std::string> mobileconfig(const Site& site, const std::string& address) {
  const Offer* in = best(site, Offer::Protocol::pop3);
  const Offer* out_offer = best(site, Offer::Protocol::submission);
  if (!in || !out_offer)
    return fail("a profile needs a POP3 and a submission listener; listen has " +
                std::string(in ? "no submission" : "no POP3") + " listener");
  auto key = [](std::string_view k, std::string_view element) {
    return "      <key>" + std::string(k) + "</key>\n      " + std::string(element) + "\n";
  };
  auto str = [](std::string_view v) { return "<string>" + xml(v) + "</string>"; };
  auto integer = [](int v) { return "<integer>" + std::to_string(v) + "</integer>"; };
  // UseSSL covers both implicit TLS and STARTTLS on Apple devices (Mail negotiates STARTTLS
  // on a port that offers it when UseSSL is true).
  auto boolean = [](bool v) { return std::string(v ? "<true/>" : "<false/>"); };
  std::string account_uuid = name_uuid("account:" + site.hostname + ":" + address);
  std::string profile_uuid = name_uuid("profile:" + site.hostname + ":" + address);
  std::string reverse_host;
  {
    std::string_view h = site.hostname;
    while (!h.empty()) {
      std::size_t dot = h.rfind('.');
      std::string_view label = dot == std::string_view::npos ? h : h.substr(dot + 1);
      if (!reverse_host.empty()) reverse_host += '.';
      reverse_host += label;
      h = dot == std::string_view::npos ? std::string_view() : h.substr(0, dot);
    }
  }
  std::string id = reverse_host + ".postroom." + address;
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
      "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
      "<plist version=\"1.0\">\n<dict>\n  <key>PayloadContent</key>\n  <array>\n    <dict>\n";
  out += key("EmailAccountDescription", str(address));
  out += key("EmailAccountType", str("EmailTypePOP"));
  out += key("EmailAddress", str(address));
  out += key("IncomingMailServerAuthentication", str("EmailAuthPassword"));
  out += key("IncomingMailServerHostName", str(site.hostname));
  out += key("IncomingMailServerPortNumber", integer(in->port));
  out += key("IncomingMailServerUseSSL", boolean(in->security != Offer::Security::none));
  out += key("IncomingMailServerUsername", str(address));
  out += key("OutgoingMailServerAuthentication", str("EmailAuthPassword"));
  out += key("OutgoingMailServerHostName", str(site.hostname));
  out += key("OutgoingMailServerPortNumber", integer(out_offer->port));
  out += key("OutgoingMailServerUseSSL", boolean(out_offer->security != Offer::Security::none));
  out += key("OutgoingMailServerUsername", str(address));
  out += key("OutgoingPasswordSameAsIncomingPassword", boolean(true));
  out += key("PayloadDisplayName", str("Mail account " + address));
  out += key("PayloadIdentifier", str(id + ".account"));
  out += key("PayloadType", str("com.apple.mail.managed"));
  out += key("PayloadUUID", str(account_uuid));
  out += key("PayloadVersion", integer(1));
  out += "    </dict>\n  </array>\n";
  auto top = [](std::string_view k, std::string_view element) {
    return "  <key>" + std::string(k) + "</key>\n  " + std::string(element) + "\n";
  };
  out += top("PayloadDescription", str("Mail settings for " + address + " at " + site.hostname +
                                       " (the password is asked for on the device)"));
  out += top("PayloadDisplayName", str(address + " mail"));
  out += top("PayloadIdentifier", str(id));
  out += top("PayloadRemovalDisallowed", boolean(false));
  out += top("PayloadType", str("Configuration"));
  out += top("PayloadUUID", str(profile_uuid));
  out += top("PayloadVersion", integer(1));
  out += "</dict>\n</plist>\n";
  return out;
}

}  // namespace postroom::http
