//! ddsql benchmarks. Each prints its figures; none asserts on time.
//!
//! `cargo run --release -p ddsql-bench -- first-order --events 1000000`

use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};

use ddsql::Session;
use ddsql_engine::io::{Record, Transport};
use ddsql_engine::RunOptions;

#[derive(Parser)]
#[command(about = "ddsql benchmarks: each prints its figures")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Seed pipeline 2 (first order) over a backlog of Debezium JSON order
    /// events on the embedded log: end-to-end throughput and peak memory.
    FirstOrder {
        /// Order events in the backlog.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Distinct users placing them.
        #[arg(long, default_value_t = 100_000)]
        users: u64,
        /// Dataflow worker threads.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Records read per partition per step.
        #[arg(long, default_value_t = 4096)]
        batch: usize,
    },
}

/// Peak resident memory of this process, in MB (Linux's VmHWM).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn first_order(events: u64, users: u64, workers: usize, batch: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut session = Session::open(dir.path())?;
    session.log().create_topic("TRADE_MYSQL.TRADE.ORDER", 1)?;
    session
        .execute_script(include_str!("../../examples/first-order/pipeline.sql"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    let started = Instant::now();
    let mut chunk = Vec::with_capacity(10_000);
    let base_ts = 1_741_168_800_000i64;
    // Users are visited in a scrambled order so keys arrive unsorted.
    for i in 0..events {
        let user = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) % users.max(1);
        let order = 1000 + i;
        let ts = base_ts + i as i64;
        let value = format!(
            r#"{{"before":null,"after":{{"order_id":{order},"user_id":{user}}},"op":"c","ts_ms":{ts}}}"#
        );
        chunk.push(Record {
            key: Some(format!(r#"{{"order_id":{order}}}"#).into_bytes()),
            value: Some(value.into_bytes()),
            timestamp: ts,
            headers: vec![],
        });
        if chunk.len() == chunk.capacity() {
            session.log().append("TRADE_MYSQL.TRADE.ORDER", 0, &chunk)?;
            chunk.clear();
        }
    }
    session.log().append("TRADE_MYSQL.TRADE.ORDER", 0, &chunk)?;
    session.log().flush()?;
    let generated = started.elapsed();

    let started = Instant::now();
    let report = session
        .run_until_caught_up(&RunOptions { workers, batch })
        .context("running the pipeline")?;
    let elapsed = started.elapsed().as_secs_f64();
    let rate = events as f64 / elapsed;
    eprintln!(
        "generated {events} events for {users} users in {generated:.2?}; ran with {workers} workers, batch {batch}: {:.2}s, read {}, wrote {}",
        elapsed, report.records_read, report.records_written
    );
    println!(
        "first-order: {:.0} events/s ({:.0} per core), peak RSS {:.0} MB",
        rate,
        rate / workers as f64,
        peak_rss_mb()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().bench {
        Bench::FirstOrder {
            events,
            users,
            workers,
            batch,
        } => first_order(events, users, workers, batch),
    }
}
