#!/bin/sh
# Installs the Debian packages egressd needs to build and test, skipping what is present.
set -eu

PACKAGES="
build-essential cmake ninja-build pkg-config
libboost-dev libre2-dev libc-ares-dev libfmt-dev libspdlog-dev libcli11-dev
libtomlplusplus-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
libpsl-dev publicsuffix libseccomp-dev
python3 python3-pytest python3-yaml curl openssl iproute2 nftables iptables groff-base
tinyproxy rpm
chromium nodejs
"
# npm installs the browser tests' Node packages (tests/browser). A nodejs that carries its
# own npm (NodeSource's: it conflicts with Debian's npm package) is enough as it is.
if ! command -v npm >/dev/null 2>&1; then
  PACKAGES="$PACKAGES npm"
fi

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages:$missing" >&2
  echo "install-deps: run as root (or: sudo apt-get install$missing)" >&2
  exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# tinyproxy's package would start its service (the tests run their own instances as
# parent proxies): policy-rc.d says no while installing, so that nothing starts listening.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# temporary, from egressd scripts/install-deps.sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
case " $missing " in
  *" tinyproxy "*)
    # Installed for the tests only: its service must not start at the next boot either.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
      systemctl disable tinyproxy >/dev/null 2>&1 || true
    fi
    ;;
esac
