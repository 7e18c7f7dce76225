//! `EXPLAIN`: a logical plan as an indented tree, one operator per line,
//! the root first and each input indented under the operator that reads
//! it, as Materialize prints its plans.
//!
//! Expressions name columns by position in their input's row (`#3`), since
//! that is what the plan holds; the header maps the output's positions to
//! names. Position 0 of every row is `ROWTIME`, and a scan's row is
//! `ROWTIME, ROWPARTITION, ROWOFFSET`, then the source's columns.
//!
//! ```
//! use ddsql_sql::{binder::{bind, BoundStatement}, catalog::{Catalog, NoTopics}, parser::parse};
//!
//! let mut catalog = Catalog::default();
//! let script = "
//!     create stream orders (id bigint key, qty int, note string)
//!       with (kafka_topic='orders', value_format='JSON', partitions=1);
//!     create stream big as select id, qty * 2 as double_qty from orders where qty > 10;";
//! for statement in parse(script).unwrap() {
//!     let bound = bind(&catalog, &NoTopics, &Default::default(), &statement).unwrap();
//!     catalog.apply(&bound);
//! }
//! let plan = &catalog.queries()[0].plan;
//! assert_eq!(
//!     ddsql_sql::explain::tree(&plan.plan),
//!     "Map #0, #3, (#4 * 2)\n  Filter (#4 > 10)\n    Scan ORDERS\n"
//! );
//! ```

use std::fmt::{self, Write};

use crate::eval::java_string;
use crate::plan::{
    AggregateCall, BinaryFunc, JoinKind, Plan, QueryPlan, Rendering, ScalarExpr, UnaryFunc, Window,
};
use crate::types::Value;

