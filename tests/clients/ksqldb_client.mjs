// npm's ksqldb-client (HTTP/2) against a running `ddsql server`.
//
// Run by scripts/clients.sh with the server's URL as the only argument;
// every call goes through the client's own code and each answer is
// checked. Exits non-zero on the first difference.

import KsqldbClient from "ksqldb-client";

const url = new URL(process.argv[2]);

function check(cond, what) {
    if (!cond) {
        console.error(`ksqldb-client: FAILED: ${what}`);
        process.exit(1);
    }
    console.log(`ksqldb-client: ok: ${what.split("\n")[0].slice(0, 100)}`);
}

const show = (v) => JSON.stringify(v);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const client = new KsqldbClient({ host: `http://${url.hostname}`, port: url.port });
await client.connect();
check(client.connected, "connect");

const created = await client.executeStatement(
    "CREATE STREAM orders (user_id BIGINT KEY, order_id BIGINT) " +
        "WITH (kafka_topic='orders', value_format='JSON', partitions=1);"
);
check(!created.error && created.status === 200, `executeStatement CREATE STREAM: ${show(created)}`);
const table = await client.executeStatement(
    "CREATE TABLE first_orders AS SELECT user_id, MIN(order_id) AS first_order " +
        "FROM orders GROUP BY user_id;"
);
check(!table.error, `executeStatement CREATE TABLE AS: ${show(table)}`);

const streams = await client.listStreams();
check(streams.some((s) => s.name === "ORDERS" && s.topic === "orders"), `listStreams: ${show(streams)}`);
const tables = await client.listTables();
check(tables.some((t) => t.name === "FIRST_ORDERS"), `listTables: ${show(tables)}`);
const queries = await client.listQueries();
check(queries.some((q) => q.id.startsWith("CTAS_FIRST_ORDERS_")), `listQueries: ${show(queries)}`);
const topics = await client.listTopics();
check(topics.some((t) => t.name === "orders"), `listTopics: ${show(topics)}`);

const described = await client.describeSource("orders");
check(
    described.name === "ORDERS" && described.fields.map((f) => f.name).join() === "ROWTIME,USER_ID,ORDER_ID",
    `describeSource: ${show(described)}`
);

// insertInto: /inserts-stream with Accept: application/json.
for (const [user, order] of [[1, 97], [2, 60], [1, 98]]) {
    const inserted = await client.insertInto("orders", { USER_ID: user, ORDER_ID: order });
    check(
        !inserted.error && inserted.data.rows[0].status === "ok",
        `insertInto ${user}/${order}: ${show(inserted)}`
    );
}

// A pull query (query: /query-stream, application/json), once the table
// has caught up.
let pulled;
for (let i = 0; i < 200; i++) {
    pulled = await client.query("SELECT * FROM first_orders WHERE user_id = 1;");
    if (!pulled.error && pulled.data.rows.length === 1) break;
    await sleep(50);
}
// (The client turns each row into an object keyed by column name.)
check(
    !pulled.error && show(pulled.data.rows) === show([{ USER_ID: 1, FIRST_ORDER: 97 }]),
    `query (pull): ${show(pulled)}`
);

// streamQuery with streamsProperties: from the earliest offsets, all three.
let rows = [];
const pushed = await client.streamQuery(
    "SELECT user_id, order_id FROM orders EMIT CHANGES LIMIT 3;",
    (data) => rows.push(...(data.rows || [])),
    { streamsProperties: { "ksql.streams.auto.offset.reset": "earliest" } }
);
for (let i = 0; i < 200 && rows.length < 3; i++) await sleep(50);
check(rows.length === 3, `streamQuery with streamsProperties: ${show(pushed)} ${show(rows)}`);

// streamQuery without: from the latest offsets, as in ksqlDB; a row
// inserted after it started arrives; then terminatePushQuery ends it.
let live = [];
let queryId;
// (Its promise settles when the response ends: not awaited until then.)
const started = client.streamQuery("SELECT user_id, order_id FROM orders EMIT CHANGES;", (data) => {
    if (data.metadata && data.metadata.queryId) queryId = data.metadata.queryId;
    live.push(...(data.rows || []));
});
for (let i = 0; i < 200 && !queryId; i++) await sleep(50);
check(queryId, "streamQuery without properties gives a query id");
await client.insertInto("orders", { USER_ID: 3, ORDER_ID: 5 });
for (let i = 0; i < 200 && live.length < 1; i++) await sleep(50);
check(show(live) === show([{ USER_ID: 3, ORDER_ID: 5 }]), `streamQuery from the latest offsets: ${show(live)}`);
const terminated = await client.terminatePushQuery(queryId);
check(!terminated.error && terminated.status === 200, `terminatePushQuery: ${show(terminated)}`);
const ended = await started;
check(ended.status === 200, `the terminated streamQuery's response ended: ${show(ended)}`);

await client.disconnect();
console.log("ksqldb-client: all calls passed");
