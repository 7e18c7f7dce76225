//! The correctness harness: ddsql equals a batch SQL engine, time by time.
//!
//! For every scenario (see `scenarios.rs`) the harness generates a random
//! backlog of inputs, runs the scenario's script on ddsql with 1, 2 and 4
//! workers and random physical batching, and compares each output with
//! PostgreSQL's answer over the inputs up to each logical time, at every
//! time (see `compare.rs`). A difference is shrunk to a minimal input and
//! saved under `tests/harness/regressions/`, and every file there runs
//! first on every run. Last, a self-check switches on a deliberate bug in
//! the stream-table join and makes sure the harness catches and shrinks it.
//!
//! ```text
//! cargo test --release --test harness                      # everything
//! cargo test --release --test harness -- --only first      # scenarios whose name has "first"
//! cargo test --release --test harness -- --seed 7          # other random inputs
//! cargo test --release --test harness -- --mutate          # every scenario with the join's bug on
//! cargo test --release --test harness -- --mutate-feed     # every scenario with the feed's bug on
//! ```
//!
//! It ends with `harness: N scenarios, N times compared, N differences`
//! and fails if there is a difference.

mod compare;
mod ddsql;
mod oracle;
mod scenarios;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ddsql_engine::mutation::{self, Mutation};
use serde::{Deserialize, Serialize};
use serde_json::json;

use compare::{compare, from_ddsql, from_oracle, Difference, Timeline};
use ddsql::RunConfig;
use oracle::Postgres;
use scenarios::{Input, Oracle, Rng, Scenario};

const USAGE: &str =
    "usage: cargo test --release --test harness -- [--only NAME] [--seed N] [--mutate | --mutate-feed]
  --only NAME  run only the scenarios whose name contains NAME (regressions still run)
  --seed N     the seed of the random inputs and batching (default 1)
  --mutate     switch the stream-table join's deliberate bug on for every scenario:
               the harness must then fail with a minimal counterexample
  --mutate-feed  the same with queries' output read at their causes' times, ahead of
               rows already in the partition they write (offset order broken)";

struct Args {
    only: Option<String>,
    seed: u64,
    mutate: Option<Mutation>,
}

fn args() -> Args {
    let mut args = Args {
        only: None,
        seed: 1,
        mutate: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--only" => args.only = it.next(),
            "--seed" => {
                args.seed = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| fail_usage("--seed needs a number"))
            }
            "--mutate" => args.mutate = Some(Mutation::AsOfJoinExclusive),
            "--mutate-feed" => args.mutate = Some(Mutation::FeedAtCauseTime),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            // What cargo's test runner passes to every test binary.
            "--nocapture" | "--quiet" | "-q" => {}
            other => fail_usage(&format!("unknown argument {other}")),
        }
    }
    args
}

fn fail_usage(message: &str) -> ! {
    eprintln!("harness: {message}\n{USAGE}");
    std::process::exit(2)
}

/// A saved counterexample: it runs first on every run.
#[derive(Serialize, Deserialize)]
struct Regression {
    scenario: String,
    config: RunConfig,
    /// What it caught, for the reader.
    note: String,
    inputs: Vec<Input>,
}

/// One run compared.
struct Outcome {
    times: u64,
    differences: Vec<Difference>,
    problems: Vec<String>,
    seq: Vec<u64>,
}

impl Outcome {
    fn failed(&self) -> bool {
        !self.differences.is_empty() || !self.problems.is_empty()
    }
}

