//! The function registry: ksqlDB's scalar functions with their signatures,
//! overload resolution and evaluation, and the names of the aggregate
//! functions (whose state lives in the engine).
//!
//! Resolution picks the return type from the argument types and says which
//! arguments to widen, so evaluation sees values of the declared types.
//!
//! ```
//! use ddsql_sql::functions::{resolve, ScalarFunc};
//! use ddsql_sql::types::{SqlType, Value};
//! let r = resolve("substring", &[Some(SqlType::String), Some(SqlType::Int)]).unwrap();
//! assert_eq!((r.func, r.ty.clone()), (ScalarFunc::Substring, SqlType::String));
//! let v = r.func.eval(&[Value::String("hello".into()), Value::Int(2)]).unwrap();
//! assert_eq!(v, Value::String("ello".into()));
//! ```

use std::cmp::Ordering;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::eval::{self, EvalError};
use crate::types::{SqlType, Value, F64};

/// A scalar function the engine can evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScalarFunc {
    Abs,
    Ceil,
    Floor,
    Round,
    Sqrt,
    Exp,
    Ln,
    Power,
    Sign,
    Greatest,
    Least,
    Concat,
    ConcatWs,
    Substring,
    Len,
    Ucase,
    Lcase,
    Trim,
    Ltrim,
    Rtrim,
    Replace,
    Initcap,
    Instr,
    Lpad,
    Rpad,
    Split,
    Coalesce,
    Ifnull,
    Nullif,
    ExtractJsonField,
    IsJsonString,
    RegexpReplace,
    RegexpExtract,
    RegexpExtractAll,
    RegexpSplitToArray,
    ArrayLength,
    ArrayContains,
    ArrayJoin,
    ArrayMin,
    ArrayMax,
    GenerateSeries,
    Entries,
    MapKeys,
    MapValues,
    AsValue,
    ToBytes,
    FromBytes,
    UnixTimestamp,
}

/// What a function is, for `SHOW FUNCTIONS` and `DESCRIBE FUNCTION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionKind {
    Scalar,
    Aggregate,
}

#[derive(Clone, Debug)]
pub struct FunctionInfo {
    pub name: &'static str,
    pub kind: FunctionKind,
    pub signatures: &'static [&'static str],
    pub description: &'static str,
}

macro_rules! info {
    ($name:expr, $kind:ident, [$($sig:expr),* $(,)?], $desc:expr) => {
        FunctionInfo { name: $name, kind: FunctionKind::$kind, signatures: &[$($sig),*], description: $desc }
    };
}

