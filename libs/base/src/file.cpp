// Small-file reading with POSIX calls, so a directory or an unreadable path is an error value:
// std::ifstream would open a directory and libstdc++ then throws from its first read.
#include "postroom/base/file.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace postroom {
namespace {

// An open descriptor, closed on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string errno_text(const char* what, int error) {
  return std::string(what) + ": " + std::strerror(error);
}

// Opens `file` for reading and checks that it is a regular file; the size goes to `size`.
Result<int> open_regular(const std::filesystem::path& file, off_t& size) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below anyway.
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) return fail("does not exist");
    return fail(errno_text("cannot open it", errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int error = errno;
    ::close(fd);
    return fail(errno_text("cannot examine it", error));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode) ? "is a directory, not a file" : "is not a regular file");
  }
  size = st.st_size;
  return fd;
}

// Writes all of `data` to `fd`; the errno of a failed write, 0 when all went out.
int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

// Writes `data` to the newly opened `fd` (synced when asked) and closes it; on an error the
// file is removed and the message says what failed.
Result<void> fill_new_file(int fd, const std::filesystem::path& file, std::string_view data,
                           FileSync sync) {
  int error = write_all(fd, data);
  const char* what = "cannot write ";
  if (error == 0 && sync == FileSync::durable && ::fsync(fd) != 0) {
    error = errno;
    what = "cannot sync ";
  }
  // close() reports a delayed write error on some file systems (NFS).
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0) return {};
  ::unlink(file.c_str());
  return fail(what + file.string() + ": " + std::strerror(error));
}

}  // namespace

Result<std::string> read_small_file(const std::filesystem::path& file, std::size_t max_bytes) {
  off_t size = 0;
  auto opened = open_regular(file, size);
  if (!opened) return std::unexpected(opened.error());
  Fd fd(*opened);
  if (size < 0 || static_cast<std::uint64_t>(size) > max_bytes)
    return fail("is larger than " + std::to_string(max_bytes) + " bytes");
  std::string content;
  content.resize(static_cast<std::size_t>(size));
  std::size_t done = 0;
  // The file may grow while we read: read one byte past its size to notice, then refuse.
  char extra = 0;
  while (true) {
    char* into = done < content.size() ? content.data() + done : &extra;
    std::size_t want = done < content.size() ? content.size() - done : 1;
    ssize_t n = ::read(fd.get(), into, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno_text("cannot read it", errno));
    }
    if (n == 0) break;
    if (done >= content.size()) return fail("grew while it was read");
    done += static_cast<std::size_t>(n);
  }
  content.resize(done);
  return content;
}

Result<void> check_readable_file(const std::filesystem::path& file) {
  off_t size = 0;
  auto opened = open_regular(file, size);
  if (!opened) return std::unexpected(opened.error());
  Fd fd(*opened);
  return {};
}

Result<void> replace_file(const std::filesystem::path& file, std::string_view data, mode_t mode,
                          FileSync sync) {
  auto temporary = file;
  temporary += ".new";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return fail("cannot write " + temporary.string() + ": " + std::strerror(errno));
  // An old temporary left by a crash keeps its mode through O_TRUNC.
  ::fchmod(fd, mode);
  if (auto filled = fill_new_file(fd, temporary, data, sync); !filled) return filled;
  if (::rename(temporary.c_str(), file.c_str()) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    return fail("cannot replace " + file.string() + ": " + std::strerror(error));
  }
  if (sync == FileSync::durable) {
    auto parent = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
    int dir = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  return {};
}

Result<void> create_new_file(const std::filesystem::path& file, std::string_view data,
                             mode_t mode) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return fail("cannot create " + file.string() + ": " + std::strerror(errno));
  return fill_new_file(fd, file, data, FileSync::durable);
}

Result<std::string> load_or_create_token(const std::filesystem::path& file,
                                         std::size_t random_bytes, std::size_t min_length,
                                         const std::string& what) {
  std::error_code ec;
  auto read = [&]() -> Result<std::string> {
    auto existing = read_small_file(file, 4096);
    if (!existing) return fail("cannot read " + what + ": " + existing.error().message);
    if (existing->size() < min_length)
      return fail(what + " is too short (under " + std::to_string(min_length) + " octets)");
    return *existing;
  };
  if (std::filesystem::exists(file, ec) || ec) return read();
  std::string raw(random_bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string token(random_bytes * 2 + 1, '\0');
  sodium_bin2hex(token.data(), token.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                 raw.size());
  token.pop_back();  // sodium_bin2hex's terminating NUL
  // O_EXCL: two processes creating it at once must not write two tokens.
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return read();  // created meanwhile by another process
    return fail("cannot create " + what + ": " + std::strerror(errno));
  }
  if (auto written = fill_new_file(fd, file, token, FileSync::durable); !written)
    return fail("cannot write " + what + ": " + written.error().message);
  return token;
}

}  // namespace postroom
