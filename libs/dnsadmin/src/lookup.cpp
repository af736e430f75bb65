// c-ares driven to completion with select(): one query at a time, answers parsed to text.
#include "postroom/dnsadmin/lookup.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <sys/select.h>

#include <functional>

#include "postroom/base/address.hpp"

namespace postroom::dnsadmin {
namespace {

std::string host_name(const char* name) {
  std::string h = to_lower_ascii(name ? name : "");
  if (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

class AresLookup final : public Lookup {
 public:
  explicit AresLookup(ares_channel channel) : channel_(channel) {}
  ~AresLookup() override {
    ares_destroy(channel_);
    ares_library_cleanup();
  }

  Answer a(const std::string& name) override { return query(name, ns_t_a); }
  Answer aaaa(const std::string& name) override { return query(name, ns_t_aaaa); }
  Answer txt(const std::string& name) override { return query(name, ns_t_txt); }
  Answer mx(const std::string& name) override { return query(name, ns_t_mx); }
  Answer srv(const std::string& name) override { return query(name, ns_t_srv); }
  Answer ptr(const std::string& name) override { return query(name, ns_t_ptr); }

 private:
  struct Pending {
    int type = 0;
    Answer answer;
    bool done = false;
  };

  Answer query(const std::string& name, int type) {
    Pending pending;
    pending.type = type;
    ares_query(channel_, name.c_str(), ns_c_in, type, &AresLookup::on_answer, &pending);
    while (!pending.done) {
      fd_set readers, writers;
      FD_ZERO(&readers);
      FD_ZERO(&writers);
      int nfds = ares_fds(channel_, &readers, &writers);
      if (nfds == 0) break;
      timeval tv{};
      timeval* wait = ares_timeout(channel_, nullptr, &tv);
      ::select(nfds, &readers, &writers, nullptr, wait);
      ares_process(channel_, &readers, &writers);
    }
    if (!pending.done) pending.answer = {Answer::Status::error, "no answer", {}};
    return pending.answer;
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto& p = *static_cast<Pending*>(arg);
    p.done = true;
    Answer& out = p.answer;
    if (status == ARES_ENOTFOUND) {
      out.status = Answer::Status::nxdomain;
      return;
    }
    if (status == ARES_ENODATA) {
      out.status = Answer::Status::nodata;
      return;
    }
    if (status != ARES_SUCCESS) {
      out.status = Answer::Status::error;
      out.error = ares_strerror(status);
      return;
    }
    int parsed = parse(p.type, abuf, alen, out.values);
    if (parsed == ARES_ENODATA || (parsed == ARES_SUCCESS && out.values.empty())) {
      out.status = Answer::Status::nodata;
    } else if (parsed != ARES_SUCCESS) {
      out.status = Answer::Status::error;
      out.error = ares_strerror(parsed);
    } else {
      out.status = Answer::Status::ok;
    }
  }

  static int parse(int type, const unsigned char* abuf, int alen, std::vector<std::string>& out) {
    switch (type) {
      case ns_t_a: {
        ares_addrttl addrs[64];
        int n = 64;
        int rc = ares_parse_a_reply(abuf, alen, nullptr, addrs, &n);
        if (rc != ARES_SUCCESS) return rc;
        for (int i = 0; i < n; ++i) {
          char text[INET_ADDRSTRLEN];
          inet_ntop(AF_INET, &addrs[i].ipaddr, text, sizeof text);
          out.emplace_back(text);
        }
        return rc;
      }
      case ns_t_aaaa: {
        ares_addr6ttl addrs[64];
        int n = 64;
        int rc = ares_parse_aaaa_reply(abuf, alen, nullptr, addrs, &n);
        if (rc != ARES_SUCCESS) return rc;
        for (int i = 0; i < n; ++i) {
          char text[INET6_ADDRSTRLEN];
          inet_ntop(AF_INET6, &addrs[i].ip6addr, text, sizeof text);
          out.emplace_back(text);
        }
        return rc;
      }
      case ns_t_txt: {
        ares_txt_ext* txt = nullptr;
        int rc = ares_parse_txt_reply_ext(abuf, alen, &txt);
        if (rc != ARES_SUCCESS) return rc;
        for (auto* t = txt; t; t = t->next) {
          std::string piece(reinterpret_cast<const char*>(t->txt), t->length);
          if (t->record_start || out.empty()) {
            out.push_back(piece);
          } else {
            out.back() += piece;
          }
        }
        ares_free_data(txt);
        return rc;
      }
      case ns_t_mx: {
        ares_mx_reply* mx = nullptr;
        int rc = ares_parse_mx_reply(abuf, alen, &mx);
        if (rc != ARES_SUCCESS) return rc;
        for (auto* m = mx; m; m = m->next)
          out.push_back(std::to_string(m->priority) + " " + host_name(m->host));
        ares_free_data(mx);
        return rc;
      }
      case ns_t_srv: {
        ares_srv_reply* srv = nullptr;
        int rc = ares_parse_srv_reply(abuf, alen, &srv);
        if (rc != ARES_SUCCESS) return rc;
        for (auto* s = srv; s; s = s->next)
          out.push_back(std::to_string(s->priority) + " " + std::to_string(s->weight) + " " +
                        std::to_string(s->port) + " " + host_name(s->host));
        ares_free_data(srv);
        return rc;
      }
      case ns_t_ptr: {
        hostent* host = nullptr;
        int rc = ares_parse_ptr_reply(abuf, alen, nullptr, 0, AF_INET, &host);
        if (rc != ARES_SUCCESS) return rc;
        if (host->h_name) out.push_back(host_name(host->h_name));
        for (char** alias = host->h_aliases; alias && *alias; ++alias) {
          std::string h = host_name(*alias);
          if (h != out.front()) out.push_back(h);
        }
        ares_free_hostent(host);
        return rc;
      }
      default:
        return ARES_ENOTIMP;
    }
  }

  ares_channel channel_;
};

}  // namespace

Result<std::unique_ptr<Lookup>> Lookup::make(const std::vector<Endpoint>& servers) {
  if (int rc = ares_library_init(ARES_LIB_INIT_ALL); rc != ARES_SUCCESS)
    return fail(std::string("DNS: ") + ares_strerror(rc));
  ares_options options{};
  options.timeout = 3000;  // milliseconds per try
  options.tries = 2;
  ares_channel channel = nullptr;
  int rc = ares_init_options(&channel, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (rc != ARES_SUCCESS) {
    ares_library_cleanup();
    return fail(std::string("DNS: ") + ares_strerror(rc));
  }
  if (!servers.empty()) {
    std::string csv;
    for (const auto& s : servers) csv += (csv.empty() ? "" : ",") + s.str();
    if (int set = ares_set_servers_ports_csv(channel, csv.c_str()); set != ARES_SUCCESS) {
      ares_destroy(channel);
      ares_library_cleanup();
      return fail("DNS: relay.dns_servers: " + std::string(ares_strerror(set)));
    }
  }
  return std::unique_ptr<Lookup>(new AresLookup(channel));
}

}  // namespace postroom::dnsadmin
