"""Does the broker support Kafka transactions as a Kafka user expects?
The README says what the pinned tansu does; this keeps that sentence true.

    transactions.py BOOTSTRAP supported|unsupported

A transactional producer (confluent-kafka) commits three records and
aborts two. "supported" means: a `read_committed` consumer sees exactly
the three committed records, and a `read_uncommitted` one sees all five.
"unsupported" means a step of the transaction protocol is refused as a
feature the broker does not have (librdkafka's _UNSUPPORTED_FEATURE, from
the broker's ApiVersions). Anything else (another error, or aborted
records visible to `read_committed`) fails, as does a finding other than
the expected one.
"""

import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BOOTSTRAP, EXPECT = sys.argv[1], sys.argv[2]
TOPIC = f"e2e-transactions-{int(time.time() * 1000)}"


def finish(finding, detail):
    print(f"e2e transactions: tansu {finding}: {detail}")
    if finding != EXPECT:
        print(f"e2e transactions: FAILED: expected '{EXPECT}', found '{finding}'; "
              "update the README's sentence on transactions and scripts/e2e.sh", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)


def read(isolation):
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"{TOPIC}-{isolation}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": isolation})
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    got, deadline = [], time.time() + 10
    while time.time() < deadline:
        m = consumer.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value().decode())
    consumer.close()
    return got


admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
for f in admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)]).values():
    f.result()
producer = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": TOPIC,
                     "transaction.timeout.ms": 10000})
step = "init_transactions"
try:
    producer.init_transactions(15)
    step = "commit_transaction"
    producer.begin_transaction()
    for v in ("c1", "c2", "c3"):
        producer.produce(TOPIC, value=v.encode())
    producer.commit_transaction(15)
    step = "abort_transaction"
    producer.begin_transaction()
    for v in ("a1", "a2"):
        producer.produce(TOPIC, value=v.encode())
    producer.flush(15)
    producer.abort_transaction(15)
except KafkaException as e:
    if e.args[0].code() == KafkaError._UNSUPPORTED_FEATURE:
        finish("unsupported", f"{step} refused: {e.args[0].str()}")
    print(f"e2e transactions: FAILED: {step}: {e.args[0]}", file=sys.stderr)
    sys.exit(1)
committed, uncommitted = read("read_committed"), read("read_uncommitted")
if committed != ["c1", "c2", "c3"] or uncommitted != ["c1", "c2", "c3", "a1", "a2"]:
    print(f"e2e transactions: FAILED: read_committed saw {committed}, read_uncommitted saw {uncommitted}",
          file=sys.stderr)
    sys.exit(1)
finish("supported", "read_committed sees the committed records only")
