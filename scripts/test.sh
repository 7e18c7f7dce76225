#!/usr/bin/env bash
# Runs every test of the workspace, plus the formatting and lint checks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
