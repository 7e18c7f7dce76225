#!/usr/bin/env bash
# The three seed pipelines end to end on a real Kafka-protocol broker: tansu
# (crates.io, pinned, installed once into ~/.cache/ddsql/tansu, about 12
# minutes on 2 cores the first time), PyPI's confluent-kafka on the client
# side (Debezium events through AvroSerializer, outputs through
# AvroDeserializer), `ddsql schema-registry` and `ddsql server
# --kafka-bootstrap` in between (tests/e2e/). Run alone: scripts/e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ddsql/target}"
tansu_root="${DDSQL_TANSU_ROOT:-$HOME/.cache/ddsql/tansu}"
tansu="$tansu_root/bin/tansu"
if [ ! -x "$tansu" ]; then
    echo "e2e: installing tansu 0.6.0 into $tansu_root (once; about 12 minutes on 2 cores)"
    CARGO_TARGET_DIR="$tansu_root/target" cargo install tansu --locked --version 0.6.0 \
        --features dynostore,libsql --root "$tansu_root" --quiet
fi

# The Python side shares the client suite's pinned virtual environment.
stamp="$(sha256sum tests/clients/requirements.txt | cut -c1-16)"
venv="${DDSQL_CLIENTS_CACHE:-$HOME/.cache/ddsql/clients}/venv-$stamp"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv.tmp"
    "$venv.tmp/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
    mv "$venv.tmp" "$venv"
fi

cargo build --quiet --bin ddsql
ddsql="$CARGO_TARGET_DIR/debug/ddsql"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # FILE PATTERN WHAT
    for _ in $(seq 1 400); do
        grep -q "$2" "$1" 2>/dev/null && return
        sleep 0.05
    done
    echo "e2e: $3 did not start:" >&2
    cat "$1" >&2
    exit 1
}

# tansu on sqlite (its memory engine reports wrong high watermarks); the
# path after sqlite:// is relative to the working directory.
port="$(free_port)"
mkdir -p "$work/tansu"
(cd "$work/tansu" && exec "$tansu" broker \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine "sqlite://tansu.db" >"$work/tansu/log" 2>&1) &
pids+=("$!")
for _ in $(seq 1 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
bootstrap="127.0.0.1:$port"

"$ddsql" schema-registry --listen 127.0.0.1:0 >"$work/registry" 2>&1 &
pids+=("$!")
wait_for "$work/registry" "listening on" "the schema registry"
registry="$(grep -o 'http://[0-9.:]*' "$work/registry" | head -1)"

"$ddsql" --kafka-bootstrap "$bootstrap" --schema-registry-url "$registry" \
    server --listen 127.0.0.1:0 --idle-ms 200 >"$work/server" 2>"$work/server.err" &
pids+=("$!")
wait_for "$work/server" "listening on" "ddsql server"
url="$(grep -o 'http://[0-9.:]*' "$work/server" | head -1)"

if ! timeout 300 "$venv/bin/python" tests/e2e/first_order.py "$bootstrap" "$url" ||
   ! timeout 300 "$venv/bin/python" tests/e2e/first_order.py "$bootstrap" "$url" avro "$registry" "$ddsql" ||
   ! timeout 300 "$venv/bin/python" tests/e2e/seed_pipelines.py "$bootstrap" "$url" "$registry" ||
   ! timeout 120 "$venv/bin/python" tests/e2e/transactions.py "$bootstrap" unsupported; then
    echo "e2e: the server's log:" >&2
    tail -50 "$work/server.err" >&2
    exit 1
fi
echo "e2e: passed on tansu"
