//! Latency of a live pipeline: seed pipeline 2 (first order) following
//! its input topic while order events are appended at a fixed rate.
//!
//! Each event is stamped with the wall clock (ms) as it is appended, and
//! ddsql stamps every output record with its input's timestamp (a stream
//! record's own, an aggregate's latest input's), so an output record read
//! at wall time `now` took `now - timestamp` from append to output. A
//! reader polls the output topics every millisecond; figures are in whole
//! milliseconds, so each carries up to 1 ms of rounding. The first two
//! seconds are warm-up and are not counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ddsql_engine::io::{Record, Transport};
use ddsql_engine::{Live, RunOptions};

use crate::first_order::{pipeline_sql, INPUT};
use crate::gen::{Encoding, Orders, Scratch, Shape, Sink};

const OUTPUTS: [&str; 3] = [
    "STREAM.ORDER.CANDIDATE",
    "TABLE.MIN_ORDER",
    "STREAM.MIN_ORDER",
];
const WARM_UP_MS: i64 = 2_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
pub fn run(
    rate: u64,
    seconds: u64,
    users: u64,
    encoding: Encoding,
    partitions: u32,
    workers: usize,
    idle_ms: i64,
) -> anyhow::Result<()> {
    let scratch = Scratch::new(encoding)?;
    let mut session = ddsql::Session::connect(&scratch.connections)?;
    let log = session.log().clone();
    log.create_topic(INPUT, partitions)?;
    let sink = Sink {
        transport: log.as_ref(),
        registry: scratch.client.as_ref(),
        encoding,
        partitions,
    };
    // Encode every event up front: the producer only stamps and appends.
    let events = rate * seconds;
    let shape = Shape {
        events,
        users,
        skew: 0.0,
        seed: 1,
    };
    let orders = Orders::new(&sink)?;
    let encoded: Vec<(Vec<u8>, Vec<u8>)> = (0..events)
        .map(|i| orders.encode(&shape, i, 0))
        .collect::<anyhow::Result<_>>()?;
    session
        .execute_script(&pipeline_sql(encoding))
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let live = Live::new(idle_ms);
    let stop = live.stop.clone();
    let options = RunOptions {
        workers,
        batch: 4096,
        live: Some(live),
        ..Default::default()
    };
    let engine = std::thread::spawn(move || session.run_until_caught_up(&options));

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || read_latencies(log.as_ref(), &done))
    };

    // Append at the rate, in one-millisecond ticks.
    let started = Instant::now();
    let t0 = now_ms();
    let mut sent = 0u64;
    let mut chunks: Vec<Vec<Record>> = vec![Vec::new(); partitions as usize];
    while sent < events {
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as u64).min(events);
        let ts = now_ms();
        for i in sent..due {
            let (key, value) = &encoded[i as usize];
            chunks[(i % partitions as u64) as usize].push(Record {
                key: Some(key.clone()),
                value: Some(value.clone()),
                timestamp: ts,
                headers: vec![],
            });
        }
        for (p, chunk) in chunks.iter_mut().enumerate() {
            if !chunk.is_empty() {
                log.append(INPUT, p as u32, chunk)?;
                chunk.clear();
            }
        }
        sent = due;
        std::thread::sleep(Duration::from_millis(1));
    }
    let sending = started.elapsed().as_secs_f64();
    // Let the pipeline catch up, then stop it.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let report = engine.join().expect("the engine thread")?;
    done.store(true, Ordering::Relaxed);
    let latencies = reader.join().expect("the reader thread")?;

    eprintln!(
        "sent {events} events in {sending:.1}s ({:.0}/s); the pipeline read {} and wrote {}",
        events as f64 / sending,
        report.records_read,
        report.records_written
    );
    let mut figures = Vec::new();
    for (topic, mut ms) in OUTPUTS.into_iter().zip(latencies) {
        ms.retain(|&(ts, _)| ts >= t0 + WARM_UP_MS);
        let mut ms: Vec<i64> = ms.into_iter().map(|(_, l)| l).collect();
        ms.sort_unstable();
        let pct = |p: f64| {
            ms.get(((ms.len() as f64 * p) as usize).min(ms.len().saturating_sub(1)))
                .copied()
        };
        match (pct(0.5), pct(0.99)) {
            (Some(p50), Some(p99)) => {
                eprintln!(
                    "  {topic}: {} records, p50 {p50} ms, p99 {p99} ms, max {} ms",
                    ms.len(),
                    ms.last().unwrap()
                );
                figures.push((topic, p50, p99));
            }
            _ => eprintln!("  {topic}: no records after the warm-up"),
        }
    }
    let worst = figures.iter().map(|f| f.2).max();
    let p50 = figures.iter().map(|f| f.1).max();
    match (p50, worst) {
        (Some(p50), Some(p99)) => println!(
            "latency: {rate} events/s for {seconds}s ({encoding:?}, {workers} workers, idle {idle_ms} ms): p50 {p50} ms, p99 {p99} ms (append to output, worst output topic)"
        ),
        _ => anyhow::bail!("no output records to measure"),
    }
    Ok(())
}

/// Polls the output topics until `done`; per topic, (input timestamp,
/// latency in ms) of every record.
fn read_latencies(log: &dyn Transport, done: &AtomicBool) -> anyhow::Result<Vec<Vec<(i64, i64)>>> {
    let mut next = [0u64; 3];
    let mut out = vec![Vec::new(); 3];
    let mut fetched = Vec::new();
    loop {
        let finishing = done.load(Ordering::Relaxed);
        for (t, topic) in OUTPUTS.iter().enumerate() {
            let end = log.end_offset(topic, 0)?;
            while next[t] < end {
                fetched.clear();
                next[t] = log.read(topic, 0, next[t], 65_536, &mut fetched)?;
                let now = now_ms();
                out[t].extend(
                    fetched
                        .iter()
                        .map(|f| (f.record.timestamp, now - f.record.timestamp)),
                );
            }
        }
        if finishing {
            return Ok(out);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
