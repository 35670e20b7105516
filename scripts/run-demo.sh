#!/usr/bin/env bash
# run-demo.sh — `make run`: create ./demo once, then run ihosd on it in the
# foreground (Ctrl-C stops it gracefully).
#
# IHOS_DEMO_DIR (default demo), IHOS_BIN_DIR (default build) and
# IHOS_DEMO_LISTEN (default 127.0.0.1:8443) let the tests run it elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${IHOS_DEMO_DIR:-demo}
bin=${IHOS_BIN_DIR:-build}
listen=${IHOS_DEMO_LISTEN:-127.0.0.1:8443}
case $dir in /*) abs=$dir ;; *) abs=$PWD/$dir ;; esac
if [ ! -f "$dir/ihos.conf" ]; then
  # The recovery key opens the demo's backups.  A real instance never keeps
  # it on the server (docs/data-protection.md); the demo keeps it beside its
  # credentials so that a demo backup can be restored.
  tmpdir=$(mktemp -d)
  "$bin/ihos" init "$dir" --demo --name "ihos demo hospital" --listen "$listen" \
    --recovery-key-out "$tmpdir/recovery-key" >/dev/null
  install -m 600 "$tmpdir/recovery-key" "$dir/recovery-key"
  rm -rf "$tmpdir"
  # no SMS leaves the demo: codes for registration and password reset are
  # written to $dir/sms-outbox.jsonl (scripts/sms-outbox.py)
  sed -i "s|^sms_command = .*|sms_command = $PWD/scripts/sms-outbox.py|" "$dir/ihos.conf"
  # no money moves either: scripts/pay-channel.py plays the payment channel,
  # with a key of its own in $dir/pay-channel/
  install -d -m 700 "$dir/pay-channel"
  python3 scripts/pay-channel.py keygen "$dir/pay-channel"
  install -m 600 "$dir/pay-channel/pay-channel.pub" "$dir/keys/pay-channel.pub"
  sed -i -e "s|^channel_command = .*|channel_command = $PWD/scripts/pay-channel.py|" \
         -e "s|^notify_public_key = .*|notify_public_key = keys/pay-channel.pub|" "$dir/ihos.conf"
fi
export IHOS_SMS_OUTBOX="$abs/sms-outbox.jsonl"
export IHOS_PAY_STATE="$abs/pay-channel/pay-channel.jsonl"
fp=$(openssl x509 -in "$dir/keys/tls.crt" -noout -fingerprint -sha256 | cut -d= -f2)
doc=$(python3 -c 'import json,sys; a=[c for c in json.load(open(sys.argv[1])) if c["role"]=="doctor"][0]; print(a["username"], a["password"], a["totp_secret"])' "$dir/demo-credentials.json")
read -r user pass secret <<<"$doc"
cat <<MSG

  ihos demo hospital (synthetic people only) in $dir
  URL                 https://$listen   (the public 亮证 page is at /)
  web console         https://$listen/app/  doctors, pharmacists, administrators (docs/console.md)
                      https://$listen/h5/   patients (a phone-sized page; 实名注册 makes a new one)
  certificate SHA-256 $fp
  check it            curl --cacert $dir/keys/tls.crt https://$listen/healthz
  demo accounts       $dir/demo-credentials.json: 20 staff (password + TOTP secret) and 200 patients
  log in as a doctor  curl --cacert $dir/keys/tls.crt https://$listen/api/v1/sessions \\
                        -H 'Content-Type: application/json' \\
                        -d '{"username":"$user","password":"$pass","totp":"'\$(oathtool --totp -b $secret)'"}'
  administrators      $dir/initial-credentials (first login changes the password and enrols
                      TOTP: docs/security.md, "First login")
  SMS codes           $dir/sms-outbox.jsonl (self-registration and patients' password reset;
                      the demo sends no text messages)
  payments            the patient orders (POST /api/v1/visits/{id}/payments); play the channel paying it:
                      IHOS_PAY_STATE=$dir/pay-channel/pay-channel.jsonl scripts/pay-channel.py pay ORDER_NO \\
                        --url https://$listen --cacert $dir/keys/tls.crt --key $dir/pay-channel/pay-channel.key
  backups             $bin/ihos backup create $dir --to FILE; restore with
                      $bin/ihos restore BACKUP NEWDIR --recovery-key-file $dir/recovery-key
  RECOVERY KEY        $dir/recovery-key opens the demo's backups. Kept here for the demo only:
                      a real instance's recovery key is never on the server.
  API                 docs/openapi.yaml
  stop                Ctrl-C (drains in-flight requests, closes the store)

MSG
exec "$bin/ihosd" --dir "$dir"
