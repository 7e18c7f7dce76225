"""Seed pipeline 2 (first order) end to end on a real Kafka-protocol broker
(tansu), with software no one here wrote on both sides: confluent-kafka
(librdkafka) produces the Debezium change events and reads the outputs;
`ddsql server --kafka-bootstrap` runs the article's statements.

    first_order.py BOOTSTRAP DDSQL_URL [avro REGISTRY_URL [DDSQL_BINARY]]

With DDSQL_BINARY, `ddsql topic consume --value-encoding avro` must also
show the AVRO input topic on the broker as the events' JSON, as a user
looks at a real Debezium topic from the shell.

All input is written before the statements are sent (so the expected
records do not depend on the idle-partition wait). The expected output is
computed here from the pipeline's rule as a user states it; one record
more, less or different fails the run.
"""

import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from debezium import Run

BOOTSTRAP, DDSQL = sys.argv[1], sys.argv[2]
AVRO = len(sys.argv) > 3 and sys.argv[3] == "avro"
REGISTRY = sys.argv[4] if AVRO else None
SOURCE = "TRADE_MYSQL.TRADE.ORDER" + (".AVRO" if AVRO else "")
USERS = 40
BACKFILL = {1: 97, 2: 60}  # the article's two INSERT VALUES


# Failing, reporting and /ksql as the other e2e scripts do them.
run = Run("first-order", BOOTSTRAP, DDSQL, REGISTRY)
fail, ok, ksql = run.fail, run.ok, run.ksql


# The change events: users 1..USERS order three times each (increasing order
# ids); a few orders are deleted again ('d', which the pipeline ignores);
# one event has no user (filtered out).
events = []
order = 1000
for round_ in range(3):
    for user in range(1, USERS + 1):
        order += 1
        after = {"order_id": order, "user_id": user}
        events.append({"before": None, "after": after, "op": "c", "ts_ms": 1741168800000 + order})
        if order % 7 == 0:
            events.append({"before": after, "after": None, "op": "d", "ts_ms": 1741168800000 + order})
events.append({"before": None, "after": {"order_id": 9999, "user_id": None}, "op": "c", "ts_ms": 1741168899999})

admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
for f in admin.create_topics([NewTopic(SOURCE, num_partitions=1, replication_factor=1)]).values():
    f.result()
producer = Producer({"bootstrap.servers": BOOTSTRAP, "enable.idempotence": False, "linger.ms": 5})
if AVRO:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    order_value = {"type": "record", "name": "Value", "namespace": "TRADE_MYSQL.TRADE.ORDER",
                   "fields": [{"name": "order_id", "type": "long"},
                              {"name": "user_id", "type": ["null", "long"], "default": None}],
                   "connect.name": "TRADE_MYSQL.TRADE.ORDER.Value"}
    envelope = {"type": "record", "name": "Envelope", "namespace": "TRADE_MYSQL.TRADE.ORDER",
                "fields": [{"name": "before", "type": ["null", order_value], "default": None},
                           {"name": "after", "type": ["null", "Value"], "default": None},
                           {"name": "op", "type": "string"},
                           {"name": "ts_ms", "type": ["null", "long"], "default": None}],
                "connect.name": "TRADE_MYSQL.TRADE.ORDER.Envelope"}
    serialize = AvroSerializer(SchemaRegistryClient({"url": REGISTRY}), json.dumps(envelope))
    encode = lambda e: serialize(e, SerializationContext(SOURCE, MessageField.VALUE))
else:
    encode = lambda e: json.dumps(e).encode()
for e in events:
    key = json.dumps({"order_id": (e["after"] or e["before"])["order_id"]}).encode()
    producer.produce(SOURCE, key=key, value=encode(e), timestamp=e["ts_ms"])
if producer.flush(30) != 0:
    fail("the producer did not deliver every event")
ok(f"produced {len(events)} Debezium events to {SOURCE} ({'AVRO' if AVRO else 'JSON'})")

# The article's statements, in its order, with its backfill.
suffix = "_AVRO" if AVRO else ""
source_columns = "" if AVRO else """ (
    before struct<order_id bigint, user_id bigint>,
    after struct<order_id bigint, user_id bigint>,
    op string, ts_ms bigint)"""
