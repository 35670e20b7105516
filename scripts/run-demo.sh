#!/usr/bin/env bash
# run-demo.sh — `make run`: create ./demo once, then run ihosd on it in the
# foreground (Ctrl-C stops it gracefully).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f demo/ihos.conf ]; then
  build/ihos init demo --demo --name "ihos demo hospital" >/dev/null
  # no SMS leaves the demo: codes for registration and password reset are
  # written to demo/sms-outbox.jsonl (scripts/sms-outbox.py)
  sed -i "s|^sms_command = .*|sms_command = $PWD/scripts/sms-outbox.py|" demo/ihos.conf
fi
export IHOS_SMS_OUTBOX="$PWD/demo/sms-outbox.jsonl"
fp=$(openssl x509 -in demo/keys/tls.crt -noout -fingerprint -sha256 | cut -d= -f2)
doc=$(python3 -c 'import json; a=[c for c in json.load(open("demo/demo-credentials.json")) if c["role"]=="doctor"][0]; print(a["username"], a["password"], a["totp_secret"])')
read -r user pass secret <<<"$doc"
cat <<MSG

  ihos demo hospital (synthetic people only) in ./demo
  URL                 https://127.0.0.1:8443   (the public 亮证 page is at /)
  certificate SHA-256 $fp
  check it            curl --cacert demo/keys/tls.crt https://127.0.0.1:8443/healthz
  demo accounts       demo/demo-credentials.json: 20 staff (password + TOTP secret) and 200 patients
  log in as a doctor  curl --cacert demo/keys/tls.crt https://127.0.0.1:8443/api/v1/sessions \\
                        -H 'Content-Type: application/json' \\
                        -d '{"username":"$user","password":"$pass","totp":"'\$(oathtool --totp -b $secret)'"}'
  administrators      demo/initial-credentials (first login changes the password and enrols
                      TOTP: docs/security.md, "First login")
  SMS codes           demo/sms-outbox.jsonl (self-registration and patients' password reset;
                      the demo sends no text messages)
  API                 docs/openapi.yaml
  stop                Ctrl-C (drains in-flight requests, closes the store)

MSG
exec build/ihosd --dir demo
