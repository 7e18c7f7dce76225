"""confluent-kafka's own Avro serde (fastavro underneath, the Confluent wire
format) and its SchemaRegistryClient, against `ddsql schema-registry` and
ddsql's AVRO reader and writer.

    confluent_avro.py produce REGISTRY_URL LINES_FILE
        registers the Debezium MySQL envelope (debezium-mysql-customers-
        envelope.avsc) through AvroSerializer and writes the serialized
        change events as `ddsql topic produce --value-encoding base64` lines;
    confluent_avro.py check REGISTRY_URL JSON_OUT AVRO_OUT
        compares what tests/clients/customers.sql wrote (the outputs of
        `ddsql topic consume`) with the records expected from the events,
        decoding the AVRO output with AvroDeserializer through the registry;
    confluent_avro.py topic REGISTRY_URL DDSQL DATA_DIR
        `ddsql topic consume --value-encoding avro` shows AvroSerializer's
        records as the events' JSON, and records written by `ddsql topic
        produce --value-encoding avro --value-schema` are the events again
        to AvroDeserializer.

Exits non-zero on the first difference.
"""

import base64
import json
import os
import subprocess
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

HERE = os.path.dirname(os.path.abspath(__file__))
TOPIC = "inventory.inventory.customers"


def source(pos, snapshot):
    return {
        "version": "2.2.0.Final", "connector": "mysql", "name": "inventory",
        "ts_ms": 1700000000000 + pos, "snapshot": snapshot, "db": "inventory",
        "table": "customers", "server_id": 223344, "gtid": None,
        "file": "mysql-bin.000003", "pos": pos, "row": 0, "thread": None, "query": None,
    }


def customer(i, first, last, email):
    return {"id": i, "first_name": first, "last_name": last, "email": email}


EVENTS = [
    {"before": None, "after": customer(1001, "Sally", "Thomas", "sally.thomas@acme.com"),
     "source": source(1, "true"), "op": "r", "ts_ms": 1700000000001, "transaction": None},
    {"before": None, "after": customer(1002, "George", None, "gbailey@foobar.com"),
     "source": source(2, "last"), "op": "r", "ts_ms": 1700000000002, "transaction": None},
    {"before": customer(1001, "Sally", "Thomas", "sally.thomas@acme.com"),
     "after": customer(1001, "Sally Marie", "Thomas", "sally.marie@acme.com"),
     "source": source(3, None), "op": "u", "ts_ms": 1700000000003,
     "transaction": {"id": "tx-1", "total_order": 1, "data_collection_order": 1}},
    {"before": customer(1002, "George", None, "gbailey@foobar.com"), "after": None,
     "source": source(4, "false"), "op": "d", "ts_ms": 1700000000004, "transaction": None},
]


def fail(what):
    print(f"confluent-kafka avro: FAILED: {what}", file=sys.stderr)
    sys.exit(1)


def ok(what):
    print(f"confluent-kafka avro: ok: {what}")


def produce(url, out_path):
    client = SchemaRegistryClient({"url": url})
    with open(os.path.join(HERE, "debezium-mysql-customers-envelope.avsc")) as f:
        schema = f.read()
    serializer = AvroSerializer(client, schema)
    ctx = SerializationContext(TOPIC, MessageField.VALUE)
    with open(out_path, "w") as out:
        for e in EVENTS:
            value = serializer(e, ctx)
            out.write(json.dumps({"value": base64.b64encode(value).decode()}) + "\n")
    latest = client.get_latest_version(f"{TOPIC}-value")
    if json.loads(latest.schema.schema_str)["name"] != "Envelope":
        fail(f"the registry's latest schema: {latest.schema.schema_str}")
    again = client.register_schema(f"{TOPIC}-value", Schema(schema, "AVRO"))
    if again != latest.schema_id:
        fail(f"registering the same schema again gave id {again}, not {latest.schema_id}")
    ok(f"registered {TOPIC}-value as id {latest.schema_id} (version {latest.version}), wrote {len(EVENTS)} events")


def consumed(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def check(url, json_out, avro_out):
    alive = [e for e in EVENTS if e["after"] is not None]
    expected_json = [{"ID": e["after"]["id"], "EMAIL": e["after"]["email"], "OP": e["op"]} for e in alive]
    got = [r["value"] for r in consumed(json_out)]
    if got != expected_json:
        fail(f"customer_emails:\n  expected {expected_json}\n  got      {got}")
    ok(f"customer_emails: {len(got)} records as expected")

    client = SchemaRegistryClient({"url": url})
    deserializer = AvroDeserializer(client)
    ctx = SerializationContext("customer_names", MessageField.VALUE)
    got = [deserializer(base64.b64decode(r["value"]), ctx) for r in consumed(avro_out)]
    expected = [
        {"ID": e["after"]["id"], "FIRST_NAME": e["after"]["first_name"],
         "LAST_NAME": e["after"]["last_name"], "SNAPSHOT": e["source"]["snapshot"]}
        for e in alive
    ]
    if got != expected:
        fail(f"customer_names (AVRO):\n  expected {expected}\n  got      {got}")
    ok(f"customer_names: {len(got)} AVRO records decoded by AvroDeserializer as expected")


def topic(url, ddsql, data_dir):
    base = [ddsql, "--data-dir", data_dir, "--schema-registry-url", url, "topic"]

    def run(args, stdin=None):
        done = subprocess.run(base + args, input=stdin, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            fail(f"ddsql topic {' '.join(args)}: {done.stderr}")
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    got = [r["value"] for r in run(["consume", TOPIC, "--value-encoding", "avro"])]
    if got != EVENTS:
        fail(f"topic consume --value-encoding avro:\n  expected {EVENTS}\n  got      {got}")
    ok(f"ddsql topic consume --value-encoding avro shows AvroSerializer's {len(got)} events as their JSON")

    copy = "customers_copy"
    lines = "".join(json.dumps({"value": e}) + "\n" for e in EVENTS)
    run(["produce", copy, "--value-encoding", "avro", "--value-schema",
         os.path.join(HERE, "debezium-mysql-customers-envelope.avsc")], lines)
    client = SchemaRegistryClient({"url": url})
    deserializer = AvroDeserializer(client)
    ctx = SerializationContext(copy, MessageField.VALUE)
    got = [deserializer(base64.b64decode(r["value"]), ctx)
           for r in run(["consume", copy, "--value-encoding", "base64"])]
    if got != EVENTS:
        fail(f"topic produce --value-encoding avro, read by AvroDeserializer:\n  expected {EVENTS}\n  got      {got}")
    registered = client.get_latest_version(f"{copy}-value")
    ok(f"ddsql topic produce --value-encoding avro wrote {len(got)} events AvroDeserializer reads back (schema id {registered.schema_id})")


if __name__ == "__main__":
    {
        "produce": lambda: produce(*sys.argv[2:4]),
        "check": lambda: check(*sys.argv[2:5]),
        "topic": lambda: topic(*sys.argv[2:5]),
    }[sys.argv[1]]()
