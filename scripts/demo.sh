#!/usr/bin/env bash
# The demo: seed pipeline 2 ("first order") on the embedded log.
# Produces Debezium order events, runs examples/first-order/pipeline.sql
# (backfill + INSERT INTO ... SELECT + stream-table join), prints the
# first-order events.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

cargo build --release --quiet --bin ddsql
ddsql="${CARGO_TARGET_DIR:-target}/release/ddsql"
data="$(mktemp -d)/ddsql-data"
trap 'rm -rf "$(dirname "$data")"' EXIT

echo "== Debezium order events -> TRADE_MYSQL.TRADE.ORDER"
"$ddsql" --data-dir "$data" topic produce TRADE_MYSQL.TRADE.ORDER < examples/first-order/orders.jsonl
echo
echo "== ddsql run examples/first-order/pipeline.sql"
"$ddsql" --data-dir "$data" run examples/first-order/pipeline.sql --workers 2
echo
echo "== tb_min_order (TABLE.MIN_ORDER), the changelog"
"$ddsql" --data-dir "$data" topic consume TABLE.MIN_ORDER
echo
echo "== first orders (STREAM.MIN_ORDER): exactly one per user"
"$ddsql" --data-dir "$data" topic consume STREAM.MIN_ORDER
