#!/usr/bin/env bash
# The third-party ksqlDB clients a user already has, against a real
# `ddsql server` on the embedded log: PyPI's ksql-python-ng and npm's
# ksqldb-client; and confluent-kafka's Avro serializer and deserializer
# through `ddsql schema-registry` (tests/clients/). Installs them, pinned, into a cache
# outside the clone ($DDSQL_CLIENTS_CACHE, default ~/.cache/ddsql/clients),
# starts one fresh server per client and runs its suite; exits non-zero if
# any call's answer differs. Run alone: scripts/clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${DDSQL_CLIENTS_CACHE:-$HOME/.cache/ddsql/clients}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ddsql/target}"
mkdir -p "$cache"

# Python: a virtual environment per requirements file.
stamp="$(sha256sum tests/clients/requirements.txt | cut -c1-16)"
venv="$cache/venv-$stamp"
if [ ! -x "$venv/bin/python" ]; then
    echo "clients: installing tests/clients/requirements.txt into $venv"
    python3 -m venv "$venv.tmp"
    "$venv.tmp/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
    mv "$venv.tmp" "$venv"
fi

# Node: npm ci from the lock file, once per lock file.
stamp="$(cat tests/clients/package.json tests/clients/package-lock.json | sha256sum | cut -c1-16)"
node_dir="$cache/node-$stamp"
if [ ! -d "$node_dir/node_modules" ]; then
    echo "clients: installing tests/clients/package-lock.json into $node_dir"
    rm -rf "$node_dir.tmp"
    mkdir -p "$node_dir.tmp"
    cp tests/clients/package.json tests/clients/package-lock.json "$node_dir.tmp/"
    (cd "$node_dir.tmp" && npm ci --silent --no-audit --no-fund)
    rm -rf "$node_dir"
    mv "$node_dir.tmp" "$node_dir"
fi
# ES modules resolve packages next to the script, not through NODE_PATH.
cp tests/clients/ksqldb_client.mjs "$node_dir/"

cargo build --quiet --bin ddsql
ddsql="$CARGO_TARGET_DIR/debug/ddsql"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Starts a server on a fresh data directory; prints its URL.
start_server() {
    local dir="$work/$1"
    mkdir -p "$dir"
    "$ddsql" --data-dir "$dir/data" server --listen 127.0.0.1:0 --idle-ms 20 \
        >"$dir/stdout" 2>"$dir/stderr" &
    pids+=("$!")
    for _ in $(seq 1 200); do
        if grep -q "listening on" "$dir/stdout" 2>/dev/null; then
            grep -o 'http://[0-9.:]*' "$dir/stdout" | head -1
            return
        fi
        sleep 0.05
    done
    echo "clients: the server did not start:" >&2
    cat "$dir/stderr" >&2
    exit 1
}

url="$(start_server python)"
timeout 120 "$venv/bin/python" tests/clients/ksql_python.py "$url"

url="$(start_server node)"
timeout 120 node "$node_dir/ksqldb_client.mjs" "$url"

# confluent-kafka's AvroSerializer writes Debezium change events through
# `ddsql schema-registry`; ddsql reads them and writes JSON and AVRO;
# confluent-kafka's AvroDeserializer reads the AVRO back.
dir="$work/avro"
mkdir -p "$dir"
"$ddsql" schema-registry --listen 127.0.0.1:0 >"$dir/registry" 2>&1 &
pids+=("$!")
for _ in $(seq 1 200); do grep -q "listening on" "$dir/registry" 2>/dev/null && break; sleep 0.05; done
registry="$(grep -o 'http://[0-9.:]*' "$dir/registry" | head -1)"
[ -n "$registry" ] || { echo "clients: the schema registry did not start:" >&2; cat "$dir/registry" >&2; exit 1; }
with_registry=(--data-dir "$dir/data" --schema-registry-url "$registry")
"$venv/bin/python" tests/clients/confluent_avro.py produce "$registry" "$dir/events.jsonl"
"$ddsql" "${with_registry[@]}" topic produce inventory.inventory.customers --value-encoding base64 <"$dir/events.jsonl"
"$ddsql" "${with_registry[@]}" run tests/clients/customers.sql
"$ddsql" "${with_registry[@]}" topic consume customer_emails >"$dir/emails.jsonl"
"$ddsql" "${with_registry[@]}" topic consume customer_names --value-encoding base64 >"$dir/names.jsonl"
"$venv/bin/python" tests/clients/confluent_avro.py check "$registry" "$dir/emails.jsonl" "$dir/names.jsonl"
"$venv/bin/python" tests/clients/confluent_avro.py topic "$registry" "$ddsql" "$dir/data"

# fastavro against the Avro resolution cases and fingerprints that
# tests/avro_resolution.rs checks ddsql against.
"$venv/bin/python" tests/clients/avro_resolution.py "$PWD/tests/avro/resolution.json"

echo "clients: ksql-python-ng, ksqldb-client, confluent-kafka's Avro serde and fastavro: every call passed"