/// Runs ddsql on `inputs` and compares it with the oracle, whose answer is
/// computed on the first call and kept in `expected` for later runs over
/// the same inputs.
fn check(
    pg: &mut Postgres,
    scenario: &Scenario,
    inputs: &[Input],
    config: RunConfig,
    expected: &mut Option<Vec<Timeline>>,
) -> Result<Outcome, String> {
    let observed = ddsql::run(scenario, inputs, config)?;
    if expected.is_none() {
        let rows: Vec<(&str, serde_json::Value)> = inputs
            .iter()
            .zip(&observed.seq)
            .filter_map(|(input, seq)| {
                let mut row = input.row.clone()?;
                row["seq"] = json!(seq);
                row["rowtime"] = json!(input.timestamp);
                Some((scenario.table_of(&input.topic)?, row))
            })
            .collect();
        pg.load(scenario, &rows)?;
        let mut timelines = Vec::new();
        for (output, (keys, _)) in scenario.outputs.iter().zip(&observed.outputs) {
            // Every label an event can have: the inputs', and for events
            // in a topic queries write, those of the rows they derive.
            let n = inputs.len() as u64;
            let mut times: Vec<u64> = (1..=n).collect();
            if output.via.is_some() {
                times.extend((1..=n).map(|seq| ddsql::DERIVED + seq));
            }
            let answer = pg.answer(&output.oracle, &times)?;
            timelines.push(from_oracle(answer, keys));
        }
        if let Some(i) = timelines.iter().position(|t| t.len() == 0) {
            return Err(format!(
                "the oracle expects nothing of {}: a scenario that checks nothing is a defect",
                scenario.outputs[i].source
            ));
        }
        *expected = Some(timelines);
    }
    let actual: Vec<Timeline> = scenario
        .outputs
        .iter()
        .zip(&observed.outputs)
        .map(|(o, (_, records))| from_ddsql(records, !matches!(o.oracle, Oracle::Stream(_))))
        .collect();
    let (differences, times) = compare(expected.as_ref().expect("computed above"), &actual);
    Ok(Outcome {
        times,
        differences,
        problems: observed.problems,
        seq: observed.seq,
    })
}

/// Removes inputs while the run still fails (delta debugging: chunks of
/// halving size), until no single input can go or `budget` is spent.
fn shrink(
    pg: &mut Postgres,
    scenario: &Scenario,
    inputs: &[Input],
    config: RunConfig,
    budget: Duration,
) -> (Vec<Input>, bool) {
    let started = Instant::now();
    let mut current = inputs.to_vec();
    let mut chunk = current.len().div_ceil(2);
    let fails = |pg: &mut Postgres, candidate: &[Input]| {
        check(pg, scenario, candidate, config, &mut None).is_ok_and(|o| o.failed())
    };
    while chunk >= 1 {
        let mut i = 0;
        while i < current.len() {
            if started.elapsed() > budget {
                return (current, false);
            }
            let candidate: Vec<Input> = current[..i]
                .iter()
                .chain(&current[(i + chunk).min(current.len())..])
                .cloned()
                .collect();
            if !candidate.is_empty() && fails(pg, &candidate) {
                current = candidate;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2).min(current.len().div_ceil(2)).max(1);
    }
    (current, true)
}

/// The counterexample, in logical time order, and what went wrong first.
fn describe(scenario: &Scenario, inputs: &[Input], outcome: &Outcome) -> String {
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by_key(|&i| outcome.seq[i]);
    let mut s = String::new();
    for i in order {
        let input = &inputs[i];
        let value = match (&input.malformed, &input.value) {
            (Some(m), _) => format!("{m:?} (malformed)"),
            (None, Some(v)) => v.to_string(),
            (None, None) => "(tombstone)".to_string(),
        };
        s += &format!(
            "    time {:>3}: {}[{}] ts={} key={} value={}\n",
            outcome.seq[i],
            input.topic,
            input.partition,
            input.timestamp,
            input.key.as_ref().map_or("null".into(), |k| k.to_string()),
            value
        );
    }
    for p in outcome.problems.iter().take(3) {
        s += &format!("  problem: {p}\n");
    }
    if let Some(d) = outcome.differences.first() {
        s += &format!(
            "  at time {}, {}:\n    batch SQL says: {}\n    ddsql wrote:    {}\n",
            d.time,
            scenario.outputs[d.output].source,
            if d.expected.is_empty() {
                "(nothing)".to_string()
            } else {
                d.expected.join("; ")
            },
            if d.actual.is_empty() {
                "(nothing)".to_string()
            } else {
                d.actual.join("; ")
            },
        );
    }
    s
}

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/harness/regressions")
}

/// Where counterexamples of deliberate bugs go: not among the regressions
/// unless someone moves them there.
fn mutations_dir() -> PathBuf {
    std::env::temp_dir().join("ddsql-harness-mutations")
}

