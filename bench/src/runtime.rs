//! The long-lived runtime, measured.
//!
//! **Install.** Seed pipeline 2 (first order) runs over a backlog of
//! `--events` order events until it is caught up. Then a new
//! `CREATE STREAM ... AS SELECT` over a small unrelated topic is created:
//! the figure is the time from the statement to its last output record in
//! its topic, and the CPU the process spends meanwhile. The first-order
//! queries must show no replay: their read and written counters, and their
//! output topics, do not move. The same is measured over a backlog of
//! 10,000 events, for comparison.
//!
//! **Pull queries.** A table of `--keys` rows (a topic written before the
//! server starts) is queried over HTTP while the first-order pipeline runs
//! live, fed at `--rate` order events per second through `/inserts-stream`:
//! p50 and p99 of key lookups (`SELECT * FROM users WHERE id = k`), then a
//! full scan of the table, each through `/query-stream` as a client sees it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ddsql::Session;
use ddsql_engine::io::{Record, Transport};
use ddsql_engine::RuntimeConfig;
use serde_json::json;

use crate::first_order::pipeline_sql;
use crate::gen::{Encoding, Scratch, Shape, Sink};
use crate::sys;

const SMALL: &str = "clicks";
const SMALL_ROWS: u64 = 1_000;
const FIRST_ORDER_OUTPUTS: [&str; 3] = [
    "STREAM.ORDER.CANDIDATE",
    "TABLE.MIN_ORDER",
    "STREAM.MIN_ORDER",
];

pub fn run(events: u64, keys: u64, rate: u64, workers: usize) -> anyhow::Result<()> {
    let large = install(events, workers)?;
    let small = install(10_000, workers)?;
    println!(
        "install: {:.0} ms over a {events}-event backlog, {:.0} ms over 10000 ({:.2}x)",
        large * 1e3,
        small * 1e3,
        large / small
    );
    pulls(keys, rate, workers)
}

