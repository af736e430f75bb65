// Fuzzes config loading: any file content gives a Config or errors with a line, never a crash.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "postroom/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // yaml-cpp is slow on big inputs and a config file is small; the cap keeps runs fast.
  if (size > 8192) return 0;
  // One fixed file per process, so parallel fuzzing jobs do not share it.
  struct TempFile {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("postroom-fuzz-config-" + std::to_string(::getpid()) + ".yaml");
    ~TempFile() {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
  };
  static const TempFile file;
  const std::filesystem::path& path = file.path;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto config = postroom::config::load(path);
  if (config) {
    FUZZ_CHECK(!config->hostname.empty());
    FUZZ_CHECK(config->data_dir.is_absolute());
  } else {
    FUZZ_CHECK(!config.error().empty());
    for (const auto& error : config.error()) {
      FUZZ_CHECK(error.line >= 0);
      FUZZ_CHECK(!error.str().empty());
    }
  }
  return 0;
}
