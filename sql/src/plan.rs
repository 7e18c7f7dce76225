//! The bound, logical plan: what a query computes, with every name resolved
//! to a column position and every expression typed.
//!
//! Row layouts:
//! - [`Plan::Scan`] yields the source's scan layout
//!   (`ROWTIME, ROWPARTITION, ROWOFFSET, columns...`).
//! - Every other node says its layout below. A [`QueryPlan`]'s root yields
//!   `ROWTIME` then its output columns, keys first; `ROWTIME` is the output
//!   record's timestamp.

use serde::{Deserialize, Serialize};

pub use crate::ast::JoinKind;
use crate::catalog::{Column, SourceKind};
use crate::types::{SqlType, Value};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryPlan {
    pub plan: Plan,
    /// Whether the output is a stream (append) or a table (upsert by key).
    pub kind: SourceKind,
    /// The output columns after `ROWTIME`, keys first.
    pub columns: Vec<Column>,
    /// A windowed output (an aggregation's window, or a windowed source's):
    /// rows end with `WINDOWSTART, WINDOWEND`, part of the key.
    pub window: Option<Window>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Plan {
    /// All records of a source, in its scan layout.
    Scan { source: String },
    /// Rows of `input` for which `predicate` is true.
    Filter {
        input: Box<Plan>,
        predicate: ScalarExpr,
    },
    /// One output row per input row: the values of `exprs`.
    Map {
        input: Box<Plan>,
        exprs: Vec<ScalarExpr>,
    },
    /// A table keyed by `group_key`: layout
    /// `ROWTIME (latest input's), group_key..., aggregates...`.
    /// Each row of `input` (a stream) as many times as the longest result
    /// of its table function `calls`, the n-th time followed by each call's
    /// n-th value (NULL past the end of a shorter result): layout
    /// `input row ++ one column per call`. A row whose calls all give
    /// nothing (an empty or NULL array) yields no row.
    FlatMap {
        input: Box<Plan>,
        calls: Vec<(TableFunc, ScalarExpr)>,
    },
    /// Rows of `input` (a stream), each copied into every time window that
    /// contains its ROWTIME, with `WINDOWSTART, WINDOWEND` appended to its
    /// layout. A row whose window closed before it arrived (its end plus
    /// the grace period is at or before the stream time, the largest
    /// ROWTIME seen at an earlier time) is dropped, as Kafka Streams drops it.
    /// A session window appears only as the input of an [`Plan::Aggregate`],
    /// which assigns the sessions (see [`Window`]).
    Window { input: Box<Plan>, window: Window },
    Aggregate {
        input: Box<Plan>,
        group_key: Vec<ScalarExpr>,
        aggregates: Vec<AggregateCall>,
        /// The input retracts rows (it is a table), so the state must keep
        /// every input row; over a stream it keeps one accumulator per key.
        retracting: bool,
    },
    /// `EMIT FINAL`: the rows of `input`, an [`Plan::Aggregate`] over a
    /// [`Plan::Window`], each window's once, when it closes: when stream
    /// time (the largest ROWTIME aggregated) has passed its end by the
    /// grace period (and, for a session, the gap). Same layout as `input`.
    EmitFinal { input: Box<Plan> },
    /// Two streams joined on `left_key = right_key` (each over its own
    /// row), pairs whose ROWTIMEs satisfy
    /// `left - before_ms <= right <= left + after_ms`: layout
    /// `left row ++ right row ++ [left ROWTIME]`, column 0 holding the later
    /// ROWTIME. Each pair appears once, at the time of the later of its two
    /// records.
    ///
    /// An outer `kind` adds each kept side's rows that match nothing, the
    /// other side all NULL, column 0 the row's own ROWTIME. Whether a row
    /// matches nothing is known once its window has closed: when stream
    /// time (the largest ROWTIME either side has brought) passes the row's
    /// ROWTIME plus the window's far edge (`after_ms` for a left row,
    /// `before_ms` for a right one) plus `grace_ms`. The row appears then,
    /// at the time of the record that moved stream time past it.
    ///
    /// `eager` (a join without GRACE PERIOD, as ksqlDB's join page says:
    /// "left/outer join results are emitted eagerly"): instead, a kept
    /// side's row that finds no partner among the other side's rows before
    /// it (in logical time) appears at once, at its own time, and stays even
    /// if a partner arrives later (the pair appears too).
    StreamJoin {
        left: Box<Plan>,
        right: Box<Plan>,
        left_key: Vec<ScalarExpr>,
        right_key: Vec<ScalarExpr>,
        before_ms: i64,
        after_ms: i64,
        grace_ms: i64,
        eager: bool,
        left_width: usize,
        right_width: usize,
        kind: JoinKind,
    },
    /// Two tables joined on their keys: layout
    /// `left row ++ right row ++ [left ROWTIME]`, the missing side all NULL
    /// for outer joins, and column 0 holding the later of the two rows'
    /// ROWTIMEs.
    TableJoin {
        left: Box<Plan>,
        right: Box<Plan>,
        left_key: usize,
        right_key: usize,
        left_width: usize,
        right_width: usize,
        kind: JoinKind,
    },
    /// Each stream row joined with the table as of the row's own time,
    /// inclusive: layout `stream row ++ table row` (the table part all NULL
    /// for an unmatched row of a LEFT join). `table_key` are the positions
    /// of the table's key columns in its row.
    StreamTableJoin {
        stream: Box<Plan>,
        stream_key: Vec<ScalarExpr>,
        table: Box<Plan>,
        table_key: Vec<usize>,
        table_width: usize,
        left: bool,
    },
}

/// A table function: one value in, zero or more out (see
/// [`crate::eval::table_function`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableFunc {
    /// `EXPLODE(array)`: each element.
    Explode,
    /// `CUBE_EXPLODE(array)`: every copy of the array with any subset of
    /// its non-NULL elements made NULL.
    CubeExplode,
}