/// The whole explanation of a query: its output, then its plan's tree.
pub fn explain(plan: &QueryPlan) -> String {
    let mut out = format!("Output ({}):\n", plan.kind);
    out.push_str("  #0 ROWTIME BIGINT\n");
    for (i, c) in plan.columns.iter().enumerate() {
        let key = if c.key { " KEY" } else { "" };
        let _ = writeln!(out, "  #{} {} {}{key}", i + 1, c.name, c.ty);
    }
    if let Some(w) = &plan.window {
        let n = plan.columns.len();
        let _ = writeln!(
            out,
            "  #{} WINDOWSTART BIGINT KEY\n  #{} WINDOWEND BIGINT KEY\n  ({})",
            n + 1,
            n + 2,
            window(w)
        );
    }
    out.push_str("\nPlan:\n");
    for line in tree(&plan.plan).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// The plan as an indented tree, root first.
pub fn tree(plan: &Plan) -> String {
    let mut out = String::new();
    node(plan, 0, &mut out);
    out
}

fn node(plan: &Plan, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let list = |exprs: &[ScalarExpr]| {
        exprs
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let inputs: Vec<&Plan> = match plan {
        Plan::Scan { source } => {
            let _ = writeln!(out, "{pad}Scan {source}");
            vec![]
        }
        Plan::Filter { input, predicate } => {
            let _ = writeln!(out, "{pad}Filter {predicate}");
            vec![input]
        }
        Plan::Map { input, exprs } => {
            let _ = writeln!(out, "{pad}Map {}", list(exprs));
            vec![input]
        }
        Plan::FlatMap { input, calls } => {
            let calls: Vec<String> = calls
                .iter()
                .map(|(f, e)| format!("{}({e})", f.name()))
                .collect();
            let _ = writeln!(out, "{pad}FlatMap {}", calls.join(", "));
            vec![input]
        }
        Plan::Window { input, window: w } => {
            let _ = writeln!(out, "{pad}Window {}", window(w));
            vec![input]
        }
        Plan::Aggregate {
            input,
            group_key,
            aggregates,
            retracting,
        } => {
            let aggs: Vec<String> = aggregates.iter().map(aggregate).collect();
            let _ = writeln!(
                out,
                "{pad}Aggregate key=[{}] aggregates=[{}]{}",
                list(group_key),
                aggs.join(", "),
                if *retracting {
                    " (input retracts: keeps every row)"
                } else {
                    ""
                }
            );
            vec![input]
        }
        Plan::EmitFinal { input } => {
            let _ = writeln!(out, "{pad}EmitFinal (each window once, when it closes)");
            vec![input]
        }
        Plan::StreamJoin {
            left,
            right,
            left_key,
            right_key,
            before_ms,
            after_ms,
            grace_ms,
            eager,
            kind,
            ..
        } => {
            let grace = if *kind == JoinKind::Inner {
                String::new()
            } else if *eager {
                ", unmatched rows at once when nothing before them matches (no GRACE PERIOD)"
                    .to_string()
            } else {
                format!(", unmatched rows once stream time passes their window by {grace_ms} ms")
            };
            let _ = writeln!(
                out,
                "{pad}StreamJoin {} [{}] = [{}] within right ROWTIME - left ROWTIME in [-{before_ms}, {after_ms}] ms{grace}",
                kind.name(),
                list(left_key),
                list(right_key)
            );
            vec![left, right]
        }
        Plan::TableJoin {
            left,
            right,
            left_key,
            right_key,
            kind,
            ..
        } => {
            let _ = writeln!(
                out,
                "{pad}TableJoin {} left #{left_key} = right #{right_key}",
                kind.name()
            );
            vec![left, right]
        }
        Plan::StreamTableJoin {
            stream,
            stream_key,
            table,
            table_key,
            left,
            ..
        } => {
            let keys: Vec<String> = table_key.iter().map(|k| format!("#{k}")).collect();
            let _ = writeln!(
                out,
                "{pad}StreamTableJoin {} [{}] = table [{}], the table as of each stream row's time",
                if *left { "LEFT" } else { "INNER" },
                list(stream_key),
                keys.join(", ")
            );
            vec![stream, table]
        }
    };
    for input in inputs {
        node(input, depth + 1, out);
    }
}

fn window(w: &Window) -> String {
    match *w {
        Window::Time {
            size,
            advance,
            grace,
        } if size == advance => format!("TUMBLING size {size} ms, grace {grace} ms"),
        Window::Time {
            size,
            advance,
            grace,
        } => format!("HOPPING size {size} ms, advance {advance} ms, grace {grace} ms"),
        Window::Session { gap, grace } => format!("SESSION gap {gap} ms, grace {grace} ms"),
    }
}

fn aggregate(a: &AggregateCall) -> String {
    let mut args: Vec<String> = match &a.arg {
        None => vec!["*".into()],
        Some(e) => vec![e.to_string()],
    };
    if let Some(n) = a.n {
        args.push(n.to_string());
    }
    format!("{}({}): {}", a.func.name(), args.join(", "), a.ty)
}

fn literal(v: &Value, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match v {
        Value::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
        v => f.write_str(&java_string(v, None).unwrap_or_else(|| "NULL".into())),
    }
}

fn comma_list(items: &[ScalarExpr], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

impl fmt::Display for ScalarExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Column(i) => write!(f, "#{i}"),
            ScalarExpr::Literal(v) => literal(v, f),
            ScalarExpr::Unary(op, e) => match op {
                UnaryFunc::Not => write!(f, "NOT {e}"),
                UnaryFunc::Negate => write!(f, "-{e}"),
                UnaryFunc::IsNull => write!(f, "{e} IS NULL"),
                UnaryFunc::IsNotNull => write!(f, "{e} IS NOT NULL"),
            },
            ScalarExpr::Binary(op, a, b) => {
                let op = match op {
                    BinaryFunc::And => "AND",
                    BinaryFunc::Or => "OR",
                    BinaryFunc::Eq => "=",
                    BinaryFunc::NotEq => "<>",
                    BinaryFunc::Lt => "<",
                    BinaryFunc::LtEq => "<=",
                    BinaryFunc::Gt => ">",
                    BinaryFunc::GtEq => ">=",
                    BinaryFunc::Add => "+",
                    BinaryFunc::Sub => "-",
                    BinaryFunc::Mul => "*",
                    BinaryFunc::Div => "/",
                    BinaryFunc::Mod => "%",
                    BinaryFunc::Concat => "||",
                    BinaryFunc::IsDistinct => "IS DISTINCT FROM",
                };
                write!(f, "({a} {op} {b})")
            }
            ScalarExpr::Field(e, i) => write!(f, "{e}->#{i}"),
            ScalarExpr::Subscript(e, i) => write!(f, "{e}[{i}]"),
            ScalarExpr::Case { whens, else_ } => {
                f.write_str("CASE")?;
                for (w, t) in whens {
                    write!(f, " WHEN {w} THEN {t}")?;
                }
                write!(f, " ELSE {else_} END")
            }
            ScalarExpr::Cast(e, ty) => write!(f, "CAST({e} AS {ty})"),
            ScalarExpr::Call(func, args) => {
                write!(f, "{}(", func.name())?;
                comma_list(args, f)?;
                f.write_str(")")
            }
            ScalarExpr::Like(e, p, escape) => {
                write!(f, "{e} LIKE {p}")?;
                match escape {
                    Some(c) => write!(f, " ESCAPE '{c}'"),
                    None => Ok(()),
                }
            }
            ScalarExpr::MakeArray(items) => {
                f.write_str("ARRAY[")?;
                comma_list(items, f)?;
                f.write_str("]")
            }
            ScalarExpr::MakeMap(entries) => {
                f.write_str("MAP(")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} := {v}")?;
                }
                f.write_str(")")
            }
            ScalarExpr::MakeStruct(fields) => {
                f.write_str("STRUCT(")?;
                comma_list(fields, f)?;
                f.write_str(")")
            }
            ScalarExpr::Render(e, _, Rendering::Json) => write!(f, "TO_JSON_STRING({e})"),
            ScalarExpr::Render(e, _, Rendering::Cast) => write!(f, "CAST({e} AS STRING)"),
            ScalarExpr::Lambda {
                func,
                input,
                init,
                params_at,
                bodies,
            } => {
                write!(f, "{}({input}", func.name())?;
                if let Some(init) = init {
                    write!(f, ", {init}")?;
                }
                // A lambda's parameters are the row's columns from `params_at` on.
                for body in bodies {
                    write!(f, ", #{params_at}.. => {body}")?;
                }
                f.write_str(")")
            }
        }
    }
}
