#!/usr/bin/env bash
# Installs everything mailplane needs to build, test and benchmark, from Debian 12 packages and the
# npm registry (with a lock file). Idempotent: installs only what is missing. Every package is listed
# here and nowhere else.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build toolchain and libraries.
PKGS_BUILD=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev          # Asio, Beast, JSON
  libssl-dev                # OpenSSL 3
  libc-ares-dev             # async DNS
  librocksdb-dev            # spool and state
  libgmime-3.0-dev          # MIME parsing
  libsodium-dev             # random keys, hashing
  libspdlog-dev libfmt-dev  # logging
  libtomlplusplus-dev       # configuration
  libcli11-dev              # command line
  libidn2-dev               # internationalized domain names (IDNA2008)
  libre2-dev                # linear-time regular expressions (bounce classification rules)
  libgtest-dev libgmock-dev # unit tests
  libbenchmark-dev          # micro benchmarks
)
# Test, lint, fuzz and benchmark tools.
PKGS_TOOLS=(
  nodejs npm                # integration tests (node:test) and npm test clients
  curl                      # README example and smoke tests
  clang libclang-rt-14-dev  # libFuzzer, sanitizers
  clang-format clang-tidy   # make lint
  wrk python3 procps iproute2  # make bench: load generator, payload, free(1), ss(8)
  dnsmasq-base              # tests: a real DNS server on loopback (MX, A, null MX)
  swaks openssl             # tests: a real SMTP submission client; self-signed certificates
  python3-dkim python3-nacl # tests: an independent DKIM verifier (dkimpy; nacl for ed25519)
  postfix                   # tests and bench: a real receiving MX (private instances only)
  faketime                  # tests: a server whose clock is a month ahead (retention)
)

missing=()
for p in "${PKGS_BUILD[@]}" "${PKGS_TOOLS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# node/npm may come from elsewhere on a developer machine; accept working binaries.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix as a package only: no system-wide mail server is configured or started.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm test tools, pinned by tests/package-lock.json.
if [ "${1:-}" != "--no-npm" ]; then
  if [ ! -d tests/node_modules ] || [ tests/package-lock.json -nt tests/node_modules/.stamp ]; then
    (cd tests && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
  fi
fi
