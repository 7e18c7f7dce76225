//! A worker of the runtime: one timely worker thread that applies the
//! controller's commands, in the order every worker receives them, between
//! steps of its dataflows.
//!
//! Every worker must build the same dataflows in the same order (timely
//! matches channels across workers by the order operators are made), and
//! drop them at the same point of the command sequence; that is why every
//! change goes through the command channel, even a peek.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use timely::worker::Worker;

use crate::lower;
use crate::time::Time;

use super::index::{self, Indexes};
use super::{Command, Shared};

/// What one worker keeps between commands.
struct State {
    /// The dataflow index of every installed job and index, by name.
    dataflows: HashMap<String, usize>,
    /// This worker's shard of each index.
    indexes: Indexes,
}

/// Runs one worker until the controller shuts the runtime down and every
/// dataflow has drained.
pub(super) fn run(worker: &mut Worker, commands: Receiver<Command>, shared: Arc<Shared>) {
    let me = worker.index();
    let mut state = State {
        dataflows: HashMap::new(),
        indexes: HashMap::new(),
    };
    let mut shutting_down = false;
    loop {
        loop {
            match commands.try_recv() {
                Ok(command) => apply(worker, &mut state, command, &shared),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    shutting_down = true;
                    break;
                }
            }
        }
        // Publish how far each index is complete, for peeks.
        for (name, trace) in state.indexes.iter_mut() {
            if let Some(index_state) = shared.index(name) {
                let upper = index::upper(trace).unwrap_or(Time::MAX);
                let mut uppers = index_state.uppers.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(slot) = uppers.get_mut(me) {
                    *slot = Some(upper);
                }
            }
        }
        if shutting_down && !worker.has_dataflows() {
            break;
        }
        // Completed dataflows (a pull query's, a drained one's) are gone.
        let installed = worker.installed_dataflows();
        state.dataflows.retain(|_, d| installed.contains(d));
        // Park until an operator or the controller (which unparks this
        // thread after each command) has something to do.
        worker.step_or_park(Some(Duration::from_millis(10)));
    }
}

fn apply(worker: &mut Worker, state: &mut State, command: Command, shared: &Shared) {
    match command {
        Command::Install { job, ack } => {
            let index = worker.next_dataflow_index();
            let indexes = &mut state.indexes;
            worker.dataflow_named::<Time, _, _>(&job.name, |scope| {
                let mut imported = HashMap::new();
                for name in &job.imports {
                    let trace = indexes
                        .get_mut(name)
                        .expect("the controller builds an index before a job imports it");
                    let (arranged, _button) = trace.import_frontier(scope, name);
                    imported.insert(
                        name.clone(),
                        arranged.as_collection(|_key, row| row.clone()),
                    );
                }
                lower::build(scope, &job, imported);
            });
            state.dataflows.insert(job.name.clone(), index);
            let _ = ack.send(worker.index());
        }
        Command::Index { job, ack } => {
            let index = worker.next_dataflow_index();
            let transport = shared.clock.transport();
            let trace = worker
                .dataflow_named::<Time, _, _>(&format!("Index {}", job.name), |scope| {
                    index::build(scope, &job, transport)
                });
            state.indexes.insert(job.name.clone(), trace);
            state.dataflows.insert(format!("index:{}", job.name), index);
            let _ = ack.send(worker.index());
        }
        Command::Drop { name, ack } => {
            if let Some(index) = state.dataflows.remove(&name) {
                if worker.installed_dataflows().contains(&index) {
                    worker.drop_dataflow(index);
                }
            }
            if let Some(table) = name.strip_prefix("index:") {
                state.indexes.remove(table);
            }
            let _ = ack.send(worker.index());
        }
        Command::Peek(peek) => {
            let answer = match state.indexes.get_mut(&peek.index) {
                Some(trace) => index::read(trace, peek.time, peek.keys.as_deref()),
                None => Err(format!("no arrangement of {} on this worker", peek.index)),
            };
            let _ = peek.reply.send(answer);
        }
        Command::Compact { index: name, time } => {
            if let Some(trace) = state.indexes.get_mut(&name) {
                index::compact(trace, time);
            }
        }
    }
}
