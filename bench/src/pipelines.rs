//! Seed pipelines 1 (event join) and 3 (toggle dedup) over a generated
//! backlog on the embedded log: end-to-end throughput and peak memory.
//! (Pipeline 2 has its own bench with baselines, `first_order.rs`.)

use std::time::Instant;

use ddsql_engine::RunOptions;

use crate::gen::{self, Encoding, Scratch, Shape, Sink};
use crate::sys;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Pipeline {
    /// Seed pipeline 1: submissions joined with event names.
    EventJoin,
    /// Seed pipeline 3: toggle changes deduplicated through a table.
    Toggle,
}

impl Pipeline {
    fn sql(self, encoding: Encoding) -> &'static str {
        match (self, encoding) {
            (Pipeline::EventJoin, Encoding::Avro) => {
                include_str!("../../examples/event-join/pipeline.sql")
            }
            (Pipeline::EventJoin, Encoding::Json) => {
                include_str!("../../examples/event-join/pipeline-json.sql")
            }
            (Pipeline::Toggle, Encoding::Avro) => {
                include_str!("../../examples/toggle/pipeline.sql")
            }
            (Pipeline::Toggle, Encoding::Json) => {
                include_str!("../../examples/toggle/pipeline-json.sql")
            }
        }
    }

    /// The topics the pipeline writes, to count what came out.
    fn outputs(self) -> &'static [&'static str] {
        match self {
            Pipeline::EventJoin => &["TABLE.EVENT.NAME", "STREAM.EVENT.JOIN"],
            Pipeline::Toggle => &[
                "STREAM.TOGGLE.CANDIDATE",
                "TABLE.TOGGLE.CHANGES",
                "STREAM.TOGGLE",
            ],
        }
    }
}

pub fn run(
    pipeline: Pipeline,
    shape: &Shape,
    encoding: Encoding,
    partitions: u32,
    workers: usize,
    batch: usize,
) -> anyhow::Result<()> {
    let scratch = Scratch::new(encoding)?;
    let mut session = ddsql::Session::connect(&scratch.connections)?;
    let sink = Sink {
        transport: session.log().as_ref(),
        registry: scratch.client.as_ref(),
        encoding,
        partitions,
    };
    let started = Instant::now();
    let progress = |n: u64| eprintln!("  generated {n} of {} events", shape.events);
    let bytes = match pipeline {
        Pipeline::EventJoin => gen::submits_and_names(&sink, shape, &progress)?,
        Pipeline::Toggle => gen::toggles(&sink, shape, &progress)?,
    };
    eprintln!(
        "generated {} {encoding:?} events for {} users in {partitions} partitions: {:.0} MB in {:.1?}",
        shape.events,
        shape.users,
        bytes as f64 / 1e6,
        started.elapsed()
    );
    session
        .execute_script(pipeline.sql(encoding))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rss_before = sys::rss_mb();
    let _sampler = sys::RssSampler::start(&format!("{pipeline:?}"));
    let (cpu0, started) = (sys::cpu_seconds(), Instant::now());
    let report = session.run_until_caught_up(&RunOptions {
        workers,
        batch,
        ..Default::default()
    })?;
    let (seconds, cpu) = (started.elapsed().as_secs_f64(), sys::cpu_seconds() - cpu0);
    let log = session.log();
    let counts: Vec<String> = pipeline
        .outputs()
        .iter()
        .map(|t| Ok(format!("{t} {}", log.end_offset(t, 0)?)))
        .collect::<anyhow::Result<_>>()?;
    eprintln!(
        "ran in {seconds:.2}s ({cpu:.2}s CPU, RSS {rss_before:.0} MB before): read {}, wrote {} ({}), {} processing errors",
        report.records_read,
        report.records_written,
        counts.join(", "),
        report.processing_errors
    );
    anyhow::ensure!(
        report.processing_errors == 0,
        "the pipeline logged processing errors"
    );
    let name = match pipeline {
        Pipeline::EventJoin => "event-join",
        Pipeline::Toggle => "toggle",
    };
    println!(
        "{name}: {:.0} events/s ({:.0} per CPU-second), peak RSS {:.0} MB ({} {encoding:?} events, {} users, {workers} workers)",
        shape.events as f64 / seconds,
        shape.events as f64 / cpu,
        sys::peak_rss_mb(),
        shape.events,
        shape.users
    );
    Ok(())
}