/// Shrinks a failing run, prints it, and saves it in `save_to` (if any);
/// returns the minimal input's size.
fn report_failure(
    pg: &mut Postgres,
    scenario: &Scenario,
    inputs: &[Input],
    config: RunConfig,
    save_to: Option<PathBuf>,
) -> usize {
    let (minimal, done) = shrink(pg, scenario, inputs, config, Duration::from_secs(180));
    let outcome = match check(pg, scenario, &minimal, config, &mut None) {
        Ok(o) => o,
        Err(e) => {
            println!("  the shrunk input no longer runs: {e}");
            return minimal.len();
        }
    };
    println!(
        "  minimal counterexample ({} of {} inputs{}; workers {}, batch {}, drift {} ms):\n{}",
        minimal.len(),
        inputs.len(),
        if done {
            ""
        } else {
            ", shrinking stopped by its time budget"
        },
        config.workers,
        config.batch,
        config.max_drift_ms,
        describe(scenario, &minimal, &outcome)
    );
    if let Some(dir) = save_to {
        let regression = Regression {
            scenario: scenario.name.to_string(),
            config,
            note: describe(scenario, &minimal, &outcome),
            inputs: minimal.clone(),
        };
        let text = serde_json::to_string_pretty(&regression).expect("serialises");
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        let path = dir.join(format!("{}-{hash:016x}.json", scenario.name));
        match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
            Ok(()) => println!("  saved as {}", path.display()),
            Err(e) => println!("  could not save {}: {e}", path.display()),
        }
    }
    minimal.len()
}

#[derive(Default)]
struct Totals {
    scenarios: u64,
    times: u64,
    differences: u64,
    errors: u64,
}