/// Every function the binder knows, sorted by name.
pub fn registry() -> &'static [FunctionInfo] {
    static REGISTRY: OnceLock<Vec<FunctionInfo>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut v = vec![
            info!("ABS", Scalar, ["ABS(number)"], "The absolute value."),
            info!(
                "CEIL",
                Scalar,
                ["CEIL(number)"],
                "The smallest whole number not below the argument."
            ),
            info!(
                "FLOOR",
                Scalar,
                ["FLOOR(number)"],
                "The largest whole number not above the argument."
            ),
            info!(
                "ROUND",
                Scalar,
                ["ROUND(number)", "ROUND(number, INT digits)"],
                "Rounds half away from zero."
            ),
            info!(
                "SQRT",
                Scalar,
                ["SQRT(number)"],
                "The square root, as a DOUBLE."
            ),
            info!(
                "EXP",
                Scalar,
                ["EXP(number)"],
                "e raised to the argument, as a DOUBLE."
            ),
            info!(
                "LN",
                Scalar,
                ["LN(number)"],
                "The natural logarithm, as a DOUBLE."
            ),
            info!(
                "POWER",
                Scalar,
                ["POWER(number, number)"],
                "The first argument raised to the second."
            ),
            info!("SIGN", Scalar, ["SIGN(number)"], "-1, 0 or 1."),
            info!(
                "GREATEST",
                Scalar,
                ["GREATEST(value, value...)"],
                "The largest non-NULL argument."
            ),
            info!(
                "LEAST",
                Scalar,
                ["LEAST(value, value...)"],
                "The smallest non-NULL argument."
            ),
            info!(
                "CONCAT",
                Scalar,
                ["CONCAT(STRING...)"],
                "Joins strings; NULLs are skipped."
            ),
            info!(
                "CONCAT_WS",
                Scalar,
                ["CONCAT_WS(STRING separator, STRING...)"],
                "Joins strings with a separator; NULLs are skipped."
            ),
            info!(
                "SUBSTRING",
                Scalar,
                [
                    "SUBSTRING(STRING, INT pos)",
                    "SUBSTRING(STRING, INT pos, INT length)"
                ],
                "Characters from 1-based `pos` (negative counts from the end)."
            ),
            info!("LEN", Scalar, ["LEN(STRING)"], "The number of characters."),
            info!("UCASE", Scalar, ["UCASE(STRING)"], "Upper case."),
            info!("LCASE", Scalar, ["LCASE(STRING)"], "Lower case."),
            info!(
                "TRIM",
                Scalar,
                ["TRIM(STRING)"],
                "Removes leading and trailing white space."
            ),
            info!(
                "LTRIM",
                Scalar,
                ["LTRIM(STRING)"],
                "Removes leading white space."
            ),
            info!(
                "RTRIM",
                Scalar,
                ["RTRIM(STRING)"],
                "Removes trailing white space."
            ),
            info!(
                "REPLACE",
                Scalar,
                ["REPLACE(STRING, STRING old, STRING new)"],
                "Replaces every occurrence of `old`."
            ),
            info!(
                "INITCAP",
                Scalar,
                ["INITCAP(STRING)"],
                "Capitalises the first letter of each word."
            ),
            info!(
                "INSTR",
                Scalar,
                ["INSTR(STRING, STRING substring)"],
                "1-based position of the first occurrence, 0 if none."
            ),
            info!(
                "LPAD",
                Scalar,
                ["LPAD(STRING, INT length, STRING padding)"],
                "Pads on the left to `length`."
            ),
            info!(
                "RPAD",
                Scalar,
                ["RPAD(STRING, INT length, STRING padding)"],
                "Pads on the right to `length`."
            ),
            info!(
                "SPLIT",
                Scalar,
                ["SPLIT(STRING, STRING delimiter)"],
                "Splits into an ARRAY<STRING>."
            ),
            info!(
                "COALESCE",
                Scalar,
                ["COALESCE(value, value...)"],
                "The first non-NULL argument."
            ),
            info!(
                "IFNULL",
                Scalar,
                ["IFNULL(value, value)"],
                "The second argument when the first is NULL."
            ),
            info!(
                "NULLIF",
                Scalar,
                ["NULLIF(value, value)"],
                "NULL when the arguments are equal, else the first."
            ),
            info!(
                "EXTRACTJSONFIELD",
                Scalar,
                ["EXTRACTJSONFIELD(STRING json, STRING path)"],
                "The field at a JSONPath (`$.a.b[0]`) of a JSON string, as a string."
            ),
            info!(
                "IS_JSON_STRING",
                Scalar,
                ["IS_JSON_STRING(STRING)"],
                "Whether the string is valid JSON."
            ),
            info!(
                "REGEXP_REPLACE",
                Scalar,
                ["REGEXP_REPLACE(STRING, STRING regex, STRING replacement)"],
                "Replaces every match of the regular expression."
            ),
            info!(
                "REGEXP_EXTRACT",
                Scalar,
                [
                    "REGEXP_EXTRACT(STRING regex, STRING)",
                    "REGEXP_EXTRACT(STRING regex, STRING, INT group)"
                ],
                "The first match (or capture group)."
            ),
            info!(
                "REGEXP_EXTRACT_ALL",
                Scalar,
                [
                    "REGEXP_EXTRACT_ALL(STRING regex, STRING)",
                    "REGEXP_EXTRACT_ALL(STRING regex, STRING, INT group)"
                ],
                "Every match (or capture group)."
            ),
            info!(
                "REGEXP_SPLIT_TO_ARRAY",
                Scalar,
                ["REGEXP_SPLIT_TO_ARRAY(STRING, STRING regex)"],
                "Splits on the regular expression."
            ),
            info!(
                "ARRAY_LENGTH",
                Scalar,
                ["ARRAY_LENGTH(ARRAY)"],
                "The number of elements."
            ),
            info!(
                "ARRAY_CONTAINS",
                Scalar,
                ["ARRAY_CONTAINS(ARRAY, value)"],
                "Whether the array holds the value."
            ),
            info!(
                "ARRAY_JOIN",
                Scalar,
                ["ARRAY_JOIN(ARRAY)", "ARRAY_JOIN(ARRAY, STRING delimiter)"],
                "Joins the elements' text with a delimiter (default ',')."
            ),
            info!(
                "ARRAY_MIN",
                Scalar,
                ["ARRAY_MIN(ARRAY)"],
                "The least element that is not NULL (NULL for an empty array)."
            ),
            info!(
                "ARRAY_MAX",
                Scalar,
                ["ARRAY_MAX(ARRAY)"],
                "The greatest element that is not NULL (NULL for an empty array)."
            ),
            info!(
                "GENERATE_SERIES",
                Scalar,
                ["GENERATE_SERIES(INT start, INT end)", "GENERATE_SERIES(INT start, INT end, INT step)", "GENERATE_SERIES(BIGINT start, BIGINT end[, BIGINT step])"],
                "The numbers from start to end inclusive, counting by step (1, or -1 when end is below start)."
            ),
            info!(
                "ENTRIES",
                Scalar,
                ["ENTRIES(MAP<STRING, V>, BOOLEAN sorted)"],
                "The map's entries as an array of STRUCT<K STRING, V V>, in key order when sorted is true."
            ),
            info!(
                "MAP_KEYS",
                Scalar,
                ["MAP_KEYS(MAP)"],
                "The keys, as an array."
            ),
            info!(
                "MAP_VALUES",
                Scalar,
                ["MAP_VALUES(MAP)"],
                "The values, as an array."
            ),
            info!(
                "AS_VALUE",
                Scalar,
                ["AS_VALUE(value)"],
                "Copies a key column into the value."
            ),
            info!(
                "TO_BYTES",
                Scalar,
                ["TO_BYTES(STRING, STRING encoding)"],
                "Decodes a hex, utf8, ascii or base64 string to BYTES."
            ),
            info!(
                "FROM_BYTES",
                Scalar,
                ["FROM_BYTES(BYTES, STRING encoding)"],
                "Encodes BYTES as hex, utf8, ascii or base64."
            ),
            info!(
                "UNIX_TIMESTAMP",
                Scalar,
                ["UNIX_TIMESTAMP()", "UNIX_TIMESTAMP(TIMESTAMP)"],
                "Milliseconds since the epoch."
            ),
            info!(
                "COUNT",
                Aggregate,
                ["COUNT(*)", "COUNT(value)"],
                "The number of rows (of non-NULL values)."
            ),
            info!("SUM", Aggregate, ["SUM(number)"], "The sum."),
            info!("MIN", Aggregate, ["MIN(value)"], "The smallest value."),
            info!("MAX", Aggregate, ["MAX(value)"], "The largest value."),
            info!("AVG", Aggregate, ["AVG(number)"], "The mean, as a DOUBLE."),
            info!(
                "LATEST_BY_OFFSET",
                Aggregate,
                [
                    "LATEST_BY_OFFSET(value)",
                    "LATEST_BY_OFFSET(value, BOOLEAN ignore_nulls)",
                    "LATEST_BY_OFFSET(value, INT n)",
                    "LATEST_BY_OFFSET(value, INT n, BOOLEAN ignore_nulls)"
                ],
                "The latest value, or an array of the latest n (oldest first)."
            ),
            info!(
                "EARLIEST_BY_OFFSET",
                Aggregate,
                [
                    "EARLIEST_BY_OFFSET(value)",
                    "EARLIEST_BY_OFFSET(value, BOOLEAN ignore_nulls)",
                    "EARLIEST_BY_OFFSET(value, INT n)",
                    "EARLIEST_BY_OFFSET(value, INT n, BOOLEAN ignore_nulls)"
                ],
                "The earliest value, or an array of the earliest n."
            ),
            info!(
                "COLLECT_LIST",
                Aggregate,
                ["COLLECT_LIST(value)"],
                "Every value, in order, as an array."
            ),
            info!(
                "COLLECT_SET",
                Aggregate,
                ["COLLECT_SET(value)"],
                "The distinct values, in first-seen order, as an array."
            ),
            info!(
                "TOPK",
                Aggregate,
                ["TOPK(value, INT k)", "TOPK(value, col0, ..., INT k)"],
                "The k largest values, largest first."
            ),
            info!(
                "TOPKDISTINCT",
                Aggregate,
                ["TOPKDISTINCT(value, INT k)"],
                "The k largest distinct values, largest first."
            ),
            info!(
                "COUNT_DISTINCT",
                Aggregate,
                ["COUNT_DISTINCT(value)"],
                "The number of distinct non-NULL values."
            ),
        ];
        v.sort_by_key(|f| f.name);
        v
    })
}

