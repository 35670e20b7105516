#!/usr/bin/env bash
# demo-journey.sh [DIR] [URL] — the follow-up journey of docs/care.md, step by
# step over HTTPS with curl, against the demo `make run` started (DIR demo,
# URL https://127.0.0.1:8443): a patient asks for a follow-up, the doctor
# accepts, writes the record and prescribes, a pharmacist approves, the
# patient pays through the payment channel (scripts/pay-channel.py plays it),
# another pharmacist dispenses, the doctor closes, the patient evaluates.
# Each step prints what it did; the script stops at the first refusal.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-demo}
url=${2:-https://127.0.0.1:8443}
ca="$dir/keys/tls.crt"
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }
cred() { python3 -c 'import json,sys; c={x["username"]: x for x in json.load(open(sys.argv[1]))}[sys.argv[2]]; print(c[sys.argv[3]] or "")' "$dir/demo-credentials.json" "$1" "$2"; }

# call METHOD PATH [TOKEN] [BODY]: the answer's body; a 4xx/5xx stops the journey
call() {
  local out code
  out=$(mktemp)
  code=$(curl -sS --cacert "$ca" -o "$out" -w '%{http_code}' -X "$1" "$url$2" \
    -H 'Content-Type: application/json' ${3:+-H "Authorization: Bearer $3"} ${4:+--data-binary "$4"})
  if [ "${code:0:1}" != 2 ]; then
    echo "demo-journey: $1 $2 answered $code: $(cat "$out")" >&2
    rm -f "$out"
    exit 1
  fi
  cat "$out"
  rm -f "$out"
}

# login USERNAME: a session token (staff send a TOTP code from their secret)
login() {
  local pw secret body
  pw=$(cred "$1" password)
  secret=$(cred "$1" totp_secret)
  body="{\"username\":\"$1\",\"password\":$(printf '%s' "$pw" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')"
  [ -n "$secret" ] && body="$body,\"totp\":\"$(oathtool --totp -b "$secret")\""
  call POST /api/v1/sessions "" "$body}" | json 'd["token"]'
}

patient=patient050 doctor=doctor01 reviewer=pharmacist01 dispenser=pharmacist02
pat=$(login $patient)
doc=$(login $doctor)
echo "1. $patient and $doctor are logged in"

staff=$(call GET /api/v1/me/staff "$doc" | json 'd["id"]')
today=$(date -u +%F)
shift=$(call GET "/api/v1/schedules?staff_id=$staff" | json "[s['id'] for s in d['schedules'] if s['day'] > '$today'][0]")
visit=$(call POST /api/v1/visits "$pat" "{\"kind\":\"followup\",\"schedule_id\":$shift,\"complaint\":\"高血压复诊，血压控制不佳\",
  \"first_diagnosis\":\"2025-03 示例医院 原发性高血压\",\"disease_history\":\"高血压5年\"}" | json 'd["id"]')
echo "2. the patient asked for a follow-up on shift $shift: visit $visit"

call POST "/api/v1/visits/$visit/accept" "$doc" '{"followup_confirmed":true}' >/dev/null
call POST "/api/v1/visits/$visit/records" "$doc" '{"chief_complaint":"血压控制不佳","present_history":"高血压5年，规律服药",
  "diagnosis_codes":["I10.x00"],"diagnosis":"原发性高血压","opinion":"继续用药"}' >/dev/null
drug=$(call GET "/api/v1/drugs?q=%E6%B0%A8%E6%B0%AF%E5%9C%B0%E5%B9%B3" "$doc" | json 'd["drugs"][0]["id"]')
rx=$(call POST "/api/v1/visits/$visit/prescriptions" "$doc" "{\"recipe_type\":\"1\",\"diagnosis_codes\":[\"I10.x00\"],
  \"items\":[{\"drug_id\":$drug,\"route\":\"1\",\"frequency\":\"qd\",\"dosage\":\"5\",\"dose_unit\":\"mg\",\"quantity\":1,\"days\":7}]}" \
  | json 'd["id"]')
echo "3. the doctor accepted, wrote the record and prescribed: prescription $rx"

ph=$(login $reviewer)
call POST "/api/v1/prescriptions/$rx/review" "$ph" '{"decision":"approve"}' >/dev/null
echo "4. $reviewer approved it (signed)"

read -r payment order < <(call POST "/api/v1/visits/$visit/payments" "$pat" \
  "{\"channel\":\"wechat\",\"prescription_id\":$rx}" | json 'd["payment"]["id"], d["payment"]["order_no"]' | tr -d "(),'")
IHOS_PAY_STATE="$dir/pay-channel/pay-channel.jsonl" python3 scripts/pay-channel.py pay "$order" --url "$url" \
  --cacert "$ca" --key "$dir/pay-channel/pay-channel.key" >/dev/null
state=$(call GET "/api/v1/payments/$payment" "$pat" | json 'd["state"]')
echo "5. the patient ordered $order and the payment channel confirmed it: $state"

ph2=$(login $dispenser)
status=$(call POST "/api/v1/prescriptions/$rx/dispense" "$ph2" '{"delivery_type":"0"}' | json 'd["status"]')
echo "6. $dispenser dispensed it: $status"

call POST "/api/v1/visits/$visit/close" "$doc" >/dev/null
call POST "/api/v1/visits/$visit/evaluation" "$pat" '{"satisfaction":5,"score":9,"text":"医生很耐心"}' >/dev/null
echo "7. the doctor closed the visit and the patient evaluated it: the journey is done"