fn main() {
    let args = args();
    let started = Instant::now();
    let mut pg = match Postgres::start() {
        Ok(pg) => pg,
        Err(e) => {
            eprintln!("harness: {e}");
            std::process::exit(2);
        }
    };
    println!("harness: oracle is PostgreSQL {}", pg.version());
    match args.mutate {
        Some(Mutation::AsOfJoinExclusive) => println!(
            "harness: --mutate: the stream-table join reads the table as of just before each record"
        ),
        Some(Mutation::FeedAtCauseTime) => println!(
            "harness: --mutate feed: a query's output is read at its cause's time, ahead of rows before it"
        ),
        None => {}
    }
    mutation::set(args.mutate);
    let mut all = scenarios::all();
    all.push(scenarios::first_order_small());
    all.push(scenarios::first_order_verbatim_small());
    let mut totals = Totals::default();

    // Saved counterexamples first.
    let mut files: Vec<PathBuf> = std::fs::read_dir(regressions_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let regression: Regression = match std::fs::read_to_string(&file)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(e) => {
                println!("regression {name}: ERROR unreadable: {e}");
                totals.errors += 1;
                continue;
            }
        };
        let Some(scenario) = all.iter().find(|s| s.name == regression.scenario) else {
            println!(
                "regression {name}: ERROR no scenario {}",
                regression.scenario
            );
            totals.errors += 1;
            continue;
        };
        totals.scenarios += 1;
        match check(
            &mut pg,
            scenario,
            &regression.inputs,
            regression.config,
            &mut None,
        ) {
            Ok(o) => {
                totals.times += o.times;
                totals.differences += (o.differences.len() + o.problems.len()) as u64;
                if o.failed() {
                    println!(
                        "regression {name}: DIFFERENT\n{}",
                        describe(scenario, &regression.inputs, &o)
                    );
                } else {
                    println!("regression {name}: same at all {} times", o.times);
                }
            }
            Err(e) => {
                println!("regression {name}: ERROR {e}");
                totals.errors += 1;
            }
        }
    }

    let mut rng = Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for scenario in all.iter().filter(|s| !s.name.ends_with("_small")) {
        if args
            .only
            .as_ref()
            .is_some_and(|o| !scenario.name.contains(o.as_str()))
        {
            continue;
        }
        totals.scenarios += 1;
        let began = Instant::now();
        let inputs = (scenario.generate)(&mut Rng(rng.next() | 1), scenario.size);
        let mut expected = None;
        let mut line = Vec::new();
        let mut differences = 0;
        // 1, 2 and 4 workers, then (where the scenario allows) 2 workers on
        // the live runtime with the queries created one by one.
        let staggered = scenario.staggered.then_some(2);
        for (workers, stagger) in [(1, false), (2, false), (4, false)]
            .into_iter()
            .chain(staggered.map(|w| (w, true)))
        {
            let config = RunConfig {
                workers,
                batch: rng.pick(&[1, 3, 16, 250, 4096]),
                max_drift_ms: rng.pick(&[1, 100, 10_000]),
                staggered: stagger.then(|| rng.next()),
            };
            match check(&mut pg, scenario, &inputs, config, &mut expected) {
                Ok(outcome) => {
                    totals.times += outcome.times;
                    let n = (outcome.differences.len() + outcome.problems.len()) as u64;
                    totals.differences += n;
                    differences += n;
                    let how = if stagger { "/staggered" } else { "" };
                    line.push(format!("{workers}w/b{}{how}: {n}", config.batch));
                    if outcome.failed() {
                        println!(
                            "{}: DIFFERENT with {workers} workers, batch {}: {} times differ, {} problems; shrinking...",
                            scenario.name,
                            config.batch,
                            outcome.differences.len(),
                            outcome.problems.len()
                        );
                        let dir = if args.mutate.is_some() {
                            mutations_dir()
                        } else {
                            regressions_dir()
                        };
                        report_failure(&mut pg, scenario, &inputs, config, Some(dir));
                        break;
                    }
                }
                Err(e) => {
                    println!("{}: ERROR {e}", scenario.name);
                    totals.errors += 1;
                    break;
                }
            }
        }
        let changes: Vec<String> = expected
            .iter()
            .flatten()
            .zip(scenario.outputs)
            .map(|(t, o)| format!("{} {}", t.len(), o.source))
            .collect();
        println!(
            "{}: {} inputs -> {}: {} at every time ({}) in {:.1}s",
            scenario.name,
            inputs.len(),
            changes.join(", "),
            if differences == 0 {
                "same"
            } else {
                "DIFFERENT"
            },
            line.join(", "),
            began.elapsed().as_secs_f64()
        );
    }

    // The harness must be able to fail: switch each bug on and see it
    // caught and shrunk to the two records that show it.
    let mut self_check_ok = true;
    if args.mutate.is_none() {
        let checks = [
            (
                Mutation::AsOfJoinExclusive,
                scenarios::first_order_small(),
                "with the stream-table join made exclusive (the race ksqlDB has)",
            ),
            (
                Mutation::FeedAtCauseTime,
                scenarios::first_order_verbatim_small(),
                "with a query's output read at its cause's time (the feed jumping ahead of the backfill)",
            ),
        ];
        for (bug, scenario, what) in checks {
            let inputs = (scenario.generate)(&mut Rng(args.seed | 1), scenario.size);
            let config = RunConfig {
                workers: 2,
                batch: 16,
                max_drift_ms: 10_000,
                staggered: None,
            };
            mutation::set(Some(bug));
            let caught =
                check(&mut pg, &scenario, &inputs, config, &mut None).is_ok_and(|o| o.failed());
            println!(
                "self-check: {what}, {}",
                if caught {
                    "the harness finds differences"
                } else {
                    "the harness finds NO difference"
                }
            );
            if caught {
                let minimal = report_failure(&mut pg, &scenario, &inputs, config, None);
                if minimal > 4 {
                    println!("self-check: FAILED: shrinking left {minimal} inputs; two suffice");
                    self_check_ok = false;
                }
            } else {
                self_check_ok = false;
            }
            mutation::set(None);
        }
    }

    println!(
        "harness: {} errors, {}, {:.0}s",
        totals.errors,
        if self_check_ok {
            "self-check passed"
        } else {
            "self-check FAILED"
        },
        started.elapsed().as_secs_f64()
    );
    println!(
        "harness: {} scenarios, {} times compared, {} differences",
        totals.scenarios, totals.times, totals.differences
    );
    if totals.differences > 0 || totals.errors > 0 || !self_check_ok {
        std::process::exit(1);
    }
}