impl TableFunc {
    pub fn from_name(name: &str) -> Option<TableFunc> {
        match name.to_ascii_uppercase().as_str() {
            "EXPLODE" => Some(TableFunc::Explode),
            "CUBE_EXPLODE" => Some(TableFunc::CubeExplode),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TableFunc::Explode => "EXPLODE",
            TableFunc::CubeExplode => "CUBE_EXPLODE",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggregateFunc {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    LatestByOffset,
    EarliestByOffset,
    CollectList,
    CollectSet,
    TopK,
    TopKDistinct,
    CountDistinct,
    /// `STDDEV_SAMP`, also named `STDDEV_SAMPLE`.
    StddevSamp,
    Histogram,
    Attr,
    SumList,
    /// `CORRELATION(x, y)`: the argument is `STRUCT<X DOUBLE, Y DOUBLE>`.
    Correlation,
}

impl AggregateFunc {
    /// The SQL name.
    pub fn name(&self) -> &'static str {
        match self {
            AggregateFunc::Count => "COUNT",
            AggregateFunc::Sum => "SUM",
            AggregateFunc::Min => "MIN",
            AggregateFunc::Max => "MAX",
            AggregateFunc::Avg => "AVG",
            AggregateFunc::LatestByOffset => "LATEST_BY_OFFSET",
            AggregateFunc::EarliestByOffset => "EARLIEST_BY_OFFSET",
            AggregateFunc::CollectList => "COLLECT_LIST",
            AggregateFunc::CollectSet => "COLLECT_SET",
            AggregateFunc::TopK => "TOPK",
            AggregateFunc::TopKDistinct => "TOPKDISTINCT",
            AggregateFunc::CountDistinct => "COUNT_DISTINCT",
            AggregateFunc::StddevSamp => "STDDEV_SAMP",
            AggregateFunc::Histogram => "HISTOGRAM",
            AggregateFunc::Attr => "ATTR",
            AggregateFunc::SumList => "SUM_LIST",
            AggregateFunc::Correlation => "CORRELATION",
        }
    }

    pub fn from_name(name: &str) -> Option<AggregateFunc> {
        Some(match name.to_uppercase().as_str() {
            "COUNT" => AggregateFunc::Count,
            "SUM" => AggregateFunc::Sum,
            "MIN" => AggregateFunc::Min,
            "MAX" => AggregateFunc::Max,
            "AVG" => AggregateFunc::Avg,
            "LATEST_BY_OFFSET" => AggregateFunc::LatestByOffset,
            "EARLIEST_BY_OFFSET" => AggregateFunc::EarliestByOffset,
            "COLLECT_LIST" => AggregateFunc::CollectList,
            "COLLECT_SET" => AggregateFunc::CollectSet,
            "TOPK" => AggregateFunc::TopK,
            "TOPKDISTINCT" => AggregateFunc::TopKDistinct,
            "COUNT_DISTINCT" => AggregateFunc::CountDistinct,
            "STDDEV_SAMP" | "STDDEV_SAMPLE" => AggregateFunc::StddevSamp,
            "HISTOGRAM" => AggregateFunc::Histogram,
            "ATTR" => AggregateFunc::Attr,
            "SUM_LIST" => AggregateFunc::SumList,
            "CORRELATION" => AggregateFunc::Correlation,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateCall {
    pub func: AggregateFunc,
    /// `None` for `COUNT(*)`.
    pub arg: Option<ScalarExpr>,
    /// The result type.
    pub ty: SqlType,
    /// How many values to keep (`LATEST_BY_OFFSET(x, n)`, `TOPK(x, k)`):
    /// the result is then an array.
    pub n: Option<usize>,
    /// Whether NULL inputs are skipped (`LATEST_BY_OFFSET(x, false)` keeps them).
    pub ignore_nulls: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryFunc {
    Not,
    Negate,
    IsNull,
    IsNotNull,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryFunc {
    And,
    Or,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Concat,
    /// `IS DISTINCT FROM`: NULL-safe inequality; never NULL itself.
    IsDistinct,
}

/// A typed scalar expression over one row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ScalarExpr {
    Column(usize),
    Literal(Value),
    Unary(UnaryFunc, Box<ScalarExpr>),
    /// Operands have the same type (the binder inserts casts).
    Binary(BinaryFunc, Box<ScalarExpr>, Box<ScalarExpr>),
    /// Field `index` of a struct.
    Field(Box<ScalarExpr>, usize),
    /// 1-based array index (negative counts from the end) or map key.
    Subscript(Box<ScalarExpr>, Box<ScalarExpr>),
    Case {
        whens: Vec<(ScalarExpr, ScalarExpr)>,
        else_: Box<ScalarExpr>,
    },
    Cast(Box<ScalarExpr>, SqlType),
    /// A scalar function call; arguments have the resolved types.
    Call(crate::functions::ScalarFunc, Vec<ScalarExpr>),
    /// `expr LIKE pattern [ESCAPE c]`
    Like(Box<ScalarExpr>, Box<ScalarExpr>, Option<char>),
    MakeArray(Vec<ScalarExpr>),
    MakeMap(Vec<(ScalarExpr, ScalarExpr)>),
    /// Field values in the order of the struct type's fields.
    MakeStruct(Vec<ScalarExpr>),
    /// A value of type `ty` as text, for the renderings that need the type
    /// (a STRUCT's field names live in its type, not in its values).
    Render(Box<ScalarExpr>, SqlType, Rendering),
    /// `TRANSFORM`, `FILTER` or `REDUCE` of an array or map with lambdas.
    /// A lambda's body reads the row's columns below `params_at` and its
    /// parameters as the columns from `params_at` on: for an array element
    /// `x`, for a map entry `k, v`, with REDUCE's accumulator first.
    Lambda {
        func: LambdaFunc,
        input: Box<ScalarExpr>,
        /// REDUCE's initial state.
        init: Option<Box<ScalarExpr>>,
        params_at: usize,
        /// One body; TRANSFORM of a map has two (the new key, the new value).
        bodies: Vec<ScalarExpr>,
    },
}

/// How [`ScalarExpr::Render`] writes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rendering {
    /// `TO_JSON_STRING`: JSON, as the JSON format writes the value.
    Json,
    /// `CAST(x AS STRING)` of a value holding a STRUCT: Java's `toString`.
    Cast,
}

/// The functions that take lambdas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LambdaFunc {
    Transform,
    Filter,
    Reduce,
}

impl LambdaFunc {
    pub fn from_name(name: &str) -> Option<LambdaFunc> {
        match name.to_ascii_uppercase().as_str() {
            "TRANSFORM" => Some(LambdaFunc::Transform),
            "FILTER" => Some(LambdaFunc::Filter),
            "REDUCE" => Some(LambdaFunc::Reduce),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LambdaFunc::Transform => "TRANSFORM",
            LambdaFunc::Filter => "FILTER",
            LambdaFunc::Reduce => "REDUCE",
        }
    }
}

/// How an aggregation groups a stream's rows by time; all figures in ms.
///
/// A time window (TUMBLING or HOPPING) is a property of each row alone, so
/// [`Plan::Window`] assigns it before the aggregation. A session is a
/// property of a key's rows together (rows at most `gap` apart), so the
/// aggregation over a [`Plan::Window`] of a session assigns it itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Window {
    /// TUMBLING when `advance == size`, else HOPPING.
    Time { size: i64, advance: i64, grace: i64 },
    /// SESSION: a key's rows no more than `gap` apart share one window,
    /// from the first row's ROWTIME to the last's.
    Session { gap: i64, grace: i64 },
}

impl Window {
    /// Kafka Streams' default grace: what is left of 24 hours after the
    /// window's size (or a session's gap).
    pub fn default_grace(size: i64) -> i64 {
        (24 * 3_600_000 - size).max(0)
    }

    /// How long after a window's end (by stream time) rows may still join it.
    pub fn grace(&self) -> i64 {
        match *self {
            Window::Time { grace, .. } | Window::Session { grace, .. } => grace,
        }
    }

    /// ksqlDB's name for the kind, as `WINDOW_TYPE` spells it.
    pub fn type_name(&self) -> &'static str {
        match *self {
            Window::Time { size, advance, .. } if size == advance => "TUMBLING",
            Window::Time { .. } => "HOPPING",
            Window::Session { .. } => "SESSION",
        }
    }

    /// The starts of the time windows that contain `ts`, earliest first;
    /// none for a session, which no single row determines.
    ///
    /// ```
    /// use ddsql_sql::plan::Window;
    /// let hopping = Window::Time { size: 30, advance: 10, grace: 0 };
    /// assert_eq!(hopping.starts(25), vec![0, 10, 20]);
    /// let tumbling = Window::Time { size: 30, advance: 30, grace: 0 };
    /// assert_eq!(tumbling.starts(30), vec![30]);
    /// ```
    pub fn starts(&self, ts: i64) -> Vec<i64> {
        let Window::Time { size, advance, .. } = *self else {
            return Vec::new();
        };
        let last = ts - ts.rem_euclid(advance);
        let mut starts = Vec::new();
        let mut s = last;
        while s > ts - size && s >= 0 {
            starts.push(s);
            s -= advance;
        }
        starts.reverse();
        starts
    }
}

impl Plan {
    /// The window of a windowed aggregation's plan, if it is one.
    pub fn window(&self) -> Option<Window> {
        match self {
            Plan::Window { window, .. } => Some(*window),
            Plan::Filter { input, .. }
            | Plan::Map { input, .. }
            | Plan::FlatMap { input, .. }
            | Plan::Aggregate { input, .. }
            | Plan::EmitFinal { input } => input.window(),
            _ => None,
        }
    }

    /// The sources the plan reads, leftmost first (with repeats).
    pub fn sources(&self) -> Vec<&str> {
        match self {
            Plan::Scan { source } => vec![source.as_str()],
            Plan::Filter { input, .. }
            | Plan::Map { input, .. }
            | Plan::FlatMap { input, .. }
            | Plan::Aggregate { input, .. }
            | Plan::EmitFinal { input }
            | Plan::Window { input, .. } => input.sources(),
            Plan::StreamTableJoin {
                stream: left,
                table: right,
                ..
            }
            | Plan::TableJoin { left, right, .. }
            | Plan::StreamJoin { left, right, .. } => {
                let mut out = left.sources();
                out.extend(right.sources());
                out
            }
        }
    }

    /// Whether the plan reads `source`.
    pub fn scans(&self, source: &str) -> bool {
        match self {
            Plan::Scan { source: s } => s == source,
            Plan::Filter { input, .. }
            | Plan::Map { input, .. }
            | Plan::FlatMap { input, .. }
            | Plan::Aggregate { input, .. }
            | Plan::EmitFinal { input }
            | Plan::Window { input, .. } => input.scans(source),
            Plan::StreamTableJoin { stream, table, .. } => {
                stream.scans(source) || table.scans(source)
            }
            Plan::TableJoin { left, right, .. } | Plan::StreamJoin { left, right, .. } => {
                left.scans(source) || right.scans(source)
            }
        }
    }
}

impl ScalarExpr {
    /// Does the expression read column `i`?
    pub fn references(&self, i: usize) -> bool {
        match self {
            ScalarExpr::Column(c) => *c == i,
            ScalarExpr::Literal(_) => false,
            ScalarExpr::Unary(_, e)
            | ScalarExpr::Field(e, _)
            | ScalarExpr::Cast(e, _)
            | ScalarExpr::Render(e, ..) => e.references(i),
            ScalarExpr::Binary(_, a, b) | ScalarExpr::Subscript(a, b) => {
                a.references(i) || b.references(i)
            }
            ScalarExpr::Case { whens, else_ } => {
                else_.references(i)
                    || whens
                        .iter()
                        .any(|(w, t)| w.references(i) || t.references(i))
            }
            ScalarExpr::Like(a, b, _) => a.references(i) || b.references(i),
            ScalarExpr::MakeArray(items)
            | ScalarExpr::MakeStruct(items)
            | ScalarExpr::Call(_, items) => items.iter().any(|e| e.references(i)),
            ScalarExpr::MakeMap(entries) => entries
                .iter()
                .any(|(k, v)| k.references(i) || v.references(i)),
            // A body's parameters are not the row's columns.
            ScalarExpr::Lambda {
                input,
                init,
                params_at,
                bodies,
                ..
            } => {
                input.references(i)
                    || init.as_ref().is_some_and(|e| e.references(i))
                    || (i < *params_at && bodies.iter().any(|b| b.references(i)))
            }
        }
    }
}
