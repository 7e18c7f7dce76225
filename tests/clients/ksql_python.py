"""PyPI's ksql-python-ng (KSQLAPI) against a running `ddsql server`.

Run by scripts/clients.sh with the server's URL as the only argument; every
call a ksqlDB user makes goes through the client's own code, and each
answer is checked. Exits non-zero on the first difference.
"""

import json
import sys
import time

from ksql import KSQLAPI
from ksql.errors import KSQLError

URL = sys.argv[1]


def check(cond, what):
    if not cond:
        print(f"ksql-python-ng: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ksql-python-ng: ok: {what.splitlines()[0][:100]}")


def rows_of(chunks):
    """The rows of a /query response (ksqlDB's StreamedRow array)."""
    text = "".join(chunks)
    rows = []
    for item in json.loads(text):
        if "row" in item:
            rows.append(item["row"]["columns"])
    return rows


# The constructor checks the server's version through /info.
client = KSQLAPI(URL, check_version=True)
check(client.get_ksql_version() == "0.29.0", "get_ksql_version: ksqlDB 0.29.0")

# ksql: any statement; a topic for the streams below.
done = client.ksql(
    "CREATE STREAM pageviews_seed (viewtime BIGINT, userid VARCHAR, pageid VARCHAR) "
    "WITH (kafka_topic='pageviews', value_format='JSON', partitions=1);"
)
check(done[0]["commandStatus"]["status"] == "SUCCESS", f"ksql CREATE STREAM: {done}")

# create_stream builds CREATE STREAM ... WITH (kafka_topic=..., value_format=...).
ok = client.create_stream(
    table_name="pageviews",
    columns_type=["viewtime bigint", "userid varchar", "pageid varchar"],
    topic="pageviews",
    value_format="JSON",
)
check(ok is True, "create_stream")
streams = client.ksql("show streams;")[0]["streams"]
check(any(s["name"] == "PAGEVIEWS" for s in streams), f"show streams lists PAGEVIEWS: {streams}")

# create_stream_as builds CREATE STREAM ... AS SELECT ... FROM ... WHERE ...
ok = client.create_stream_as(
    table_name="pageviews_home",
    select_columns=["viewtime", "userid", "pageid"],
    src_table="pageviews",
    kafka_topic="pageviews_home",
    value_format="JSON",
    conditions="pageid = 'home'",
)
check(ok is True, "create_stream_as")

# inserts_stream: HTTP/2 to /inserts-stream, one ack per row.
acks = client.inserts_stream(
    "pageviews",
    [
        {"VIEWTIME": 1, "USERID": "alice", "PAGEID": "home"},
        {"VIEWTIME": 2, "USERID": "bob", "PAGEID": "about"},
        {"VIEWTIME": 3, "USERID": "carol", "PAGEID": "home"},
    ],
)
check([a["status"] for a in acks] == ["ok", "ok", "ok"], f"inserts_stream acks: {acks}")

# query over HTTP/1.1 (/query): a push query from the earliest offsets,
# ended by its LIMIT.
rows = rows_of(
    client.query(
        "select userid from pageviews_home emit changes limit 2;",
        stream_properties={"ksql.streams.auto.offset.reset": "earliest"},
    )
)
check(sorted(r[0] for r in rows) == ["alice", "carol"], f"query (HTTP/1.1) rows: {rows}")

# query over HTTP/2 (/query-stream, delimited): header line, then rows.
lines = [
    json.loads(line)
    for chunk in client.query(
        "select userid, pageid from pageviews emit changes limit 3;",
        stream_properties={"auto.offset.reset": "earliest"},
        use_http2=True,
    )
    for line in chunk.splitlines()
    if line.strip()
]
check(lines[0].get("columnNames") == ["USERID", "PAGEID"], f"query (HTTP/2) header: {lines}")
check(len(lines) == 4 and lines[1] == ["alice", "home"], f"query (HTTP/2) rows: {lines}")

# close_query: a push query that would run for ever, closed by its id.
stream = client.sa.http2_stream("select * from pageviews emit changes;")
header = json.loads(next(stream).splitlines()[0])
query_id = header["queryId"]
check(client.close_query(query_id) is True, f"close_query {query_id}")
check(client.close_query("no_such_query") is False, "close_query of an unknown id is False (400)")

# get_properties: SHOW PROPERTIES.
props = client.get_properties()
check(any(p["name"] == "auto.offset.reset" for p in props), f"get_properties: {props}")

# Errors come back as KSQLError with ksqlDB's code.
try:
    client.ksql("select * from pageviews;")
    check(False, "a SELECT on /ksql is refused")
except KSQLError as e:
    check(e.error_code == 40002, f"KSQLError for SELECT on /ksql: {e.error_code}")
try:
    client.ksql("create stream bad (id int) with (kafka_topic='bad', value_format='JSON', partitions=1, nope=1);")
    check(False, "an unknown WITH property is refused")
except KSQLError as e:
    check(e.error_code == 40001, f"KSQLError for a bad statement: {e}")

print("ksql-python-ng: all calls passed")
