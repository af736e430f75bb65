// A main() for fuzz targets without libFuzzer: replays the seed corpus, then a bounded run of
// deterministic mutations of it, so ctest exercises every target (under ASan+UBSan in CI).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#if defined(__SANITIZE_ADDRESS__) && __has_include(<sanitizer/common_interface_defs.h>)
#include <sanitizer/common_interface_defs.h>
#define POSTROOM_FUZZ_HAVE_DEATH_CALLBACK 1
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

#ifndef POSTROOM_FUZZ_NAME
#define POSTROOM_FUZZ_NAME "target"
#endif
#ifndef POSTROOM_FUZZ_CORPUS
#define POSTROOM_FUZZ_CORPUS ""
#endif

constexpr std::size_t kMaxInput = 256 * 1024;

// The input being run, for the crash handlers. Plain globals: signal handlers read them.
const char* g_input = nullptr;
std::size_t g_input_size = 0;
char g_artifact[512] = "";
volatile std::sig_atomic_t g_saved = 0;

// Writes the current input to g_artifact with async-signal-safe calls only.
void save_input() {
  if (g_saved || g_input == nullptr || g_artifact[0] == '\0') return;
  g_saved = 1;
  int fd = ::open(g_artifact, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  std::size_t done = 0;
  while (done < g_input_size) {
    ssize_t n = ::write(fd, g_input + done, g_input_size - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  const char prefix[] = "\nreplay: crashing input written to ";
  (void)!::write(2, prefix, sizeof prefix - 1);
  (void)!::write(2, g_artifact, std::strlen(g_artifact));
  (void)!::write(2, "\n", 1);
}

extern "C" void on_fatal_signal(int sig) {
  save_input();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void install_crash_handlers() {
  std::signal(SIGABRT, on_fatal_signal);
#ifdef POSTROOM_FUZZ_HAVE_DEATH_CALLBACK
  // ASan and UBSan report SEGV and their own findings, then call this before exiting.
  __sanitizer_set_death_callback(save_input);
#else
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, on_fatal_signal);
#endif
}

void run_one(const std::string& input, const std::string& artifact_name) {
  std::snprintf(g_artifact, sizeof g_artifact, "%s", artifact_name.c_str());
  g_input = input.data();
  g_input_size = input.size();
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
  g_input = nullptr;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> load_corpus(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(dir, ec)) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());  // Directory order varies; the run must not.
  std::vector<std::string> corpus;
  for (const auto& f : files) corpus.push_back(read_file(f));
  return corpus;
}

// Bytes that matter to mail protocols: line ends, dots, separators, digits, the extremes.
constexpr std::string_view kInteresting = "\r\n.:<>@ -+=\"\\[]()01259\t\0\x7f\x80\xff";

// The start of the line holding position `pos` (0 for an empty string).
std::size_t line_start(const std::string& s, std::size_t pos) {
  if (s.empty() || pos == 0) return 0;
  std::size_t nl = s.rfind('\n', pos - 1);
  return nl == std::string::npos ? 0 : nl + 1;
}

std::string mutate(const std::vector<std::string>& corpus, std::mt19937_64& rng) {
  auto below = [&](std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng() % n); };
  std::string s = corpus[below(corpus.size())];
  const std::string& other = corpus[below(corpus.size())];
  int rounds = 1 + static_cast<int>(below(4));
  for (int r = 0; r < rounds; ++r) {
    switch (below(12)) {
      case 0:  // flip one bit
        if (!s.empty()) s[below(s.size())] ^= static_cast<char>(1u << below(8));
        break;
      case 1:  // an interesting byte in place of another
        if (!s.empty()) s[below(s.size())] = kInteresting[below(kInteresting.size())];
        break;
      case 2:  // delete a range
        if (!s.empty()) {
          std::size_t at = below(s.size());
          s.erase(at, 1 + below(std::min<std::size_t>(32, s.size() - at)));
        }
        break;
      case 3:  // insert random bytes
        for (std::size_t n = 1 + below(8), at = below(s.size() + 1); n > 0; --n)
          s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), static_cast<char>(rng()));
        break;
      case 4:  // duplicate a range (repeated commands, pipelining)
        if (!s.empty()) {
          std::size_t at = below(s.size());
          std::string piece = s.substr(at, 1 + below(200));
          s.insert(below(s.size() + 1), piece);
        }
        break;
      case 5:  // splice: our prefix, the other's suffix
        s = s.substr(0, below(s.size() + 1)) + other.substr(below(other.size() + 1));
        break;
      case 6:  // truncate
        s.resize(below(s.size() + 1));
        break;
      case 7:  // a long run of one byte, to cross every line cap
        s.insert(below(s.size() + 1),
                 std::string(1 + below(6000), kInteresting[below(kInteresting.size())] | 0x20));
        break;
      case 8: {  // a line of another entry, inserted at a line start of this one
        std::size_t from = line_start(other, below(other.size()));
        std::size_t to = other.find('\n', from);
        std::string line =
            other.substr(from, to == std::string::npos ? std::string::npos : to + 1 - from);
        s.insert(line_start(s, below(s.size())), line);
        break;
      }
      case 9: {  // CRLF <-> LF
        std::size_t at = s.find(below(2) ? "\r\n" : "\n", below(s.size() + 1));
        if (at != std::string::npos) {
          if (s[at] == '\r')
            s.erase(at, 1);
          else
            s.insert(at, 1, '\r');
        }
        break;
      }
      case 10:  // new parameter bytes (targets read their options from the front)
        for (std::size_t i = 0; i < 4 && i < s.size(); ++i)
          if (below(2)) s[i] = static_cast<char>(rng());
        break;
      default:  // an ASCII digit or letter changed (codes, numbers, verbs)
        if (!s.empty()) s[below(s.size())] = static_cast<char>('0' + below(75));
        break;
    }
    if (s.size() > kMaxInput) s.resize(kMaxInput);
  }
  return s;
}

