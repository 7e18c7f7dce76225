"""Debezium's change-event schemas as Avro, and the Kafka plumbing the e2e
scripts share.

The MySQL envelope is the one Debezium's MySQL connector registers through
Confluent's AvroConverter (tests/clients/debezium-mysql-customers-envelope.avsc),
with the table's own row record in place of `customers`'. The MongoDB
envelope comes from the Kafka Connect schema a Debezium 2.0 MongoDB
connector emits (debezium-mongodb-envelope.connect.json), turned into Avro
by AvroConverter's rules (Confluent's AvroData, connect.meta.data on):
structs become records named by their Connect name (the part after the
last dot, the rest the namespace), an optional field is ["null", T] with
default null (or [T, "null"] with its non-null default), and a Connect
name, version, parameters and default on any other type become
`connect.*` properties.
"""

import copy
import json
import os
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

PRIMITIVES = {"int8": "int", "int16": "int", "int32": "int", "int64": "long", "float32": "float",
              "float64": "double", "boolean": "boolean", "string": "string", "bytes": "bytes"}


def connect_to_avro(schema, seen=None):
    """A Connect schema (JSON converter form) as the Avro schema AvroConverter derives."""
    seen = set() if seen is None else seen
    t = schema["type"]
    if t == "struct":
        full = schema.get("name", "io.confluent.connect.avro.ConnectDefault")
        if full in seen:
            return full
        seen.add(full)
        namespace, _, name = full.rpartition(".")
        out = {"type": "record", "name": name}
        if namespace:
            out["namespace"] = namespace
        out["fields"] = [field(f, seen) for f in schema["fields"]]
    elif t == "array":
        out = {"type": "array", "items": optional(schema["items"], seen)}
    elif t == "map":
        out = {"type": "map", "values": optional(schema["values"], seen)}
    else:
        out = {"type": PRIMITIVES[t]}
    if t in ("int8", "int16"):
        out["connect.type"] = t
    if "version" in schema:
        out["connect.version"] = schema["version"]
    if "parameters" in schema:
        out["connect.parameters"] = schema["parameters"]
    if "default" in schema and t != "struct":
        out["connect.default"] = schema["default"]
    if "name" in schema:
        out["connect.name"] = schema["name"]
    return out if len(out) > 1 else out["type"]


def optional(schema, seen):
    avro = connect_to_avro(schema, seen)
    return ["null", avro] if schema.get("optional") else avro


def field(f, seen):
    avro = connect_to_avro(f, seen)
    out = {"name": f["field"]}
    if f.get("optional"):
        if f.get("default") is not None:
            out["type"], out["default"] = [avro, "null"], f["default"]
        else:
            out["type"], out["default"] = ["null", avro], None
    else:
        out["type"] = avro
    return out


def mongodb_envelope(topic):
    """The Avro schema of a Debezium MongoDB collection's topic."""
    with open(os.path.join(HERE, "debezium-mongodb-envelope.connect.json")) as f:
        schema = json.load(f)["schema"]
    schema["name"] = f"{topic}.Envelope"
    return connect_to_avro(schema)


def mysql_envelope(topic, columns):
    """The Avro schema of a Debezium MySQL table's topic; `columns` are the
    row's Avro fields."""
    with open(os.path.join(ROOT, "tests/clients/debezium-mysql-customers-envelope.avsc")) as f:
        envelope = json.load(f)
    envelope = copy.deepcopy(envelope)
    envelope["namespace"] = topic
    envelope["connect.name"] = f"{topic}.Envelope"
    value = envelope["fields"][0]["type"][1]
    value["fields"] = columns
    value["connect.name"] = f"{topic}.Value"
    return envelope


def mysql_source(table, pos, ts_ms):
    return {"version": "2.2.0.Final", "connector": "mysql", "name": table.split(".")[0],
            "ts_ms": ts_ms, "snapshot": "false", "db": table.split(".")[1], "table": table.split(".")[2],
            "server_id": 223344, "gtid": None, "file": "mysql-bin.000003", "pos": pos, "row": 0,
            "thread": None, "query": None}


