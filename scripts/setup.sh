#!/usr/bin/env bash
# Installs what ddsql needs on a fresh Debian machine that has the Rust
# toolchain. Idempotent: it only installs what is missing.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is not on PATH; install the Rust toolchain (https://rustup.rs) first" >&2
    exit 1
fi

# Debian packages the build needs. None yet: the build is pure Rust. The
# Kafka transport adds cmake and libcurl4-openssl-dev for librdkafka here.
packages=()
need=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
