//! Baseline (c): seed pipeline 2 on Feldera's engine (the `dbsp` crate).
//!
//! The driver decodes the input (the same decoder as the hand-written
//! baseline) and feeds the candidates to a dbsp circuit in steps of
//! [`STEP`] records, one `transaction()` each: min per user (dbsp's
//! general incremental aggregate), then the step's new candidates joined
//! with the min table as of the end of the step, kept where the order is
//! the min. dbsp has no per-record time, so a candidate sees its whole
//! step's table; with auto-increment order ids a later candidate of the
//! same step never has a smaller id, so the first orders are the same as
//! ddsql's (the bench checks it). The candidates and first orders are
//! written back as JSON; the table changelog is not, because dbsp's
//! aggregate changes once per key and step, not once per input as ksqlDB's
//! does: dbsp writes about a million fewer records per million events.

use anyhow::anyhow;
use dbsp::circuit::CircuitConfig;
use dbsp::operator::Min;
use dbsp::utils::{Tup2, Tup3};
use dbsp::{IndexedZSetReader, Runtime};

use ddsql_engine::io::Transport;

use crate::first_order::{decoder, merged, Emitter, System, BACKFILL, INPUT};
use crate::gen::Encoding;

/// Candidates per dbsp step.
pub const STEP: usize = 10_000;

pub fn run(log: &dyn Transport, encoding: Encoding, workers: usize) -> anyhow::Result<u64> {
    let decode = decoder(encoding);
    let mut out = Emitter::new(log, System::Dbsp)?;
    let (mut circuit, (input, output)) =
        Runtime::init_circuit(CircuitConfig::with_workers(workers.max(1)), |circuit| {
            let (candidates, input) = circuit.add_input_indexed_zset::<i64, i64>();
            let mins = candidates.aggregate(Min);
            // A transaction may take several steps, and the aggregate may
            // emit its changes over several of them while the input delta
            // shows up in the first: hold the candidates back until both
            // are complete, so the join sees the end-of-step table.
            let delta = candidates
                .accumulate_apply2(&mins, |c, _| c.consolidate())
                .apply_owned(|c| c.unwrap_or_default());
            // Integrating a sharded stream keeps it sharded; saying so
            // keeps stream_join from exchanging the whole table every step.
            let table = mins.integrate().mark_sharded();
            let firsts = delta
                .stream_join(&table, |&u, &o, &m| Tup3(u, o, m))
                .filter(|Tup3(_, o, m)| o == m);
            // Plain `output()` keeps only a transaction's last step.
            Ok((input, firsts.accumulate_output()))
        })?;

    let mut step: Vec<Tup2<i64, Tup2<i64, i64>>> = Vec::with_capacity(STEP);
    let mut last_ts = 0;
    let mut transact = |step: &mut Vec<Tup2<i64, Tup2<i64, i64>>>,
                        out: &mut Emitter,
                        ts: i64|
     -> anyhow::Result<()> {
        input.append(step);
        circuit.transaction()?;
        for (Tup3(user, _, _), (), weight) in output.concat().iter() {
            for _ in 0..weight {
                out.first(user, ts);
            }
        }
        out.flush(log)
    };
    for (user, order, ts) in BACKFILL {
        out.candidate(user, order, ts);
        step.push(Tup2(user, Tup2(order, 1)));
    }
    merged(log, INPUT, |r| {
        if let Some((user, order)) = r.value.as_deref().and_then(decode) {
            out.candidate(user, order, r.timestamp);
            step.push(Tup2(user, Tup2(order, 1)));
            last_ts = r.timestamp;
            if step.len() == STEP {
                transact(&mut step, &mut out, last_ts)?;
            }
        }
        Ok(())
    })?;
    if !step.is_empty() {
        transact(&mut step, &mut out, last_ts)?;
    }
    drop(transact);
    circuit
        .kill()
        .map_err(|_| anyhow!("a dbsp worker panicked"))?;
    log.flush()?;
    Ok(out.written)
}
