#!/usr/bin/env bash
# Checks for (and, as root, installs) the Debian packages kiban needs.
#   runtime  : Japanese font for PDFs, PC/SC headers + swig to build pyscard
#   postgres : a PostgreSQL server for the test suite and benchmarks
#   test     : runtime + postgres + Chromium for the browser tests
set -euo pipefail
what="${1:-runtime}"
missing=()

need_runtime() {
  [ -f /usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf ] || missing+=(fonts-ipaexfont-gothic)
  [ -f /usr/include/PCSC/winscard.h ] || missing+=(libpcsclite-dev)
  command -v swig >/dev/null 2>&1 || missing+=(swig)
}
need_postgres() {
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
}
need_chromium() {
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
}

case "$what" in
  runtime) need_runtime ;;
  postgres) need_postgres ;;
  test) need_runtime; need_postgres; need_chromium ;;
  *) echo "usage: $0 runtime|postgres|test" >&2; exit 2 ;;
esac

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = "0" ]; then
  echo "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "kiban needs these Debian packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
