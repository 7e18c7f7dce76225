#!/usr/bin/env bash
# Runs every test of the workspace, plus the formatting and lint checks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The harness is a target of its own that --all-targets leaves out (test = false).
cargo clippy --test harness --quiet -- -D warnings
cargo test --workspace
# The correctness harness (tests/harness): ddsql against PostgreSQL at
# every logical time. Release, because it runs 120,000-record backlogs.
cargo test --release --test harness
