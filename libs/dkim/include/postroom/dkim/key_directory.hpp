// The key files: {data_dir}/dkim/{domain}/{selector}.pem (the PEM private key, mode 0600)
// and {selector}.state beside it (its rotation state). Keys never go into the database, so
// no dump or backup of it carries them. A .pem without a .state (a key copied in from
// another signer) counts as published since the file's modification time.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "postroom/base/error.hpp"
#include "postroom/dkim/key_state.hpp"

namespace postroom::dkim {

// A key read from the directory. The private key is wiped when this is destroyed.
struct StoredKey {
  KeyInfo info;
  std::string record;  // the public TXT value
  std::string pem;     // empty unless read with the private keys

  StoredKey() = default;
  StoredKey(StoredKey&&) noexcept = default;
  StoredKey& operator=(StoredKey&&) noexcept = default;
  StoredKey(const StoredKey&) = delete;
  StoredKey& operator=(const StoredKey&) = delete;
  ~StoredKey();
};

struct KeyDirectory {
  std::vector<StoredKey> keys;        // sorted by domain, then selector
  std::vector<std::string> problems;  // one line per file that could not be used
};

// `dkim_dir` is {data_dir}/dkim; a missing directory holds no keys.
std::filesystem::path key_file(const std::filesystem::path& dkim_dir, std::string_view domain,
                               std::string_view selector);
std::filesystem::path state_file(const std::filesystem::path& dkim_dir, std::string_view domain,
                                 std::string_view selector);

// Reads every key. With `keep_private` false, the private keys are read only to derive the
// records and the algorithm, then wiped.
KeyDirectory read_keys(const std::filesystem::path& dkim_dir, bool keep_private);

// Stores a new key and its state: the directories are created 0700, the files 0600; an
// existing key of that name is an error, never overwritten. Returns the paths created
// (directories included), so a caller running as root can hand them to the daemon's user.
Result<std::vector<std::filesystem::path>> write_new_key(const std::filesystem::path& dkim_dir,
                                                         std::string_view domain,
                                                         std::string_view selector,
                                                         std::string_view pem,
                                                         const StoredState& state);

// Replaces a key's state file (write, fsync, rename). Returns its path.
Result<std::filesystem::path> write_state(const std::filesystem::path& dkim_dir,
                                          std::string_view domain, std::string_view selector,
                                          const StoredState& state);

}  // namespace postroom::dkim
