//! The dataflow operators SQL needs beyond differential dataflow's own.
//!
//! They share one discipline: buffer updates until their time is
//! *complete* (no input can still bring an update at or before it), then
//! process complete updates in time order. That makes their output a
//! function of the logical times alone, independent of batching, worker
//! count and arrival order: the consistency contract.

pub mod aggregate;
pub mod as_of_join;
pub mod changelog;
pub mod emit_final;
pub mod sink;
pub mod source;
pub mod unmatched;
pub mod upsert;

use differential_dataflow::{AsCollection, VecCollection};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::progress::frontier::MutableAntichain;

use crate::time::{Diff, Time};
use crate::ProcessingError;

/// The least time an input may still deliver, or `None` once it is closed.
/// Times are totally ordered, so a frontier has at most one element.
pub(crate) fn frontier_min(f: &MutableAntichain<Time>) -> Option<Time> {
    f.frontier().iter().min().copied()
}

/// The least of several frontiers: everything strictly before it is complete.
pub(crate) fn complete_before(frontiers: &[&MutableAntichain<Time>]) -> Option<Time> {
    frontiers.iter().filter_map(|f| frontier_min(f)).min()
}

/// Moves the updates with times strictly before `bound` (all of them when
/// `bound` is `None`) out of `pending`, sorted by time.
pub(crate) fn take_complete<D: Ord>(
    pending: &mut Vec<(D, Time, crate::time::Diff)>,
    bound: Option<Time>,
) -> Vec<(D, Time, crate::time::Diff)> {
    pending.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let split = match bound {
        Some(b) => pending.partition_point(|u| u.1 < b),
        None => pending.len(),
    };
    let rest = pending.split_off(split);
    std::mem::replace(pending, rest)
}

/// Holds an operator's output capability at `bound`, the least time it may
/// still emit at, and drops it once every input is closed.
pub(crate) fn advance(cap: &mut Option<Capability<Time>>, bound: Option<Time>) {
    match (bound, cap.as_mut()) {
        (Some(b), Some(c)) if *c.time() < b => c.downgrade(&b),
        (None, _) => *cap = None,
        _ => {}
    }
}

/// Splits results into values and processing errors (made by `to_error`).
// `Ok`/`Err` here route data between two outputs; nothing is propagated,
// so the size of the error variant does not matter.
#[allow(clippy::result_large_err)]
pub(crate) fn split_errors<'s, D, E, F>(
    results: VecCollection<'s, Time, Result<D, E>, Diff>,
    to_error: F,
) -> (
    VecCollection<'s, Time, D, Diff>,
    VecCollection<'s, Time, ProcessingError, Diff>,
)
where
    D: Clone + 'static,
    E: Clone + 'static,
    F: Fn(E) -> ProcessingError + 'static,
{
    let (ok, err) = results
        .inner
        .ok_err(move |(r, t, d): (Result<D, E>, Time, Diff)| match r {
            Ok(v) => Ok((v, t, d)),
            Err(e) => Err((to_error(e), t, d)),
        });
    (ok.as_collection(), err.as_collection())
}

/// The discipline of the module docs as one operator: routes updates by
/// `route`, buffers them until complete, and hands `logic` each batch of
/// complete updates sorted by time, collecting its output (whose times must
/// not precede the batch's).
pub(crate) fn in_time_order<'s, D, D2, R, L>(
    input: VecCollection<'s, Time, D, Diff>,
    name: &str,
    route: R,
    mut logic: L,
) -> VecCollection<'s, Time, D2, Diff>
where
    D: timely::ExchangeData + Ord,
    D2: Clone + 'static,
    R: Fn(&D) -> u64 + 'static,
    L: FnMut(Vec<(D, Time, Diff)>, &mut Vec<(D2, Time, Diff)>) + 'static,
{
    input
        .inner
        .unary_frontier(
            Exchange::new(move |u: &(D, Time, Diff)| route(&u.0)),
            name,
            move |cap, _info| {
                let mut cap = Some(cap);
                let mut pending = Vec::new();
                let mut out = Vec::new();
                move |(input, frontier), output| {
                    input.for_each(|_, data| pending.append(data));
                    let bound = complete_before(&[frontier]);
                    let ready = take_complete(&mut pending, bound);
                    if let (false, Some(c)) = (ready.is_empty(), cap.as_ref()) {
                        logic(ready, &mut out);
                        output.session(c).give_iterator(out.drain(..));
                    }
                    advance(&mut cap, bound);
                }
            },
        )
        .as_collection()
}
