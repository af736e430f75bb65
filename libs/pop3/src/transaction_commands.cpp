// The TRANSACTION state's command table: STAT, LIST, RETR, TOP, DELE, NOOP, RSET, UIDL, CAPA, QUIT.
#include <array>
#include <charconv>
#include <limits>
#include <optional>

#include "commands.hpp"

namespace postroom::pop3::detail {

namespace {

std::optional<std::uint64_t> parse_decimal(std::string_view text) {
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc::result_out_of_range) return std::numeric_limits<std::uint64_t>::max();
  return value;
}

std::string octets_summary(const SessionCore& core) {
  std::size_t count = core.live_count();
  return std::to_string(count) + (count == 1 ? " message (" : " messages (") +
         std::to_string(core.live_size()) + " octets)";
}

// RFC 1939 §5: a message number names an entry of the snapshot taken at login,
// counting from 1; a message marked as deleted keeps its number but may not be
// referred to. Sends the "-ERR" and returns nullopt when the argument fails.
std::optional<std::size_t> message_index(SessionCore& core, std::string_view arg) {
  std::optional<std::uint64_t> number = parse_decimal(arg);
  if (!number) {
    core.reply_bad("invalid message number");
    return std::nullopt;
  }
  if (*number == 0 || *number > core.maildrop.size()) {
    core.reply_bad("no such message");
    return std::nullopt;
  }
  std::size_t index = static_cast<std::size_t>(*number - 1);
  if (core.marked[index]) {
    core.reply_bad("message " + std::to_string(*number) + " already deleted");
    return std::nullopt;
  }
  return index;
}

void cmd_stat(SessionCore& core, const CommandLine& /*command*/) {
  core.reply_ok(std::to_string(core.live_count()) + " " + std::to_string(core.live_size()));
}

void cmd_list(SessionCore& core, const CommandLine& command) {
  if (!command.args.empty()) {
    auto index = message_index(core, command.args[0]);
    if (!index) return;
    core.reply_ok(std::to_string(*index + 1) + " " + std::to_string(core.maildrop.octets(*index)));
    return;
  }
  core.reply_listing(octets_summary(core), [&](std::size_t i, std::string& line) {
    line += std::to_string(core.maildrop.octets(i));
  });
}

void cmd_uidl(SessionCore& core, const CommandLine& command) {
  if (!command.args.empty()) {
    auto index = message_index(core, command.args[0]);
    if (!index) return;
    core.reply_ok(std::to_string(*index + 1) + " " + std::string(core.maildrop.uidl(*index)));
    return;
  }
  core.reply_listing("unique-id listing follows",
                     [&](std::size_t i, std::string& line) { line += core.maildrop.uidl(i); });
}

// Asks the host for the message; the reply streams from Session::on_content().
void start_retrieval(SessionCore& core, std::size_t index, std::optional<std::uint64_t> top) {
  core.bad_commands = 0;
  Retrieval retrieval{.status = top ? "top of message follows"
                                    : std::to_string(core.maildrop.octets(index)) + " octets",
                      .encoder = TransferEncoder(top),
                      .status_sent = false,
                      .is_top = top.has_value(),
                      .id = core.maildrop.id(index)};
  core.retrieval = std::move(retrieval);
  core.push(Retrieve{core.maildrop.id(index), top});
  core.wait_for(Pending::content);
}

void cmd_retr(SessionCore& core, const CommandLine& command) {
  auto index = message_index(core, command.args[0]);
  if (!index) return;
  start_retrieval(core, *index, std::nullopt);
}

// RFC 1939 §7 TOP msg n: the header, the blank line, then n body lines.
void cmd_top(SessionCore& core, const CommandLine& command) {
  auto index = message_index(core, command.args[0]);
  if (!index) return;
  std::optional<std::uint64_t> lines = parse_decimal(command.args[1]);
  if (!lines) {
    core.reply_bad("invalid line count");
    return;
  }
  start_retrieval(core, *index, lines);
}

// RFC 1939 §5 DELE only marks; the store deletes in UPDATE, after QUIT.
void cmd_dele(SessionCore& core, const CommandLine& command) {
  auto index = message_index(core, command.args[0]);
  if (!index) return;
  core.marked[*index] = true;
  core.reply_ok("message " + std::to_string(*index + 1) + " deleted");
}

void cmd_noop(SessionCore& core, const CommandLine& /*command*/) {
  core.reply_ok("");
}

void cmd_rset(SessionCore& core, const CommandLine& /*command*/) {
  core.marked.assign(core.maildrop.size(), false);
  core.reply_ok("maildrop has " + octets_summary(core));
}

// RFC 1939 §6: QUIT from TRANSACTION enters UPDATE; the "+OK" waits for the commit.
void cmd_quit(SessionCore& core, const CommandLine& /*command*/) {
  Update update;
  for (std::size_t i = 0; i < core.maildrop.size(); ++i) {
    if (core.marked[i]) update.deleted_ids.push_back(core.maildrop.id(i));
  }
  core.bad_commands = 0;
  core.marked_for_update = static_cast<int>(update.deleted_ids.size());
  core.enter_state(State::update);
  core.push(std::move(update));
  core.wait_for(Pending::update);
}

constexpr std::array kTransactionCommands = {
    CommandSpec{"STAT", 0, 0, false, cmd_stat}, CommandSpec{"LIST", 0, 1, false, cmd_list},
    CommandSpec{"RETR", 1, 1, false, cmd_retr}, CommandSpec{"TOP", 2, 2, false, cmd_top},
    CommandSpec{"DELE", 1, 1, false, cmd_dele}, CommandSpec{"NOOP", 0, 0, false, cmd_noop},
    CommandSpec{"RSET", 0, 0, false, cmd_rset}, CommandSpec{"UIDL", 0, 1, false, cmd_uidl},
    CommandSpec{"CAPA", 0, 0, false, cmd_capa}, CommandSpec{"QUIT", 0, 0, false, cmd_quit},
};

}  // namespace

std::span<const CommandSpec> transaction_commands() {
  return kTransactionCommands;
}

}  // namespace postroom::pop3::detail
