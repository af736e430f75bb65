// A temporary directory removed at the end of a test.
#pragma once

#include <stdlib.h>

#include <filesystem>

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/postroom-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path db() const { return path / "data" / "postroom.db"; }
};
