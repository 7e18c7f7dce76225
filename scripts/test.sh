#!/usr/bin/env bash
# Runs every test of the workspace, plus the formatting and lint checks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The harness and the HTTP seed test are targets of their own that
# --all-targets leaves out (test = false).
cargo clippy --test harness --test seed_over_http --quiet -- -D warnings
cargo test --workspace
# Third-party ksqlDB clients (PyPI's ksql-python-ng, npm's ksqldb-client)
# against a real server.
scripts/clients.sh
# The three seed pipelines on a real Kafka-protocol broker (tansu, installed
# once into ~/.cache/ddsql/tansu), JSON and AVRO, with confluent-kafka on both
# ends; and whether that tansu supports transactions.
scripts/e2e.sh
# The correctness harness (tests/harness): ddsql against PostgreSQL at
# every logical time. Release, because it runs 120,000-record backlogs.
cargo test --release --test harness
# Seed pipeline 2 over HTTP with a 200,000-event backlog, 1, 2 and 4
# workers, then as a `ddsql run` script twice.
cargo test --release --test seed_over_http