pub fn lookup(name: &str) -> Option<&'static FunctionInfo> {
    registry()
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
}

/// A resolved call: the function, the type to bring each argument to, and
/// the result type.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    pub func: ScalarFunc,
    /// `Some(t)`: cast argument `i` to `t` first.
    pub casts: Vec<Option<SqlType>>,
    pub ty: SqlType,
}

fn is_num(t: &Option<SqlType>) -> bool {
    t.as_ref().is_none_or(SqlType::is_numeric)
}

fn is(t: &Option<SqlType>, want: &SqlType) -> bool {
    t.as_ref().is_none_or(|t| t == want)
}

fn widest(types: &[Option<SqlType>]) -> Result<Option<SqlType>, String> {
    let mut acc: Option<SqlType> = None;
    for t in types.iter().flatten() {
        acc = Some(match &acc {
            None => t.clone(),
            Some(a) if a == t => a.clone(),
            Some(a) if a.is_numeric() && t.is_numeric() => {
                let rank = |t: &SqlType| match t {
                    SqlType::Int => 1,
                    SqlType::BigInt => 2,
                    SqlType::Decimal { .. } => 3,
                    _ => 4,
                };
                if rank(t) > rank(a) {
                    t.clone()
                } else {
                    a.clone()
                }
            }
            Some(a) => return Err(format!("mixes {a} and {t}")),
        });
    }
    Ok(acc)
}