// Runs the target on `input` in a child; true when it crashed.
bool crashes(const std::string& input) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, 2);
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// Greedy delta debugging: drops ever smaller ranges while the input still crashes.
int minimize(const fs::path& path) {
  std::string input = read_file(path);
  if (!crashes(input)) {
    std::fprintf(stderr, "replay: %s does not crash\n", path.c_str());
    return 1;
  }
  for (std::size_t step = std::max<std::size_t>(1, input.size() / 2); step > 0; step /= 2) {
    for (std::size_t at = 0; at < input.size();) {
      std::string shorter = input.substr(0, at) + input.substr(std::min(input.size(), at + step));
      if (crashes(shorter))
        input = std::move(shorter);
      else
        at += step;
    }
  }
  fs::path out = path;
  out += ".min";
  std::ofstream(out, std::ios::binary) << input;
  std::fprintf(stderr, "replay: minimized to %zu bytes: %s\n", input.size(), out.c_str());
  return 0;
}

unsigned long env_or(const char* name, unsigned long fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoul(v, nullptr, 10) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = POSTROOM_FUZZ_NAME;
  fs::path corpus_dir = POSTROOM_FUZZ_CORPUS;
  unsigned long iterations = env_or("FUZZ_ITERATIONS", 20000);
  unsigned long seconds = env_or("FUZZ_SECONDS", 4);
  unsigned long seed = env_or("FUZZ_SEED", 20240601);
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--minimize" && i + 1 < argc) return minimize(argv[++i]);
    if (arg == "--corpus" && i + 1 < argc) {
      corpus_dir = argv[++i];
    } else if (arg == "--help" || arg.starts_with("-")) {
      std::fprintf(stderr,
                   "usage: %s [--corpus DIR] [--minimize FILE] [FILE...]\n"
                   "  no FILE: run the corpus, then FUZZ_ITERATIONS (20000) mutations from\n"
                   "  FUZZ_SEED, for at most FUZZ_SECONDS (4); crashes are saved in the\n"
                   "  current directory as crash-%s-*\n",
                   argv[0], name.c_str());
      return 2;
    } else {
      files.emplace_back(arg);
    }
  }
  install_crash_handlers();

  if (!files.empty()) {  // Reproduce given inputs.
    for (const auto& f : files) run_one(read_file(f), f.string() + ".crash");
    std::fprintf(stderr, "replay: %zu inputs ran clean\n", files.size());
    return 0;
  }

  std::vector<std::string> corpus = load_corpus(corpus_dir);
  for (std::size_t i = 0; i < corpus.size(); ++i)
    run_one(corpus[i], "crash-" + name + "-corpus-" + std::to_string(i));
  if (corpus.empty()) corpus.emplace_back();

  std::mt19937_64 rng(seed);
  auto start = std::chrono::steady_clock::now();
  unsigned long done = 0;
  for (; done < iterations; ++done) {
    if (done % 64 == 0 && std::chrono::steady_clock::now() - start > std::chrono::seconds(seconds))
      break;
    std::string input = mutate(corpus, rng);
    run_one(input, "crash-" + name + "-" + std::to_string(seed) + "-" + std::to_string(done));
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("fuzz.%s: %zu corpus inputs, %lu mutated inputs in %.1f s (seed %lu), no crash\n",
              name.c_str(), corpus.size(), done, elapsed, seed);
  return 0;
}