ksql(f"""create stream `stg_order{suffix}`{source_columns}
with (kafka_topic='{SOURCE}', value_format='{"AVRO" if AVRO else "JSON"}');""")
ksql(f"""create stream `stm_order_candidate{suffix}` (user_id bigint key, order_id bigint)
with (kafka_topic='STREAM.ORDER.CANDIDATE{suffix}', key_format='JSON', value_format='JSON', partitions=1);""")
ksql(f"""create table `tb_min_order{suffix}`
with (kafka_topic='TABLE.MIN_ORDER{suffix}', key_format='JSON', value_format='JSON', partitions=1) as
select user_id, min(order_id) as min_order_id from `stm_order_candidate{suffix}` group by user_id;""")
for user, order_id in BACKFILL.items():
    ksql(f"insert into `stm_order_candidate{suffix}` (user_id, order_id) values ({user}, {order_id});")
ksql(f"""insert into `stm_order_candidate{suffix}`
select after->user_id as user_id, after->order_id as order_id from `stg_order{suffix}`
where op = 'c' and after->user_id is not null and after->order_id is not null
partition by after->user_id emit changes;""")
ksql(f"""create stream `stm_min_order{suffix}`
with (kafka_topic='STREAM.MIN_ORDER{suffix}', key_format='JSON', value_format='JSON', partitions=1) as
select s.user_id as user_id, true as min_order
from `stm_order_candidate{suffix}` s left join `tb_min_order{suffix}` t on s.user_id = t.user_id
where (t.user_id is null or t.min_order_id = s.order_id) emit changes;""")
ok("the article's statements were accepted")

# The rule, as a user states it: the candidates are the backfill, then
# every created order with a user, in offset order. A user's minimum
# changes when a candidate is below all before it; each candidate that is
# its user's minimum so far (itself included) is a first order.
candidates = [(u, o) for u, o in BACKFILL.items()] + [
    (e["after"]["user_id"], e["after"]["order_id"]) for e in events
    if e["op"] == "c" and e["after"]["user_id"] is not None
]
minimum, table, firsts = {}, [], []
for user, order_id in candidates:
    if user not in minimum or order_id < minimum[user]:
        minimum[user] = order_id
        table.append((user, {"MIN_ORDER_ID": order_id}))
    if order_id == minimum[user]:
        firsts.append((user, {"MIN_ORDER": True}))
expected = {
    f"STREAM.ORDER.CANDIDATE{suffix}": [(u, {"ORDER_ID": o}) for u, o in candidates],
    f"TABLE.MIN_ORDER{suffix}": table,
    f"STREAM.MIN_ORDER{suffix}": firsts,
}


def read_all(topic, want, deadline):
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"e2e-{topic}-{time.time()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    while time.time() < deadline:
        m = consumer.poll(0.2)
        if m is None:
            # Past the expected count, wait a little more for any extra.
            if len(got) >= want and time.time() > settle_until[0]:
                break
            continue
        if m.error():
            continue
        got.append((json.loads(m.key()), json.loads(m.value()) if m.value() is not None else None))
        if len(got) == want:
            settle_until[0] = time.time() + 2
    consumer.close()
    return got


settle_until = [0]
deadline = time.time() + 90
for topic, want in expected.items():
    got = read_all(topic, len(want), deadline)
    if topic.startswith("TABLE."):
        # A table's changelog says the table's contents after each update;
        # how many updates repeat a value is not the contract (ksqlDB
        # without caching repeats one per input). Per key: the last value
        # is the final minimum, and every value is one the running minimum
        # took, in the order it took them.
        same = {k for k, _ in got} == {k for k, _ in want}
        for key in {k for k, _ in want}:
            mins = [v for k, v in want if k == key]
            seen = [v for k, v in got if k == key]
            deduped = [v for i, v in enumerate(seen) if i == 0 or v != seen[i - 1]]
            same = same and seen[-1] == mins[-1] and deduped == mins
        if same:
            ok(f"{topic}: {len(got)} updates, each key's minima in order, final minimum right")
            continue
    else:
        same = got == want
    if not same:
        missing = [r for r in want if r not in got]
        extra = [r for r in got if r not in want]
        fail(f"{topic}: expected {len(want)} records, got {len(got)}; missing {missing[:5]}, unexpected {extra[:5]}")
    ok(f"{topic}: {len(got)} records, as expected")

if AVRO and len(sys.argv) > 5:
    import subprocess

    done = subprocess.run(
        [sys.argv[5], "--kafka-bootstrap", BOOTSTRAP, "--schema-registry-url", REGISTRY,
         "topic", "consume", SOURCE, "--value-encoding", "avro"],
        capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        fail(f"ddsql topic consume {SOURCE} --value-encoding avro: {done.stderr}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if [line["value"] for line in lines] != events:
        fail(f"ddsql topic consume {SOURCE} --value-encoding avro: {len(lines)} records, not the {len(events)} events as produced: {lines[:2]}")
    ok(f"ddsql topic consume --value-encoding avro shows {SOURCE} on the broker as the {len(events)} events")
print("e2e first-order: passed")
