// Small-file reading with POSIX calls, so a directory or an unreadable path is an error value:
// std::ifstream would open a directory and libstdc++ then throws from its first read.
#include "postroom/base/file.hpp"

#include <fcntl.h>
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

}  // namespace postroom
