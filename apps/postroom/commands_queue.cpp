// postroom queue list|show|retry|delete.
#include <ctime>
#include <iostream>

#include "admin_store.hpp"
#include "cli.hpp"
#include "postroom/store/queue.hpp"

namespace postroom::cli {

namespace {

// The header section of a stored message: chunks up to the first empty line.
std::string header_section(AdminStore& backend, std::int64_t content_id) {
  std::string text;
  for (std::int64_t seq = 0; text.size() < 256 * 1024; ++seq) {
    auto chunk = backend.read_chunk(content_id, seq);
    if (!chunk || !*chunk) break;
    text += **chunk;
    for (const char* blank : {"\r\n\r\n", "\n\n"}) {
      if (auto end = text.find(blank); end != std::string::npos) return text.substr(0, end + 1);
    }
  }
  return text;
}

}  // namespace

int queue_command(Context& ctx, const std::string& sub) {
  const Args& args = ctx.args;
  if (sub == "list" && !args.words.empty()) return usage_error("usage: postroom queue list");
  if ((sub == "show" || sub == "delete") && args.words.size() != 1)
    return usage_error("usage: postroom queue " + sub + " ID");
  if (sub == "retry" && args.words.size() > 1)
    return usage_error("usage: postroom queue retry [ID]");
  auto admin = open_admin_store(ctx.config);
  if (!admin) return failure(admin.error().message);
  AdminStore& backend = **admin;
  if (sub == "list") {
    auto rows = backend.list_queue();
    if (!rows) return failure(rows.error().message);
    for (const auto& r : *rows)
      std::cout << r.queue_id << '\t' << r.recipient << '\t' << r.state << '\t' << r.attempts
                << '\t' << format_time(r.next_attempt) << '\t' << r.last_reply << '\n';
    return kOk;
  }
  if (sub == "show") {
    auto message = backend.find_queued(args.words[0]);
    if (!message) return failure(message.error().message);
    if (!*message) return failure("no queued message " + args.words[0]);
    const auto& m = **message;
    std::cout << "id: " << m.queue_id << "\nfrom: <" << m.sender
              << ">\nqueued: " << format_time(m.created_at) << "\nsize: " << m.size << "\n";
    for (std::size_t i = 0; i < m.recipients.size(); ++i) {
      const auto& r = m.recipients[i];
      std::cout << "to: <" << r.recipient << "> state=" << r.state << " attempts=" << r.attempts
                << " next=" << format_time(r.next_attempt) << "\n";
      for (const auto& h : m.history[i])
        std::cout << "  " << format_time(h.at) << " "
                  << (h.remote_host.empty() ? "-" : h.remote_host) << " " << h.reply << "\n";
    }
    std::cout << "\n" << header_section(backend, m.content_id);
    return kOk;
  }
  if (sub == "retry") {
    std::optional<std::string> id;
    if (!args.words.empty()) id = args.words[0];
    auto touched = backend.retry_queue(id);
    if (!touched) return failure(touched.error().message);
    if (id && *touched == 0) return failure("no queued message " + *id);
    std::cout << *touched << " recipient(s) due now\n";
    return kOk;
  }
  if (auto r = backend.delete_queued(args.words[0]); !r) return failure(r.error().message);
  std::cout << "deleted " << args.words[0] << "\n";
  return kOk;
}

}  // namespace postroom::cli
