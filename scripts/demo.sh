#!/usr/bin/env bash
# Installs, builds and runs postroomd in the foreground on a demo config: unprivileged
# ports, data and certificate under ./demo, domain example.test, user demo@example.test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTROOM_TESTS=OFF >/dev/null
cmake --build build -j2 --target postroomd postroom

demo=$PWD/demo
mkdir -p "$demo/tls"
if [ ! -f "$demo/tls/fullchain.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$demo/tls/privkey.pem" -out "$demo/tls/fullchain.pem" 2>/dev/null
fi
cat > "$demo/postroom.yaml" <<YAML
# Demo config written by scripts/demo.sh; see etc/postroom.yaml for every key.
hostname: localhost
domains: [example.test]
data_dir: data
listen:
  smtp: ["127.0.0.1:2525"]
  submission: ["127.0.0.1:2587"]
  submissions: ["127.0.0.1:2465"]
  pop3: ["127.0.0.1:1110"]
  pop3s: ["127.0.0.1:1995"]
tls:
  cert: tls/fullchain.pem
  key: tls/privkey.pem
trusted_networks: ["127.0.0.0/8", "::1/128"]
auth:
  plaintext_without_tls: trusted_networks
relay:
  mode: direct
# The demo runs as whoever starts it, root included; an installed postroomd drops to the
# postroom account instead (see user in etc/postroom.yaml).
run_as_root: true
YAML
admin="build/apps/postroom/postroom --config $demo/postroom.yaml"
if ! $admin user list | grep -q '^demo@example.test'; then
  password=$(openssl rand -base64 12)
  echo "$password" | $admin user add demo@example.test --password-stdin >/dev/null
  echo "$password" > "$demo/demo-password"
fi
# The hints name 127.0.0.1, where the daemon listens: "localhost" is also ::1 on a stock
# Debian 12, and a client that tries ::1 first would find nothing there.
cat <<INFO
postroom demo
  user:       demo@example.test
  password:   $(cat "$demo/demo-password")
  POP3:       127.0.0.1:1110 (STLS) or 127.0.0.1:1995 (TLS)
  SMTP:       127.0.0.1:2587 (STARTTLS, AUTH) or 127.0.0.1:2465 (TLS); 127.0.0.1:2525 inbound
  certificate: $demo/tls/fullchain.pem (self-signed, for localhost and 127.0.0.1)
  try: swaks --server 127.0.0.1:2525 --to demo@example.test
Press Ctrl-C to stop.
INFO
exec build/apps/postroomd/postroomd --config "$demo/postroom.yaml"
