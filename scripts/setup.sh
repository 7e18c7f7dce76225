#!/usr/bin/env bash
# Installs what ddsql needs on a fresh Debian machine that has the Rust
# toolchain. Idempotent: it only installs what is missing.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is not on PATH; install the Rust toolchain (https://rustup.rs) first" >&2
    exit 1
fi

# Debian packages: postgresql is the correctness harness's oracle
# (tests/harness; it starts a throwaway cluster of its own, so the
# package's default cluster is never used). cmake and libcurl4-openssl-dev
# build librdkafka from source (rdkafka's `cmake-build` feature), which the
# Kafka transport links statically.
packages=(postgresql cmake libcurl4-openssl-dev)
need=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 && continue
    # A PostgreSQL from elsewhere, on PATH, serves the harness as well.
    if [ "$pkg" = postgresql ] && command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        continue
    fi
    need+=("$pkg")
done
# The client suite (scripts/clients.sh) runs PyPI's and npm's ksqlDB
# clients: Python with venv, Node.js with npm. Any on PATH will do.
if ! command -v python3 >/dev/null 2>&1; then
    need+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    need+=(python3-venv)
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    need+=(nodejs npm)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