def mongodb_source(topic, ord_, ts_ms):
    name, db, collection = topic.split(".")
    return {"version": "2.0.1.Final", "connector": "mongodb", "name": name, "ts_ms": ts_ms,
            "snapshot": "false", "db": db, "sequence": None, "rs": "rs0", "collection": collection,
            "ord": ord_, "lsid": None, "txnNumber": None}


class Run:
    """One script's output lines, its broker, server and registry."""

    def __init__(self, name, bootstrap, ddsql_url, registry):
        self.name, self.bootstrap, self.url, self.registry = name, bootstrap, ddsql_url, registry

    def fail(self, what):
        print(f"e2e {self.name}: FAILED: {what}", file=sys.stderr)
        sys.exit(1)

    def ok(self, what):
        print(f"e2e {self.name}: ok: {what}")

    def ksql(self, sql):
        body = json.dumps({"ksql": sql, "streamsProperties": {}}).encode()
        req = urllib.request.Request(f"{self.url}/ksql", data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            self.fail(f"{sql[:60]}...: {e.code} {e.read().decode()}")

    def produce_avro(self, topic, schema, keyed_events):
        """Creates `topic` and writes (key, event, timestamp) triples, the
        values through confluent-kafka's AvroSerializer, keys as JSON."""
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewTopic
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroSerializer
        from confluent_kafka.serialization import MessageField, SerializationContext

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for f in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)]).values():
            f.result()
        serialize = AvroSerializer(SchemaRegistryClient({"url": self.registry}), json.dumps(schema))
        ctx = SerializationContext(topic, MessageField.VALUE)
        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": False, "linger.ms": 5})
        for key, event, ts in keyed_events:
            producer.produce(topic, key=json.dumps(key).encode(), value=serialize(event, ctx), timestamp=ts)
        if producer.flush(30) != 0:
            self.fail(f"the producer did not deliver every event to {topic}")
        self.ok(f"produced {len(keyed_events)} Debezium events to {topic} (AVRO)")

    def read_all(self, topic, want, deadline, decode):
        """`topic`'s records as (key, value) by `decode(bytes, field)`: at
        least `want`, then two seconds more for any extra."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"e2e-{topic}-{time.time()}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.assign([TopicPartition(topic, 0, 0)])
        got, settle = [], None
        while time.time() < deadline and (settle is None or time.time() < settle):
            m = consumer.poll(0.2)
            if m is None or m.error():
                continue
            got.append((decode(m.key(), "key", topic), decode(m.value(), "value", topic)))
            if len(got) >= want and settle is None:
                settle = time.time() + 2
        consumer.close()
        return got

    def avro_decoder(self):
        from confluent_kafka.schema_registry import SchemaRegistryClient
        from confluent_kafka.schema_registry.avro import AvroDeserializer
        from confluent_kafka.serialization import MessageField, SerializationContext

        deserializer = AvroDeserializer(SchemaRegistryClient({"url": self.registry}))

        def decode(b, side, topic):
            if b is None:
                return None
            field = MessageField.KEY if side == "key" else MessageField.VALUE
            return deserializer(b, SerializationContext(topic, field))
        return decode

    def compare(self, topic, got, want):
        if got != want:
            missing = [r for r in want if r not in got]
            extra = [r for r in got if r not in want]
            self.fail(f"{topic}: expected {len(want)} records, got {len(got)}; missing {missing[:5]}, unexpected {extra[:5]}")
        self.ok(f"{topic}: {len(got)} records, as expected")


def json_decode(b, _side, _topic):
    return None if b is None else json.loads(b)


def statements(path):
    """The statements of an example pipeline file, as the article gives them."""
    with open(os.path.join(ROOT, path)) as f:
        text = "\n".join(line for line in f.read().splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() + ";" for s in text.split(";") if s.strip()]