/// Resolves `name(args)` for argument types (`None` for an untyped NULL).
pub fn resolve(name: &str, args: &[Option<SqlType>]) -> Result<Resolved, String> {
    use ScalarFunc as F;
    let upper = name.to_uppercase();
    let n = args.len();
    let info = lookup(&upper)
        .filter(|f| f.kind == FunctionKind::Scalar)
        .ok_or_else(|| format!("unknown function {upper}"))?;
    let wrong = || {
        format!(
            "{upper} does not take ({}); it takes {}",
            args.iter()
                .map(|a| a.as_ref().map(|t| t.to_string()).unwrap_or("NULL".into()))
                .collect::<Vec<_>>()
                .join(", "),
            info.signatures.join(" or ")
        )
    };
    let s = SqlType::String;
    let all_strings = || args.iter().all(|a| is(a, &s));
    let same = |func: F, ty: SqlType| Resolved {
        func,
        casts: vec![None; n],
        ty,
    };
    let strings = |func: F, count: &[usize], ty: SqlType| -> Result<Resolved, String> {
        if count.contains(&n) && all_strings() {
            Ok(same(func, ty))
        } else {
            Err(wrong())
        }
    };
    Ok(match upper.as_str() {
        "ABS" | "CEIL" | "FLOOR" | "SIGN" if n == 1 && is_num(&args[0]) => {
            let func = match upper.as_str() {
                "ABS" => F::Abs,
                "CEIL" => F::Ceil,
                "FLOOR" => F::Floor,
                _ => F::Sign,
            };
            let ty = if func == F::Sign {
                SqlType::Int
            } else {
                args[0].clone().unwrap_or(SqlType::Double)
            };
            same(func, ty)
        }
        "ROUND"
            if (n == 1 || n == 2)
                && is_num(&args[0])
                && (n == 1 || is(&args[1], &SqlType::Int)) =>
        {
            let ty = match (&args[0], n) {
                (Some(SqlType::Double), 1) => SqlType::BigInt,
                (Some(t), _) => t.clone(),
                (None, _) => SqlType::Double,
            };
            same(F::Round, ty)
        }
        "SQRT" | "EXP" | "LN" if n == 1 && is_num(&args[0]) => Resolved {
            func: match upper.as_str() {
                "SQRT" => F::Sqrt,
                "EXP" => F::Exp,
                _ => F::Ln,
            },
            casts: vec![Some(SqlType::Double)],
            ty: SqlType::Double,
        },
        "POWER" if n == 2 && is_num(&args[0]) && is_num(&args[1]) => Resolved {
            func: F::Power,
            casts: vec![Some(SqlType::Double); 2],
            ty: SqlType::Double,
        },
        "GREATEST" | "LEAST" | "COALESCE" if n >= 1 => {
            let ty = widest(args)
                .map_err(|e| format!("{upper} {e}"))?
                .ok_or_else(|| format!("cannot infer the type of {upper}(NULL...)"))?;
            let func = match upper.as_str() {
                "GREATEST" => F::Greatest,
                "LEAST" => F::Least,
                _ => F::Coalesce,
            };
            Resolved {
                func,
                casts: vec![Some(ty.clone()); n],
                ty,
            }
        }
        "IFNULL" | "NULLIF" if n == 2 => {
            let ty = widest(args)
                .map_err(|e| format!("{upper} {e}"))?
                .ok_or_else(|| format!("cannot infer the type of {upper}(NULL, NULL)"))?;
            Resolved {
                func: if upper == "IFNULL" {
                    F::Ifnull
                } else {
                    F::Nullif
                },
                casts: vec![Some(ty.clone()); 2],
                ty,
            }
        }
        "CONCAT" => match args.iter().flatten().next() {
            Some(SqlType::Bytes) if args.iter().all(|a| is(a, &SqlType::Bytes)) => {
                same(F::Concat, SqlType::Bytes)
            }
            _ => strings(F::Concat, &(1..=64).collect::<Vec<_>>(), s.clone())?,
        },
        "CONCAT_WS" => strings(F::ConcatWs, &(2..=64).collect::<Vec<_>>(), s.clone())?,
        "SUBSTRING" if (n == 2 || n == 3) && is(&args[0], &s) && args[1..].iter().all(is_num) => {
            let mut casts = vec![None; n];
            for c in casts.iter_mut().skip(1) {
                *c = Some(SqlType::Int);
            }
            Resolved {
                func: F::Substring,
                casts,
                ty: s.clone(),
            }
        }
        "LEN" if n == 1 && is(&args[0], &s) => same(F::Len, SqlType::Int),
        "UCASE" => strings(F::Ucase, &[1], s.clone())?,
        "LCASE" => strings(F::Lcase, &[1], s.clone())?,
        "TRIM" => strings(F::Trim, &[1], s.clone())?,
        "LTRIM" => strings(F::Ltrim, &[1], s.clone())?,
        "RTRIM" => strings(F::Rtrim, &[1], s.clone())?,
        "INITCAP" => strings(F::Initcap, &[1], s.clone())?,
        "REPLACE" => strings(F::Replace, &[3], s.clone())?,
        "INSTR" => strings(F::Instr, &[2], SqlType::Int)?,
        "LPAD" | "RPAD" if n == 3 && is(&args[0], &s) && is_num(&args[1]) && is(&args[2], &s) => {
            Resolved {
                func: if upper == "LPAD" { F::Lpad } else { F::Rpad },
                casts: vec![None, Some(SqlType::Int), None],
                ty: s.clone(),
            }
        }
        "SPLIT" => strings(F::Split, &[2], SqlType::Array(Box::new(s.clone())))?,
        "EXTRACTJSONFIELD" => strings(F::ExtractJsonField, &[2], s.clone())?,
        "IS_JSON_STRING" => strings(F::IsJsonString, &[1], SqlType::Boolean)?,
        "REGEXP_REPLACE" => strings(F::RegexpReplace, &[3], s.clone())?,
        "REGEXP_SPLIT_TO_ARRAY" => strings(
            F::RegexpSplitToArray,
            &[2],
            SqlType::Array(Box::new(s.clone())),
        )?,
        "REGEXP_EXTRACT" | "REGEXP_EXTRACT_ALL"
            if (n == 2 || n == 3)
                && is(&args[0], &s)
                && is(&args[1], &s)
                && (n == 2 || is_num(&args[2])) =>
        {
            let all = upper == "REGEXP_EXTRACT_ALL";
            let mut casts = vec![None; n];
            if n == 3 {
                casts[2] = Some(SqlType::Int);
            }
            Resolved {
                func: if all {
                    F::RegexpExtractAll
                } else {
                    F::RegexpExtract
                },
                casts,
                ty: if all {
                    SqlType::Array(Box::new(s.clone()))
                } else {
                    s.clone()
                },
            }
        }
        "ARRAY_LENGTH" if n == 1 && matches!(args[0], None | Some(SqlType::Array(_))) => {
            same(F::ArrayLength, SqlType::Int)
        }
        "ARRAY_CONTAINS" if n == 2 => match &args[0] {
            Some(SqlType::Array(elem)) => Resolved {
                func: F::ArrayContains,
                casts: vec![None, Some((**elem).clone())],
                ty: SqlType::Boolean,
            },
            None => same(F::ArrayContains, SqlType::Boolean),
            _ => return Err(wrong()),
        },
        "ARRAY_JOIN"
            if (n == 1 || n == 2)
                && matches!(args[0], None | Some(SqlType::Array(_)))
                && (n == 1 || is(&args[1], &s)) =>
        {
            same(F::ArrayJoin, s.clone())
        }
        "ARRAY_MIN" | "ARRAY_MAX" if n == 1 => {
            let func = if upper == "ARRAY_MIN" {
                F::ArrayMin
            } else {
                F::ArrayMax
            };
            match &args[0] {
                // Elements ordered as ORDER BY orders them: not collections.
                Some(SqlType::Array(elem))
                    if !matches!(
                        **elem,
                        SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_)
                    ) =>
                {
                    same(func, (**elem).clone())
                }
                _ => return Err(wrong()),
            }
        }
        "GENERATE_SERIES" if (n == 2 || n == 3) && args.iter().all(is_num) => {
            let ty = if args.iter().any(|a| is(a, &SqlType::BigInt)) {
                SqlType::BigInt
            } else {
                SqlType::Int
            };
            if args
                .iter()
                .flatten()
                .any(|a| !matches!(a, SqlType::Int | SqlType::BigInt))
            {
                return Err(wrong());
            }
            Resolved {
                func: F::GenerateSeries,
                casts: vec![Some(ty.clone()); n],
                ty: SqlType::Array(Box::new(ty)),
            }
        }
        "ENTRIES" if n == 2 && is(&args[1], &SqlType::Boolean) => match &args[0] {
            Some(SqlType::Map(k, v)) if **k == SqlType::String => same(
                F::Entries,
                SqlType::Array(Box::new(SqlType::Struct(vec![
                    ("K".into(), SqlType::String),
                    ("V".into(), (**v).clone()),
                ]))),
            ),
            _ => return Err(wrong()),
        },
        "MAP_KEYS" | "MAP_VALUES" if n == 1 => match &args[0] {
            Some(SqlType::Map(k, v)) => {
                let (func, elem) = if upper == "MAP_KEYS" {
                    (F::MapKeys, k)
                } else {
                    (F::MapValues, v)
                };
                same(func, SqlType::Array(elem.clone()))
            }
            _ => return Err(wrong()),
        },
        "AS_VALUE" if n == 1 => same(
            F::AsValue,
            args[0]
                .clone()
                .ok_or("cannot infer the type of AS_VALUE(NULL)")?,
        ),
        "TO_BYTES" => strings(F::ToBytes, &[2], SqlType::Bytes)?,
        "FROM_BYTES" if n == 2 && is(&args[0], &SqlType::Bytes) && is(&args[1], &s) => {
            same(F::FromBytes, s.clone())
        }
        "UNIX_TIMESTAMP" if n == 0 || (n == 1 && is(&args[0], &SqlType::Timestamp)) => {
            same(F::UnixTimestamp, SqlType::BigInt)
        }
        _ => return Err(wrong()),
    })
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i as i64),
        Value::BigInt(i) => Some(*i),
        _ => None,
    }
}