/// Runs the first-order pipeline over `events` until caught up, then times
/// a new query over an unrelated topic; returns its seconds.
fn install(events: u64, workers: usize) -> anyhow::Result<f64> {
    let scratch = Scratch::new(Encoding::Json)?;
    let (transport, _) = scratch.connections.open()?;
    let sink = Sink {
        transport: transport.as_ref(),
        registry: None,
        encoding: Encoding::Json,
        partitions: 2,
    };
    let shape = Shape {
        events,
        users: (events / 10).max(1),
        skew: 0.0,
        seed: 1,
    };
    crate::gen::orders(&sink, &shape, &|_| {})?;
    transport.create_topic(SMALL, 1)?;
    let clicks: Vec<Record> = (0..SMALL_ROWS)
        .map(|i| Record {
            key: Some(i.to_string().into_bytes()),
            value: Some(
                json!({"PAGE": format!("/p/{}", i % 10)})
                    .to_string()
                    .into_bytes(),
            ),
            timestamp: 1_700_000_000_000 + i as i64,
            headers: vec![],
        })
        .collect();
    transport.append(SMALL, 0, &clicks)?;
    transport.flush()?;
    drop(transport);

    let mut session = Session::connect(&scratch.connections)?;
    session.start_runtime(
        RuntimeConfig {
            workers,
            batch: 4096,
            max_drift_ms: 10_000,
            idle_ms: Some(500),
            sequence_header: None,
        },
        false,
    )?;
    let started = Instant::now();
    session
        .execute_script(&pipeline_sql(Encoding::Json))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = session.runtime().expect("started").clone();
    runtime.barrier()?;
    let caught_up = started.elapsed();
    let counters = |r: &ddsql_engine::Runtime| -> BTreeMap<String, (u64, u64)> {
        r.installed()
            .into_iter()
            .filter_map(|q| {
                let report = r.report(&q)?;
                Some((q, (report.records_read, report.records_written)))
            })
            .collect()
    };
    let log = session.log().clone();
    let ends = |log: &dyn Transport| -> anyhow::Result<Vec<u64>> {
        let mut ends = Vec::new();
        for t in FIRST_ORDER_OUTPUTS {
            for p in 0..log.partitions(t)?.unwrap_or(0) {
                ends.push(log.end_offset(t, p)?);
            }
        }
        Ok(ends)
    };
    let before = (counters(&runtime), ends(log.as_ref())?);

    let cpu = sys::cpu_seconds();
    let t0 = Instant::now();
    session
        .execute_script(&format!(
            "create stream {SMALL} (id string key, page string) with (kafka_topic='{SMALL}', value_format='JSON');
             create stream pages with (kafka_topic='PAGES', value_format='JSON') as select id, page from {SMALL};"
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let installed = t0.elapsed();
    while log.partitions("PAGES")?.is_none() || log.end_offset("PAGES", 0)? < SMALL_ROWS {
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(60),
            "the new query wrote nothing in 60 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let visible = t0.elapsed();
    let cpu = sys::cpu_seconds() - cpu;
    // A replay would show now or soon.
    std::thread::sleep(Duration::from_millis(500));
    let mut after = (counters(&runtime), ends(log.as_ref())?);
    after.0.remove("CSAS_PAGES_3");
    anyhow::ensure!(
        after == before,
        "the first-order pipeline moved while a query was installed: {before:?} -> {after:?}"
    );
    println!(
        "install ({events}-event backlog, caught up in {:.1?}): CREATE returned in {:.1} ms, all {SMALL_ROWS} output records in {:.1} ms, {cpu:.2} CPU-s; first-order queries read and wrote nothing more: {:?}",
        caught_up,
        installed.as_secs_f64() * 1e3,
        visible.as_secs_f64() * 1e3,
        before.0,
    );
    session.stop_runtime()?;
    Ok(visible.as_secs_f64())
}

/// Key lookups and a full scan of a `keys`-row table over HTTP while the
/// first-order pipeline runs live at `rate` events per second.
fn pulls(keys: u64, rate: u64, workers: usize) -> anyhow::Result<()> {
    let scratch = Scratch::new(Encoding::Json)?;
    {
        let (transport, _) = scratch.connections.open()?;
        transport.create_topic(crate::first_order::INPUT, 2)?;
        transport.create_topic("users", 2)?;
        let mut batch: [Vec<Record>; 2] = [Vec::new(), Vec::new()];
        for id in 0..keys {
            let key = json!(id).to_string().into_bytes();
            let p = transport.partition_for(Some(&key), None, 2) as usize;
            batch[p].push(Record {
                key: Some(key),
                value: Some(
                    json!({"NAME": format!("user-{id}")})
                        .to_string()
                        .into_bytes(),
                ),
                timestamp: 1_700_000_000_000 + id as i64,
                headers: vec![],
            });
            if batch[p].len() == 10_000 {
                transport.append("users", p as u32, &batch[p])?;
                batch[p].clear();
            }
        }
        for (p, b) in batch.iter().enumerate() {
            transport.append("users", p as u32, b)?;
        }
        transport.flush()?;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let config = ddsql::server::Config {
        listen: "127.0.0.1:0".parse()?,
        connections: scratch.connections.clone(),
        workers,
        idle_ms: 500,
        max_request_bytes: 64 << 20,
    };
    std::thread::spawn(move || {
        if let Err(e) = ddsql::server::serve(config, |addr| {
            let _ = tx.send(addr);
        }) {
            eprintln!("the server failed: {e}");
        }
    });
    let url = format!("http://{}", rx.recv_timeout(Duration::from_secs(30))?);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let ksql = |sql: &str| -> anyhow::Result<()> {
        let mut r = agent
            .post(&format!("{url}/ksql"))
            .send_json(json!({"ksql": sql}))?;
        let body = r.body_mut().read_to_string()?;
        anyhow::ensure!(r.status() == 200, "{sql}: {body}");
        Ok(())
    };
    let sql = pipeline_sql(Encoding::Json);
    ksql(&sql)?;
    ksql("create table users (id bigint primary key, name string) with (kafka_topic='users', key_format='JSON', value_format='JSON');")?;
    let pull = |sql: &str| -> anyhow::Result<(Duration, usize)> {
        let t = Instant::now();
        let r = agent
            .post(&format!("{url}/query-stream"))
            .send_json(json!({"sql": sql}))?;
        let rows = BufReader::new(r.into_body().into_reader()).lines().count() - 1;
        Ok((t.elapsed(), rows))
    };
    let (hydrate, n) = pull("select * from users where id = 1;")?;
    anyhow::ensure!(n == 1, "the first lookup found {n} rows");
    eprintln!("the table's arrangement built and caught up with {keys} rows in {hydrate:.1?}");

    // The pipeline live: orders through /inserts-stream at `rate` per second.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let producer = {
        let (stop, sent, url, agent) = (stop.clone(), sent.clone(), url.clone(), agent.clone());
        std::thread::spawn(move || -> anyhow::Result<()> {
            let started = Instant::now();
            let mut order = 10_000_000u64;
            while !stop.load(Ordering::Relaxed) {
                let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
                let n = due.saturating_sub(sent.load(Ordering::Relaxed)).min(5_000);
                if n > 0 {
                    let mut body = json!({"target": "stg_order"}).to_string();
                    for _ in 0..n {
                        order += 1;
                        let row = json!({"after": {"order_id": order, "user_id": order % 100_000}, "op": "c", "ts_ms": 0});
                        body.push('\n');
                        body.push_str(&row.to_string());
                    }
                    let mut r = agent
                        .post(&format!("{url}/inserts-stream"))
                        .send(body.as_bytes())?;
                    r.body_mut().read_to_string()?;
                    sent.fetch_add(n, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let lookups = 2_000u64;
    let mut latencies = Vec::with_capacity(lookups as usize);
    let mut state = 0x2545_f491u64;
    let t = Instant::now();
    let sent_before = sent.load(Ordering::Relaxed);
    for _ in 0..lookups {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let id = state % keys;
        let (d, n) = pull(&format!("select * from users where id = {id};"))?;
        anyhow::ensure!(n == 1, "user {id}: {n} rows");
        latencies.push(d);
    }
    let measured = t.elapsed();
    let live_rate = (sent.load(Ordering::Relaxed) - sent_before) as f64 / measured.as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    let (scan, rows) = pull("select * from users;")?;
    stop.store(true, Ordering::Relaxed);
    producer.join().expect("the producer")?;
    anyhow::ensure!(
        rows as u64 == keys,
        "the scan returned {rows} of {keys} rows"
    );
    let first_orders = pull("select * from `stm_min_order`;")?.1;
    println!(
        "pull: {lookups} key lookups on a {keys}-key table with the pipeline live at {live_rate:.0} events/s ({first_orders} first orders so far): p50 {:.2} ms, p99 {:.2} ms; full scan of {rows} rows in {:.2} s; peak RSS {:.0} MB",
        at(0.5),
        at(0.99),
        scan.as_secs_f64(),
        sys::peak_rss_mb()
    );
    Ok(())
}
