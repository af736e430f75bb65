#!/usr/bin/env bash
# postroom benchmarks against private Postfix and Dovecot instances on loopback.
#
#   tests/bench/run.sh            full run (installs peers, builds postroom, ~15 min on 2 cores),
#                                 writes tests/bench/results.md and prints the table
#   tests/bench/run.sh --smoke    seconds: postroom only, tiny loads, no peers installed (only
#                                 postfix for smtp-source/smtp-sink, dnsmasq and dkimpy, if missing);
#                                 exit 0 when the benchmark
#                                 machinery works (CI may call it); uses build/ when it exists
#
# Environment: POSTROOMD / POSTROOM to use prebuilt binaries (else it builds into
# $BENCH_BUILD, default /tmp/postroom-bench-build); extra arguments go to bench.py run
# (e.g. --pairs 5, --only smtp,dkim, --n-1k-50 5000; groups: smtp, pop3, dkim, auth, tls, growth). Must run
# as root (smtp-source/smtp-sink, private Postfix/Dovecot/OpenDKIM/OpenDMARC, dnsmasq on port 53
# of 127.0.54.25, mount namespaces, cgroups).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
smoke=0
args=()
for a in "$@"; do
    case "$a" in
        --smoke) smoke=1 ;;
        *) args+=("$a") ;;
    esac
done

if [[ $(id -u) -ne 0 ]]; then
    echo "run.sh: must run as root (private Postfix/Dovecot, smtp-source, cgroups)" >&2
    exit 1
fi

if ((smoke)); then
    # The smoke run needs only smtp-source (from postfix) and python3; install postfix only
    # when it is missing, with the same no-daemon preseed as the full run.
    # (and dnsmasq and dkimpy, for the DKIM and inbound-auth scenarios; CI has both)
    if ! command -v smtp-source >/dev/null || [[ ! -x /usr/sbin/dnsmasq ]] || ! /usr/bin/python3 -c "import dkim" 2>/dev/null; then
        bash "$here/install-peers.sh"
    fi
else
    bash "$here/install-peers.sh"
fi

# The smoke run reuses the project's own build (build/, as CI makes it) when there is one.
if ((smoke)) && [[ -z "${POSTROOMD:-}" && -x "$root/build/apps/postroomd/postroomd" && -x "$root/build/apps/postroom/postroom" ]]; then
    POSTROOMD="$root/build/apps/postroomd/postroomd"
    POSTROOM="$root/build/apps/postroom/postroom"
fi
if [[ -z "${POSTROOMD:-}" || -z "${POSTROOM:-}" ]]; then
    build="${BENCH_BUILD:-/tmp/postroom-bench-build}"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTROOM_TESTS=OFF >/dev/null
    cmake --build "$build" -j"$(nproc)" --target postroomd postroom >/dev/null
    POSTROOMD="$build/apps/postroomd/postroomd"
    POSTROOM="$build/apps/postroom/postroom"
fi

# bench.py stops every daemon it started (try/finally + SIGTERM handler); this trap is the
# backstop for anything left in its cgroups if python itself is killed.
cleanup() {
    local d
    for d in /sys/fs/cgroup/cpuacct/postroom-bench-* /sys/fs/cgroup/unified/postroom-bench-*; do
        [[ -d $d ]] || continue
        if [[ -s $d/cgroup.procs ]]; then
            xargs -r kill -9 < "$d/cgroup.procs" 2>/dev/null || true
            sleep 0.5
        fi
        rmdir "$d" 2>/dev/null || true
    done
    # the milters' files (auth_scenarios.py) of a driver that is gone
    for d in /run/postroom-bench-[0-9]*; do
        [[ -d $d ]] && ! kill -0 "${d##*-}" 2>/dev/null && rm -rf "$d"
    done
    return 0
}
trap cleanup EXIT

if ((smoke)); then
    timeout 300 /usr/bin/python3 "$here/bench.py" run --smoke --pairs 1 \
        --postroomd "$POSTROOMD" --postroom "$POSTROOM" "${args[@]}"
    echo "bench smoke: ok"
else
    timeout 3000 /usr/bin/python3 "$here/bench.py" run --postroomd "$POSTROOMD" --postroom "$POSTROOM" \
        --out "$here/results.md" "${args[@]}"
fi
