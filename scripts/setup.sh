#!/usr/bin/env bash
# Installs every Debian package voxbridge needs to build, run and test. Idempotent:
# packages already present are skipped, so a second run costs only a dpkg query.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache ninja-build
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libspdlog-dev libfmt-dev libcli11-dev
  libsoxr-dev libwebrtc-audio-processing-dev libmp3lame-dev libmpg123-dev
  libespeak-ng-dev espeak-ng-data
  libpocketsphinx-dev libsphinxbase-dev pocketsphinx-en-us pocketsphinx-testdata
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libsqlite3-dev libyaml-cpp-dev sqlite3 curl python3 python3-httpx nodejs
  libpq-dev postgresql
  clang-14 libclang-rt-14-dev libfuzzer-14-dev lld-14
  libhiredis-dev redis-server haproxy
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-nice
  chromium fonts-dejavu-core
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# npm comes with some Node.js builds (NodeSource's nodejs conflicts with Debian's npm).
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
