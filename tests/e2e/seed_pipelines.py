"""Seed pipelines 1 (event join, Debezium MySQL) and 3 (toggle dedup,
Debezium MongoDB) end to end on a real Kafka-protocol broker (tansu), in
AVRO as the article runs them: confluent-kafka's AvroSerializer writes the
change events with the envelope schemas Debezium's connectors register
(debezium.py), `ddsql server --kafka-bootstrap` runs the article's
statements verbatim (examples/*/pipeline.sql, sent after all input is
written), and confluent-kafka reads the outputs, the AVRO ones through
AvroDeserializer. The expected records are computed here from each
pipeline's rule as a user states it; one record more, less or different
fails the run.

    seed_pipelines.py BOOTSTRAP DDSQL_URL REGISTRY_URL
"""

import json
import sys
import time

from debezium import (Run, json_decode, mongodb_envelope, mongodb_source, mysql_envelope,
                      mysql_source, statements)

BOOTSTRAP, DDSQL, REGISTRY = sys.argv[1:4]
T0 = 1741168800000


def event_join():
    run = Run("event-join", BOOTSTRAP, DDSQL, REGISTRY)
    names_topic, submits_topic = "EVENT_MYSQL.EVENT.NAME", "EVENT_MYSQL.EVENT.SUBMIT"
    name_schema = mysql_envelope(names_topic, [
        {"name": "id", "type": "int"},
        {"name": "name", "type": ["null", "string"], "default": None}])
    submit_schema = mysql_envelope(submits_topic, [
        {"name": "id", "type": "long"},
        {"name": "user_id", "type": "long"},
        {"name": "event_id", "type": ["null", "int"], "default": None},
        {"name": "created_at", "type": {"type": "long", "connect.version": 1,
                                        "connect.name": "io.debezium.time.Timestamp"}}])

    def envelope(table, op, before, after, pos, ts):
        return {"before": before, "after": after, "source": mysql_source(table, pos, ts),
                "op": op, "ts_ms": ts, "transaction": None}

    # Event names: events 1..8 named at even milliseconds; some renamed
    # later, one deleted; event 9 is named only late.
    names = []  # (id, name or None for a delete, timestamp)
    for i in range(1, 9):
        names.append((i, f"event-{i}", T0 + 20 * i))
    for i in (2, 5):
        names.append((i, f"event-{i}-renamed", T0 + 400 + 20 * i))
    names.append((3, None, T0 + 500))
    names.append((9, "late", T0 + 900))
    name_events = []
    current = {}
    for pos, (i, name, ts) in enumerate(names):
        before = current.get(i)
        after = None if name is None else {"id": i, "name": name}
        op = "d" if name is None else ("u" if before else "c")
        name_events.append(({"id": i}, envelope("EVENT.EVENT.NAME", op, before, after, pos, ts), ts))
        current[i] = after
    # Submissions at odd milliseconds, interleaved in time with the names:
    # user u submits event (u % 9) + 1; every seventh is an update ('u',
    # which the pipeline ignores), every eleventh has no event.
    submits = []
    for n in range(60):
        ts = T0 + 1 + 17 * n
        event_id = None if n % 11 == 10 else (n % 9) + 1
        op = "u" if n % 7 == 6 else ("r" if n < 5 else "c")
        after = {"id": n, "user_id": 100 + n % 13, "event_id": event_id, "created_at": ts}
        before = after if op == "u" else None
        submits.append(({"id": n}, envelope("EVENT.EVENT.SUBMIT", op, before, after, 1000 + n, ts), ts))
    run.produce_avro(names_topic, name_schema, name_events)
    run.produce_avro(submits_topic, submit_schema, submits)
    for sql in statements("examples/event-join/pipeline.sql"):
        run.ksql(sql)
    run.ok("the article's statements were accepted")

    # The rule: each created or snapshot submission with an event joins the
    # event's name as of the submission's time (the newest name written at
    # or before it; a deleted event keeps its last name, since the table
    # takes names only from rows with an id); a submission with no name yet
    # is dropped. Keyed by the user.
    def name_at(event_id, ts):
        named = [name for i, name, t in names if i == event_id and name is not None and t <= ts]
        return named[-1] if named else None

    joined = []
    for _, e, ts in submits:
        a = e["after"]
        if e["op"] in ("r", "c") and a["event_id"] is not None and name_at(a["event_id"], ts) is not None:
            joined.append((a["user_id"], {"event_name": name_at(a["event_id"], ts), "event_time": a["created_at"]}))
    deadline = time.time() + 90
    got = run.read_all("STREAM.EVENT.JOIN", len(joined), deadline, json_decode)
    run.compare("STREAM.EVENT.JOIN", got, joined)

    # The table's changelog, AVRO both sides: per event, its names in order.
    latest = []
    for i, name, _ in names:
        if name is not None:
            latest.append((i, {"NAME": name}))
    got = run.read_all("TABLE.EVENT.NAME", len(latest), deadline, run.avro_decoder())
    run.compare("TABLE.EVENT.NAME", got, latest)


