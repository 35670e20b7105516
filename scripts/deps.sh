#!/usr/bin/env bash
# deps.sh build|test|bench|cluster|deb — install the Debian packages a target needs,
# only those that are missing.  Needs root (or sudo) when something is
# missing; does nothing otherwise.
set -euo pipefail

build=(gcc make pkg-config libc6-dev openssl ca-certificates python3-cryptography
       libssl-dev libsodium-dev libsqlite3-dev libpq-dev node-llhttp libjansson-dev
       libinih-dev libcurl4-openssl-dev libqrencode-dev libzstd-dev libcsv-dev libp11-kit-dev python3 oathtool)
test=(libcmocka-dev softhsm2 graphviz postgresql oathtool python3 python3-cryptography python3-yaml python3-jsonschema clang libclang-rt-14-dev
      procps chromium chromium-driver python3-selenium fonts-wqy-microhei python3-hl7
      orthanc orthanc-dicomweb orthanc-wsi dcmtk iproute2 janus janus-tools coturn)
bench=(wrk nginx-light postgresql)
# the production shape on one machine (make cluster, the cluster test)
cluster=(postgresql patroni etcd-server haproxy pgbackrest curl)
# the Debian package and its install test (a debootstrapped Debian 12 booted
# with systemd-nspawn)
deb=(debhelper dpkg-dev fakeroot lintian debootstrap systemd-container)

want=("${build[@]}")
case "${1:-build}" in
  build) ;;
  test) want+=("${test[@]}" "${cluster[@]}" "${deb[@]}") ;;
  bench) want+=("${test[@]}" "${bench[@]}" "${cluster[@]}") ;;
  cluster) want+=("${cluster[@]}") ;;
  deb) want+=("${deb[@]}") ;;
  *) echo "deps.sh: unknown target '$1'" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: run as root or install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged nginx, PostgreSQL, Orthanc, Janus and coturn
# services on install; ihos never uses them (tests and benches start their
# own on loopback, or in a network namespace).
if [ -d /run/systemd/system ]; then
  "${sudo[@]}" systemctl disable --now nginx postgresql haproxy etcd patroni orthanc janus coturn >/dev/null 2>&1 || true
else # no systemd: their init scripts may have started them
  for s in orthanc janus coturn; do
    if [ -x /etc/init.d/$s ]; then "${sudo[@]}" /etc/init.d/$s stop >/dev/null 2>&1 || true; fi
  done
fi
