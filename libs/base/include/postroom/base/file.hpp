// Reading small files (the config, secrets) as values: no exception, whatever the path names.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

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

}  // namespace postroom