fn regex(pattern: &str) -> Result<regex::Regex, EvalError> {
    // Patterns are usually literals: compile each distinct one once.
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<String, regex::Regex>> = Default::default();
    }
    CACHE.with(|c| {
        if let Some(r) = c.borrow().get(pattern) {
            return Ok(r.clone());
        }
        let r = regex::Regex::new(pattern).map_err(|e| {
            EvalError::InvalidArgument(format!("invalid regular expression '{pattern}': {e}"))
        })?;
        c.borrow_mut().insert(pattern.to_string(), r.clone());
        Ok(r)
    })
}

/// ksqlDB's JSONPath subset: `$`, `.name`, `['name']`, `[index]`.
fn json_path<'a>(mut v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut rest = path.trim().strip_prefix('$')?;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            v = v.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            v = match inner
                .strip_prefix('\'')
                .and_then(|i| i.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|i| i.strip_suffix('"')))
            {
                Some(name) => v.get(name)?,
                None => v.get(inner.parse::<usize>().ok()?)?,
            };
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(v)
}

impl ScalarFunc {
    /// Evaluates the function on arguments already of the resolved types.
    pub fn eval(&self, args: &[Value]) -> Result<Value, EvalError> {
        use ScalarFunc as F;
        // NULL in, NULL out, except for the NULL-handling functions.
        let null_tolerant = matches!(
            self,
            F::Coalesce
                | F::Ifnull
                | F::Nullif
                | F::Concat
                | F::ConcatWs
                | F::Greatest
                | F::Least
                | F::ArrayContains
                | F::AsValue
        );
        if !null_tolerant && args.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        let s = |i: usize| text(&args[i]).unwrap_or("");
        let st = |v: String| Value::String(v);
        Ok(match self {
            F::Abs => eval::abs(&args[0])?,
            F::Sign => Value::Int(match eval::compare(&args[0], &eval::zero_like(&args[0])) {
                Some(std::cmp::Ordering::Less) => -1,
                Some(std::cmp::Ordering::Greater) => 1,
                _ => 0,
            }),
            F::Ceil | F::Floor | F::Round => eval::round(
                &args[0],
                *self == F::Ceil,
                *self == F::Floor,
                args.get(1).and_then(int).unwrap_or(0),
            )?,
            F::Sqrt | F::Exp | F::Ln => {
                let x = match &args[0] {
                    Value::Double(d) => d.0,
                    _ => return Err(EvalError::Internal("expected a DOUBLE".into())),
                };
                Value::Double(F64(match self {
                    F::Sqrt => x.sqrt(),
                    F::Exp => x.exp(),
                    _ => x.ln(),
                }))
            }
            F::Power => match (&args[0], &args[1]) {
                (Value::Double(a), Value::Double(b)) => Value::Double(F64(a.0.powf(b.0))),
                _ => return Err(EvalError::Internal("expected DOUBLEs".into())),
            },
            F::Greatest | F::Least => {
                let want = if *self == F::Greatest {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Less
                };
                let mut best: Option<&Value> = None;
                for a in args.iter().filter(|a| !a.is_null()) {
                    if best.is_none_or(|b| eval::compare(a, b) == Some(want)) {
                        best = Some(a);
                    }
                }
                best.cloned().unwrap_or(Value::Null)
            }
            F::Concat => match args.first() {
                Some(Value::Bytes(_)) => Value::Bytes(
                    args.iter()
                        .flat_map(|a| match a {
                            Value::Bytes(b) => b.clone(),
                            _ => vec![],
                        })
                        .collect(),
                ),
                _ => st(args.iter().filter_map(text).collect()),
            },
            F::ConcatWs => match &args[0] {
                Value::String(sep) => st(args[1..]
                    .iter()
                    .filter_map(text)
                    .collect::<Vec<_>>()
                    .join(sep)),
                _ => Value::Null,
            },
            F::Substring => {
                let chars: Vec<char> = s(0).chars().collect();
                let n = chars.len() as i64;
                let pos = int(&args[1]).unwrap_or(1);
                let start = if pos > 0 {
                    pos - 1
                } else if pos < 0 {
                    (n + pos).max(0)
                } else {
                    0
                };
                let len = args.get(2).and_then(int).unwrap_or(n).max(0);
                let start = start.clamp(0, n);
                let end = (start + len).clamp(start, n);
                st(chars[start as usize..end as usize].iter().collect())
            }
            F::Len => Value::Int(s(0).chars().count() as i32),
            F::Ucase => st(s(0).to_uppercase()),
            F::Lcase => st(s(0).to_lowercase()),
            F::Trim => st(s(0).trim().to_string()),
            F::Ltrim => st(s(0).trim_start().to_string()),
            F::Rtrim => st(s(0).trim_end().to_string()),
            F::Replace => st(s(0).replace(s(1), s(2))),
            F::Initcap => st(s(0)
                .split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    match c.next() {
                        Some(f) => f
                            .to_uppercase()
                            .chain(c.flat_map(char::to_lowercase))
                            .collect(),
                        None => String::new(),
                    }
                })
                .collect::<Vec<String>>()
                .join(" ")),
            F::Instr => Value::Int(
                s(0).find(s(1))
                    .map(|i| s(0)[..i].chars().count() as i32 + 1)
                    .unwrap_or(0),
            ),
            F::Lpad | F::Rpad => {
                let len = int(&args[1]).unwrap_or(0);
                if len < 0 || s(2).is_empty() && (len as usize) > s(0).chars().count() {
                    return Ok(Value::Null);
                }
                let len = len as usize;
                let input: Vec<char> = s(0).chars().collect();
                if input.len() >= len {
                    return Ok(st(input[..len].iter().collect()));
                }
                let pad: String = s(2).chars().cycle().take(len - input.len()).collect();
                let input: String = input.into_iter().collect();
                st(if *self == F::Lpad {
                    pad + &input
                } else {
                    input + &pad
                })
            }
            F::Split => Value::Array(if s(1).is_empty() {
                s(0).chars().map(|c| st(c.to_string())).collect()
            } else {
                s(0).split(s(1)).map(|p| st(p.to_string())).collect()
            }),
            F::Coalesce => args
                .iter()
                .find(|a| !a.is_null())
                .cloned()
                .unwrap_or(Value::Null),
            F::Ifnull => {
                if args[0].is_null() {
                    args[1].clone()
                } else {
                    args[0].clone()
                }
            }
            F::Nullif => {
                if !args[0].is_null()
                    && eval::compare(&args[0], &args[1]) == Some(std::cmp::Ordering::Equal)
                {
                    Value::Null
                } else {
                    args[0].clone()
                }
            }
            F::ExtractJsonField => {
                let Ok(json) = serde_json::from_str::<serde_json::Value>(s(0)) else {
                    return Ok(Value::Null);
                };
                match json_path(&json, s(1)) {
                    None | Some(serde_json::Value::Null) => Value::Null,
                    Some(serde_json::Value::String(v)) => st(v.clone()),
                    Some(other) => st(other.to_string()),
                }
            }
            F::IsJsonString => {
                Value::Boolean(serde_json::from_str::<serde_json::Value>(s(0)).is_ok())
            }
            F::RegexpReplace => st(regex(s(1))?.replace_all(s(0), s(2)).into_owned()),
            F::RegexpSplitToArray => Value::Array(
                regex(s(1))?
                    .split(s(0))
                    .map(|p| st(p.to_string()))
                    .collect(),
            ),
            F::RegexpExtract | F::RegexpExtractAll => {
                let re = regex(s(0))?;
                let group = args.get(2).and_then(int).unwrap_or(0).max(0) as usize;
                let pick = |c: regex::Captures<'_>| {
                    c.get(group)
                        .map(|m| st(m.as_str().to_string()))
                        .unwrap_or(Value::Null)
                };
                if *self == F::RegexpExtract {
                    re.captures(s(1)).map(pick).unwrap_or(Value::Null)
                } else {
                    Value::Array(re.captures_iter(s(1)).map(pick).collect())
                }
            }
            F::ArrayLength => match &args[0] {
                Value::Array(a) => Value::Int(a.len() as i32),
                _ => Value::Null,
            },
            F::ArrayContains => match &args[0] {
                Value::Array(a) => Value::Boolean(a.contains(&args[1])),
                _ => Value::Null,
            },
            F::ArrayJoin => match &args[0] {
                Value::Array(a) => {
                    let sep = args.get(1).and_then(text).unwrap_or(",");
                    st(a.iter()
                        .map(|v| match eval::cast(v, &SqlType::String) {
                            Ok(Value::String(s)) => s,
                            _ => "null".to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(sep))
                }
                _ => Value::Null,
            },
            F::ArrayMin | F::ArrayMax => match &args[0] {
                Value::Array(a) => {
                    let wanted = if *self == F::ArrayMin {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    };
                    a.iter()
                        .filter(|v| !v.is_null())
                        .fold(None, |best: Option<&Value>, v| match best {
                            Some(b) if eval::compare(v, b) != Some(wanted) => Some(b),
                            _ => Some(v),
                        })
                        .cloned()
                        .unwrap_or(Value::Null)
                }
                _ => Value::Null,
            },
            F::GenerateSeries => {
                let n = |v: &Value| match v {
                    Value::Int(i) => Some(*i as i64),
                    Value::BigInt(i) => Some(*i),
                    _ => None,
                };
                let (Some(start), Some(end)) = (n(&args[0]), n(&args[1])) else {
                    return Err(EvalError::Internal(
                        "GENERATE_SERIES of non-integers".into(),
                    ));
                };
                let step = match args.get(2).map(n) {
                    Some(Some(step)) => step,
                    _ if end < start => -1,
                    _ => 1,
                };
                if step == 0 || (end - start).signum() * step.signum() < 0 {
                    return Err(EvalError::InvalidArgument(format!(
                        "GENERATE_SERIES({start}, {end}, {step}): the step must be non-zero and lead from start to end"
                    )));
                }
                let count = (end - start) / step + 1;
                if count > 1_000_000 {
                    return Err(EvalError::InvalidArgument(format!(
                        "GENERATE_SERIES would make {count} elements; at most 1,000,000"
                    )));
                }
                let int = matches!(args[0], Value::Int(_));
                Value::Array(
                    (0..count)
                        .map(|i| start + i * step)
                        .map(|x| {
                            if int {
                                Value::Int(x as i32)
                            } else {
                                Value::BigInt(x)
                            }
                        })
                        .collect(),
                )
            }
            F::Entries => match &args[0] {
                Value::Map(m) => {
                    let mut entries: Vec<(Value, Value)> = m.clone();
                    if args[1] == Value::Boolean(true) {
                        entries.sort_by(|a, b| {
                            eval::compare(&a.0, &b.0).unwrap_or(std::cmp::Ordering::Equal)
                        });
                    }
                    Value::Array(
                        entries
                            .into_iter()
                            .map(|(k, v)| Value::Struct(vec![k, v]))
                            .collect(),
                    )
                }
                _ => Value::Null,
            },
            F::MapKeys | F::MapValues => match &args[0] {
                Value::Map(m) => Value::Array(
                    m.iter()
                        .map(|(k, v)| {
                            if *self == F::MapKeys {
                                k.clone()
                            } else {
                                v.clone()
                            }
                        })
                        .collect(),
                ),
                _ => Value::Null,
            },
            F::AsValue => args[0].clone(),
            F::ToBytes => st_bytes(s(0), s(1))?,
            F::FromBytes => match &args[0] {
                Value::Bytes(b) => from_bytes(b, s(1))?,
                _ => Value::Null,
            },
            F::UnixTimestamp => match args.first() {
                Some(Value::Timestamp(t)) => Value::BigInt(*t),
                _ => Value::BigInt(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as i64)
                        .unwrap_or(0),
                ),
            },
        })
    }
}

