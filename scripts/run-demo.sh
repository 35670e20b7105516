#!/usr/bin/env bash
# run-demo.sh — `make run`: create ./demo once, then run ihosd on it in the
# foreground (Ctrl-C stops it gracefully).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f demo/ihos.conf ]; then
  build/ihos init demo --demo --name "ihos demo hospital" >/dev/null
fi
fp=$(openssl x509 -in demo/keys/tls.crt -noout -fingerprint -sha256 | cut -d= -f2)
cat <<MSG

  ihos demo instance (synthetic data only) in ./demo
  URL                 https://127.0.0.1:8443
  certificate SHA-256 $fp
  check it            curl --cacert demo/keys/tls.crt https://127.0.0.1:8443/healthz
  log in              POST /api/v1/sessions {"username","password","totp"} with an account from
                      demo/initial-credentials (administrators; first login must change the
                      password and enrol TOTP: see docs/security.md, "First login")
  stop                Ctrl-C (drains in-flight requests, closes the store)

MSG
exec build/ihosd --dir demo