def toggle():
    run = Run("toggle", BOOTSTRAP, DDSQL, REGISTRY)
    topic = "SETTING_MONGO.SETTING.OPTION"
    schema = mongodb_envelope(topic)
    # Users 1..6 set their toggle over time: each write is the whole
    # document (change streams with the full document), the user id as
    # MongoDB extended JSON; some writes leave the toggle out, some repeat
    # it, snapshot reads ('r') and deletes are not changes.
    docs = []
    for n in range(80):
        user = 1 + (n * 5) % 6
        value = [True, False, False, True, True][(n // 6) % 5]
        doc = {"_id": {"$oid": f"65566afbfefeb3c639de{user:04x}"}, "user_id": {"$numberLong": str(1000 + user)}}
        if n % 9 != 8:
            doc["toggle"] = value
        op = "r" if n < 6 else ("d" if n % 13 == 12 else ("c" if n < 12 else "u"))
        docs.append((op, user, doc))
    events = []
    for n, (op, user, doc) in enumerate(docs):
        ts = T0 + 10 * n
        after = None if op == "d" else json.dumps(doc)
        events.append(({"id": json.dumps({"$oid": doc["_id"]["$oid"]})},
                       {"before": None, "after": after, "patch": None, "filter": None, "updateDescription": None,
                        "source": mongodb_source(topic, n, ts), "op": op, "ts_ms": ts, "transaction": None}, ts))
    run.produce_avro(topic, schema, events)
    for sql in statements("examples/toggle/pipeline.sql"):
        run.ksql(sql)
    run.ok("the article's statements were accepted")

    # The rule: candidates are created or updated documents with a toggle,
    # in offset order; a user's toggle is reported the first time and then
    # whenever it differs from the user's previous candidate.
    candidates = [(e["after"], e["source"]["ts_ms"]) for _, e, _ in events
                  if e["after"] is not None and e["op"] in ("u", "c") and "toggle" in json.loads(e["after"])]
    candidate_rows = []
    previous, reported = {}, []
    for after, ts in candidates:
        doc = json.loads(after)
        user, value = int(doc["user_id"]["$numberLong"]), doc["toggle"]
        candidate_rows.append((None, {"USER_ID": user, "TOGGLE": value, "UPDATED_AT": ts}))
        if user not in previous or previous[user] != value:
            reported.append((user, {"toggle": value}))
        previous[user] = value
    deadline = time.time() + 90
    got = run.read_all("STREAM.TOGGLE.CANDIDATE", len(candidate_rows), deadline, run.avro_decoder())
    run.compare("STREAM.TOGGLE.CANDIDATE", got, candidate_rows)
    got = run.read_all("STREAM.TOGGLE", len(reported), deadline, json_decode)
    run.compare("STREAM.TOGGLE", got, reported)


{"event-join": event_join, "toggle": toggle}[sys.argv[4]]() if len(sys.argv) > 4 else (event_join(), toggle())
print("e2e seed pipelines: passed")
