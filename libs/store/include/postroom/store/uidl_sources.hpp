// The UIDLs another POP3 server gave its messages, read from that server's own files, so
// an import keeps them and clients that leave mail on the server download nothing again.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "postroom/base/error.hpp"

namespace postroom::store {

// A Maildir file's base name: its name up to the first ':' (the info part, ":2,FLAGS",
// changes as flags change, so servers key their lists on the base).
std::string_view maildir_base_name(std::string_view filename);

// Dovecot's dovecot-uidlist (versions 1 and 3): the mailbox's UIDVALIDITY and, per base
// name, the message's UID and the POP3 UIDL Dovecot saved for it (its "P" field), if any.
struct DovecotUidlist {
  struct Entry {
    std::uint32_t uid = 0;
    std::string pop3_uidl;  // empty unless the line carries a P field
    std::string guid;       // the G field; empty when absent
  };
  std::uint32_t uidvalidity = 0;
  std::map<std::string, Entry, std::less<>> by_base_name;
};
// Errors name the line that could not be read.
Result<DovecotUidlist> parse_dovecot_uidlist(std::string_view text);

// The values Dovecot's pop3_uidl_format can name.
struct UidlVariables {
  std::uint32_t uid = 0;          // %u, %{uid}
  std::uint32_t uidvalidity = 0;  // %v, %{uidvalidity}
  std::string_view filename;      // %f, %{filename}: the Maildir base name
  std::string_view guid;          // %g, %{guid}
};
// Expands a pop3_uidl_format the way Dovecot's var_expand does: "%[0][WIDTH][MODIFIERS]VAR"
// with modifiers X (hexadecimal, lower-case digits), L and U (case); a zero before the width
// pads with zeros on the left, a width without it truncates; "%%" is a percent sign.
// Default Dovecot format: "%08Xu%08Xv". Unknown variables and modifiers are errors.
Result<std::string> expand_uidl_format(std::string_view format, const UidlVariables& values);

// Courier's courierpop3dsizelist (versions 2 and 3): per base name the UIDL Courier's POP3
// server gives, "UID<uid>-<uidvalidity>" (or "UID<uid>" with no UIDVALIDITY).
using CourierSizelist = std::map<std::string, std::string, std::less<>>;
Result<CourierSizelist> parse_courier_sizelist(std::string_view text);

// The value of the first X-UIDL header field in `message` (only its header section is
// looked at), trimmed; nullopt when there is none. mbox files written by POP3 clients
// (popclient, fetchmail's old mode, Eudora) carry the UIDL there.
std::optional<std::string> find_x_uidl(std::string_view message);

}  // namespace postroom::store
