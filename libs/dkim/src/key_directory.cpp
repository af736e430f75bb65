// Reading and writing the key files with plain POSIX calls: no exception escapes.
#include "postroom/dkim/key_directory.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "postroom/base/file.hpp"
#include "postroom/base/wipe.hpp"
#include "postroom/dkim/key.hpp"

namespace postroom::dkim {

namespace fs = std::filesystem;

namespace {

// A PEM key of any sensible size is a few KiB; the cap keeps a stray big file out of memory.
constexpr std::size_t kMaxPemBytes = 64 * 1024;

std::string errno_text() {
  return std::strerror(errno);
}

// Creates `dir` with mode 0700 if it is missing; true when it was created.
Result<bool> make_private_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return true;
  if (errno != EEXIST) return fail("cannot create " + dir.string() + ": " + errno_text());
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return fail(dir.string() + " is not a directory");
  return false;
}

}  // namespace

StoredKey::~StoredKey() {
  wipe(pem);
}

fs::path key_file(const fs::path& dkim_dir, std::string_view domain, std::string_view selector) {
  return dkim_dir / std::string(domain) / (std::string(selector) + ".pem");
}

fs::path state_file(const fs::path& dkim_dir, std::string_view domain, std::string_view selector) {
  return dkim_dir / std::string(domain) / (std::string(selector) + ".state");
}

KeyDirectory read_keys(const fs::path& dkim_dir, bool keep_private) {
  KeyDirectory out;
  std::error_code ec;
  if (!fs::is_directory(dkim_dir, ec)) return out;
  std::vector<fs::path> domains;
  for (fs::directory_iterator it(dkim_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec)) domains.push_back(it->path());
  }
  if (ec) out.problems.push_back("cannot list " + dkim_dir.string() + ": " + ec.message());
  std::sort(domains.begin(), domains.end());
  for (const auto& domain_dir : domains) {
    std::string domain = domain_dir.filename().string();
    std::vector<fs::path> pems;
    for (fs::directory_iterator it(domain_dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().extension() == ".pem") pems.push_back(it->path());
    }
    if (ec) out.problems.push_back("cannot list " + domain_dir.string() + ": " + ec.message());
    std::sort(pems.begin(), pems.end());
    for (const auto& pem_path : pems) {
      std::string selector = pem_path.stem().string();
      if (!valid_selector(selector)) {
        out.problems.push_back(pem_path.string() + ": not a valid selector name");
        continue;
      }
      StoredKey key;
      key.info.domain = domain;
      key.info.selector = selector;
      auto pem = read_small_file(pem_path, kMaxPemBytes);
      if (!pem) {
        out.problems.push_back(pem_path.string() + ": " + pem.error().message);
        continue;
      }
      key.pem = std::move(*pem);
      auto pub = public_key(key.pem);
      if (!pub) {
        out.problems.push_back(pem_path.string() + ": " + pub.error().message);
        continue;
      }
      key.info.algorithm = pub->algorithm;
      key.record = std::move(pub->record);
      if (!keep_private) wipe(key.pem);
      auto state_path = state_file(dkim_dir, domain, selector);
      if (fs::exists(state_path, ec)) {
        auto text = read_small_file(state_path, 1024);
        auto parsed = text ? parse_state(*text) : std::unexpected(text.error());
        if (!parsed) {
          out.problems.push_back(state_path.string() + ": " + parsed.error().message);
          continue;
        }
        key.info.stored = *parsed;
      } else {
        struct stat st {};
        key.info.stored = {State::published, ::stat(pem_path.c_str(), &st) == 0 ? st.st_mtime : 0};
      }
      out.keys.push_back(std::move(key));
    }
  }
  return out;
}

Result<std::vector<fs::path>> write_new_key(const fs::path& dkim_dir, std::string_view domain,
                                            std::string_view selector, std::string_view pem,
                                            const StoredState& state) {
  std::vector<fs::path> created;
  const fs::path domain_dir = dkim_dir / std::string(domain);
  for (const auto& dir : {dkim_dir, domain_dir}) {
    auto made = make_private_dir(dir);
    if (!made) return std::unexpected(made.error());
    if (*made) created.push_back(dir);
  }
  auto pem_path = key_file(dkim_dir, domain, selector);
  auto state_path = state_file(dkim_dir, domain, selector);
  std::error_code ec;
  if (fs::exists(pem_path, ec) || fs::exists(state_path, ec))
    return fail("a key " + std::string(selector) + " already exists for " + std::string(domain));
  // The state first, so a reader that finds the .pem always finds its state with it.
  if (auto r = create_new_file(state_path, state_text(state), 0600); !r)
    return std::unexpected(r.error());
  created.push_back(state_path);
  if (auto r = create_new_file(pem_path, pem, 0600); !r) {
    ::unlink(state_path.c_str());
    return std::unexpected(r.error());
  }
  created.push_back(pem_path);
  return created;
}

Result<fs::path> write_state(const fs::path& dkim_dir, std::string_view domain,
                             std::string_view selector, const StoredState& state) {
  auto path = state_file(dkim_dir, domain, selector);
  if (auto r = replace_file(path, state_text(state), 0600, FileSync::durable); !r)
    return std::unexpected(r.error());
  return path;
}

}  // namespace postroom::dkim