fn st_bytes(s: &str, encoding: &str) -> Result<Value, EvalError> {
    use base64::Engine as _;
    let bad = |e: String| EvalError::InvalidArgument(format!("TO_BYTES: {e}"));
    Ok(Value::Bytes(match encoding.to_lowercase().as_str() {
        "utf8" | "ascii" => s.as_bytes().to_vec(),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| bad(e.to_string()))?,
        "hex" => (0..s.len())
            .step_by(2)
            .map(|i| {
                s.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| bad(format!("'{s}' is not hex")))
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(bad(format!(
                "unknown encoding '{other}'; use hex, utf8, ascii or base64"
            )))
        }
    }))
}

fn from_bytes(b: &[u8], encoding: &str) -> Result<Value, EvalError> {
    use base64::Engine as _;
    Ok(Value::String(match encoding.to_lowercase().as_str() {
        "utf8" | "ascii" => String::from_utf8_lossy(b).into_owned(),
        "base64" => base64::engine::general_purpose::STANDARD.encode(b),
        "hex" => b.iter().map(|x| format!("{x:02X}")).collect(),
        other => {
            return Err(EvalError::InvalidArgument(format!(
                "FROM_BYTES: unknown encoding '{other}'; use hex, utf8, ascii or base64"
            )))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Vec<Value>) -> Value {
        let types: Vec<Option<SqlType>> = args
            .iter()
            .map(|a| match a {
                Value::Null => None,
                Value::String(_) => Some(SqlType::String),
                Value::Int(_) => Some(SqlType::Int),
                Value::BigInt(_) => Some(SqlType::BigInt),
                Value::Double(_) => Some(SqlType::Double),
                Value::Boolean(_) => Some(SqlType::Boolean),
                Value::Array(_) => Some(SqlType::Array(Box::new(SqlType::String))),
                other => panic!("{other:?}"),
            })
            .collect();
        let r = resolve(name, &types).unwrap();
        let args: Vec<Value> = args
            .iter()
            .zip(&r.casts)
            .map(|(a, c)| {
                c.as_ref()
                    .map(|t| eval::cast(a, t).unwrap())
                    .unwrap_or(a.clone())
            })
            .collect();
        r.func.eval(&args).unwrap()
    }

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn the_seed_toggle_pipeline_functions() {
        // seed pipeline 3: cast(regexp_replace(extractjsonfield(AFTER, '$.user_id'), '[^0-9]', '') as bigint)
        let after = s(
            r#"{"_id": {"$oid": "38vhxu2ffa"}, "user_id": {"$numberLong": "1"}, "toggle": false}"#,
        );
        let field = call("extractjsonfield", vec![after.clone(), s("$.user_id")]);
        assert_eq!(field, s(r#"{"$numberLong":"1"}"#));
        assert_eq!(
            call("regexp_replace", vec![field, s("[^0-9]"), s("")]),
            s("1")
        );
        assert_eq!(
            call("extractjsonfield", vec![after.clone(), s("$.toggle")]),
            s("false")
        );
        assert_eq!(
            call("extractjsonfield", vec![after.clone(), s("$.missing")]),
            Value::Null
        );
        assert_eq!(
            call("extractjsonfield", vec![s("not json"), s("$.a")]),
            Value::Null
        );
        assert_eq!(
            call(
                "extractjsonfield",
                vec![s(r#"{"a": [1, {"b": "x"}]}"#), s("$.a[1].b")]
            ),
            s("x")
        );
        assert_eq!(
            call("extractjsonfield", vec![s(r#"{"a b": 2}"#), s("$['a b']")]),
            s("2")
        );
    }

    #[test]
    fn strings() {
        assert_eq!(
            call("substring", vec![s("hello"), Value::Int(2), Value::Int(3)]),
            s("ell")
        );
        assert_eq!(
            call("substring", vec![s("hello"), Value::Int(-3)]),
            s("llo")
        );
        assert_eq!(call("concat", vec![s("a"), Value::Null, s("b")]), s("ab"));
        assert_eq!(call("initcap", vec![s("hello wORLD")]), s("Hello World"));
        assert_eq!(
            call("lpad", vec![s("ab"), Value::Int(5), s("xy")]),
            s("xyxab")
        );
        assert_eq!(call("instr", vec![s("hello"), s("l")]), Value::Int(3));
        assert_eq!(call("len", vec![Value::Null]), Value::Null);
        assert_eq!(
            call(
                "regexp_extract",
                vec![s("(\\d+)-(\\d+)"), s("10-20"), Value::Int(2)]
            ),
            s("20")
        );
        assert_eq!(call("coalesce", vec![Value::Null, s("x")]), s("x"));
        assert_eq!(call("ifnull", vec![Value::Null, s("d")]), s("d"));
    }

    #[test]
    fn series_count_either_way_and_refuse_a_step_that_never_arrives() {
        let ints = |xs: &[i32]| Value::Array(xs.iter().map(|x| Value::Int(*x)).collect());
        assert_eq!(
            call("generate_series", vec![Value::Int(4), Value::Int(1)]),
            ints(&[4, 3, 2, 1])
        );
        assert_eq!(
            call(
                "generate_series",
                vec![Value::Int(0), Value::Int(9), Value::Int(4)]
            ),
            ints(&[0, 4, 8])
        );
        let r = resolve("generate_series", &vec![Some(SqlType::Int); 3]).unwrap();
        for step in [0, -1] {
            assert!(matches!(
                r.func
                    .eval(&[Value::Int(0), Value::Int(3), Value::Int(step)]),
                Err(EvalError::InvalidArgument(_))
            ));
        }
        let map = Some(SqlType::Map(
            Box::new(SqlType::String),
            Box::new(SqlType::Int),
        ));
        let r = resolve("entries", &[map, Some(SqlType::Boolean)]).unwrap();
        let m = Value::Map(vec![(s("b"), Value::Int(2)), (s("a"), Value::Int(1))]);
        assert_eq!(
            r.func.eval(&[m, Value::Boolean(true)]).unwrap(),
            Value::Array(vec![
                Value::Struct(vec![s("a"), Value::Int(1)]),
                Value::Struct(vec![s("b"), Value::Int(2)]),
            ])
        );
    }

    #[test]
    fn array_min_and_max_skip_nulls_and_refuse_collections() {
        let arr = |xs: Vec<Value>| Value::Array(xs);
        let three = arr(vec![
            Value::Int(3),
            Value::Null,
            Value::Int(-1),
            Value::Int(7),
        ]);
        assert_eq!(call("array_min", vec![three.clone()]), Value::Int(-1));
        assert_eq!(call("array_max", vec![three]), Value::Int(7));
        assert_eq!(call("array_min", vec![arr(vec![Value::Null])]), Value::Null);
        assert_eq!(call("array_max", vec![arr(vec![s("b"), s("a")])]), s("b"));
        let nested = SqlType::Array(Box::new(SqlType::Array(Box::new(SqlType::Int))));
        assert!(resolve("array_min", &[Some(nested)]).is_err());
    }

    #[test]
    fn resolution_errors_say_what_is_accepted() {
        let err = resolve("substring", &[Some(SqlType::Int)]).unwrap_err();
        assert!(err.contains("SUBSTRING(STRING, INT pos)"), "{err}");
        assert_eq!(resolve("nope", &[]).unwrap_err(), "unknown function NOPE");
        assert!(resolve("regexp_replace", &vec![Some(SqlType::String); 3]).is_ok());
    }

    #[test]
    fn a_bad_regex_is_an_error_value() {
        let r = resolve("regexp_replace", &vec![Some(SqlType::String); 3]).unwrap();
        assert!(matches!(
            r.func.eval(&[s("a"), s("("), s("")]),
            Err(EvalError::InvalidArgument(_))
        ));
    }
}
