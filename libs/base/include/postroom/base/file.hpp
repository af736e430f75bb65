// Reading small files (the config, secrets) and writing them whole, as values: no exception,
// whatever the path names.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "postroom/base/error.hpp"

namespace postroom {

// The whole content of `file`, which must be a regular file of at most `max_bytes`. A
// directory, a FIFO, a device, a missing or unreadable file and a larger file are errors whose
// message says which ("is a directory", "cannot open it: Permission denied", ...), without the
// path: the caller names the file. Never blocks on a FIFO and never throws.
Result<std::string> read_small_file(const std::filesystem::path& file, std::size_t max_bytes);

// Succeeds when `file` is a regular file this process can open for reading; the error says why
// not, as read_small_file's does. Reads nothing.
Result<void> check_readable_file(const std::filesystem::path& file);

// Whether a written file must survive a power loss once the call returns (keys, certificates,
// state) or only describes the running process (a status file, stale after a reboot anyway).
enum class FileSync { durable, none };

// Replaces `file` with `data` so that a crash, a full disk or a failed write leaves the old
// file or the new one, never a part: written to `file` + ".new" with `mode`, then renamed over
// `file`. FileSync::durable syncs the file before the rename and the directory after. On an
// error nothing is left beside `file`, and the message names the file and the reason.
Result<void> replace_file(const std::filesystem::path& file, std::string_view data, mode_t mode,
                          FileSync sync);

// Creates `file`, which must not exist, with `data` and `mode`, synced to disk. A failed
// write removes what was created.
Result<void> create_new_file(const std::filesystem::path& file, std::string_view data, mode_t mode);

// The random token in `file` (hex, made once from `random_bytes` random octets, mode 0600,
// synced); what is there already when it exists (it must hold at least `min_length`
// octets). Two processes creating it at once end with the same token. `what` names it in
// errors ("the SRS key file").
Result<std::string> load_or_create_token(const std::filesystem::path& file,
                                         std::size_t random_bytes, std::size_t min_length,
                                         const std::string& what);

}  // namespace postroom
