#!/usr/bin/env bash
# Installs what is needed, builds postroom twice (normal, and ASan+UBSan), runs every unit
# test in both builds and every integration test in the ASan+UBSan build (the same tests with
# memory and undefined-behaviour checks; the whole suite twice would not fit CI's 40
# minutes); the normal build runs the integration files whose memory bounds the sanitizer
# build relaxes (those that import SANITIZED), and the SMTP, POP3, relay and durability
# files again with every daemon on PostgreSQL (ctest label postgresql). Then the store and
# service tests under ThreadSanitizer, and a smoke run of tests/bench with the normal build's
# binaries. The Debian package test (tests/package) runs beside the sanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

jobs=2
# The integration files that assert memory bounds only outside the sanitizer build.
memory_bound_tests=$(grep -l '\bSANITIZED\b' tests/integration/test_*.py | xargs -n1 basename |
  sed 's/\.py$//' | paste -sd'|')
run_build() {
  local dir=$1 integration=$2
  shift 2
  # Tests on explicitly: demo.sh builds build/ with them off, and the cache would keep that.
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTROOM_TESTS=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  # Integration tests start daemons on ephemeral loopback ports: run them one at a time.
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" -LE integration
  if [[ $integration == all ]]; then
    ctest --test-dir "$dir" --output-on-failure -L integration
  else
    ctest --test-dir "$dir" --output-on-failure -L integration -R "^integration\.($memory_bound_tests)\$"
  fi
}

# Each phase says how long it took: CI's 40 minutes are shared among them.
phase_start=$SECONDS
phase() {
  echo "== ($((SECONDS - phase_start)) s) $*"
  phase_start=$SECONDS
}

phase "normal build"
# Line tables only (-g1): reports keep file:line, and the build is faster than at -g (the
# compiles are most of CI's time).
run_build build memory-bounds -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
phase "the PostgreSQL store: the SMTP, POP3, relay and durability files on PostgreSQL"
ctest --test-dir build --output-on-failure -L postgresql
# The package test waits mostly on apt and dpkg: it runs beside the sanitizer build's
# compilation, its output shown when it ends.
package_log=$(mktemp)
package_pid=
if [[ $(id -u) -eq 0 ]]; then
  bash tests/package/test_package.sh build >"$package_log" 2>&1 &
  package_pid=$!
fi
# The sanitizer builds at -O1 with line tables only (-g1): what the sanitizers' own docs
# advise, reports keep file:line, and an ASan file compiles about 2.5x faster than at -O2 -g.
sanitizer_flags=(-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG")
phase "sanitizer build (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_build build-asan all -DPOSTROOM_SANITIZE=ON "${sanitizer_flags[@]}"
phase "the Debian package: built, installed, upgraded and purged in a fresh Debian 12 root"
if [[ -n $package_pid ]]; then
  package_status=0
  wait "$package_pid" || package_status=$?
  cat "$package_log"
  rm -f "$package_log"
  if ((package_status != 0)); then
    echo "the package test failed ($package_status)"
    exit 1
  fi
else
  echo "skipped: tests/package/test_package.sh needs root (debootstrap, chroot, namespaces)"
fi
phase "thread sanitizer build: the store and service tests (writer thread, completions, read pool)"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTROOM_TESTS=ON -DPOSTROOM_TSAN=ON \
  "${sanitizer_flags[@]}" >/dev/null
cmake --build build-tsan -j"$jobs" --target store_tests service_tests
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" -R '^(store_tests|service_tests):'
phase "benchmark smoke run (tests/bench works; it asserts no timing)"
if [[ $(id -u) -eq 0 ]]; then
  bash tests/bench/run.sh --smoke
else
  echo "skipped: tests/bench/run.sh needs root (smtp-source, cgroups)"
fi
phase "all tests passed"
