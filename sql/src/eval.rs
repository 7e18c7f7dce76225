//! Evaluation of bound scalar expressions over a row.
//!
//! Errors are values of [`EvalError`], never panics: the engine turns them
//! into processing-log entries beside the results.
//!
//! ```
//! use ddsql_sql::eval::eval;
//! use ddsql_sql::plan::{BinaryFunc, ScalarExpr};
//! use ddsql_sql::types::Value;
//! let e = ScalarExpr::Binary(BinaryFunc::Add, Box::new(ScalarExpr::Column(0)), Box::new(ScalarExpr::Literal(Value::BigInt(1))));
//! assert_eq!(eval(&e, &[Value::BigInt(41)]).unwrap(), Value::BigInt(42));
//! assert_eq!(eval(&e, &[Value::Null]).unwrap(), Value::Null);
//! ```

use std::cmp::Ordering;

use crate::plan::{BinaryFunc, LambdaFunc, Rendering, ScalarExpr, UnaryFunc};

/// `func` over `input` (an array or map): each body is evaluated over the
/// row (`outer`) followed by the lambda's parameters. A NULL input is NULL.
fn lambda(
    func: LambdaFunc,
    input: Value,
    init: Option<Value>,
    outer: &[Value],
    bodies: &[ScalarExpr],
    failed: &mut Vec<EvalError>,
) -> Result<Value, EvalError> {
    let mut scratch: Vec<Value> = outer.to_vec();
    let mut call = |body: &ScalarExpr, params: &[&Value]| {
        scratch.truncate(outer.len());
        scratch.extend(params.iter().map(|p| (*p).clone()));
        eval_in(body, &scratch, failed)
    };
    let body = &bodies[0];
    Ok(match (func, input) {
        (_, Value::Null) => Value::Null,
        (LambdaFunc::Transform, Value::Array(items)) => Value::Array(
            items
                .iter()
                .map(|x| call(body, &[x]))
                .collect::<Result<_, _>>()?,
        ),
        (LambdaFunc::Transform, Value::Map(entries)) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((call(body, &[k, v])?, call(&bodies[1], &[k, v])?)))
                .collect::<Result<_, EvalError>>()?,
        ),
        (LambdaFunc::Filter, Value::Array(items)) => {
            let mut kept = Vec::new();
            for x in items {
                if call(body, &[&x])? == Value::Boolean(true) {
                    kept.push(x);
                }
            }
            Value::Array(kept)
        }
        (LambdaFunc::Filter, Value::Map(entries)) => {
            let mut kept = Vec::new();
            for (k, v) in entries {
                if call(body, &[&k, &v])? == Value::Boolean(true) {
                    kept.push((k, v));
                }
            }
            Value::Map(kept)
        }
        (LambdaFunc::Reduce, Value::Array(items)) => {
            let mut acc = init.unwrap_or(Value::Null);
            for x in &items {
                acc = call(body, &[&acc, x])?;
            }
            acc
        }
        (LambdaFunc::Reduce, Value::Map(entries)) => {
            let mut acc = init.unwrap_or(Value::Null);
            for (k, v) in &entries {
                acc = call(body, &[&acc, k, v])?;
            }
            acc
        }
        (func, other) => return Err(EvalError::Internal(format!("{} of {other:?}", func.name()))),
    })
}
use base64::Engine as _;

use crate::types::{SqlType, Value, F64};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("division by zero")]
    DivisionByZero,
    #[error("integer overflow in {0}")]
    Overflow(&'static str),
    #[error("cannot cast {value} to {to}")]
    InvalidCast { value: String, to: String },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Evaluates `expr` over `row`; the first error anywhere in it is the
/// result. Filters and grouping keys evaluate this way: a row whose
/// condition cannot be decided is logged and left out.
pub fn eval(expr: &ScalarExpr, row: &[Value]) -> Result<Value, EvalError> {
    let mut failed = Vec::new();
    let v = eval_in(expr, row, &mut failed);
    // A failed call recorded earlier came first in evaluation order.
    match failed.into_iter().next() {
        Some(e) => Err(e),
        None => v,
    }
}

/// Evaluates `expr` over `row` as ksqlDB evaluates a projection: a function
/// call that fails (`PARSE_DATE('x', 'yyyy')`) is NULL where it stands, so
/// `COALESCE(PARSE_DATE(a, p), ...)` falls through and the row survives.
/// The calls' errors come back beside the value, for the processing log.
pub fn eval_lenient(
    expr: &ScalarExpr,
    row: &[Value],
) -> (Result<Value, EvalError>, Vec<EvalError>) {
    let mut failed = Vec::new();
    let v = eval_in(expr, row, &mut failed);
    (v, failed)
}

static NULL: Value = Value::Null;

/// The value `expr` names without computing anything: a column, a literal,
/// or a field of one of those. Lending it instead of cloning saves, for
/// `after->user_id`, a copy of the whole Debezium `after` struct per row.
fn lent<'a>(expr: &'a ScalarExpr, row: &'a [Value]) -> Option<&'a Value> {
    match expr {
        ScalarExpr::Column(i) => row.get(*i),
        ScalarExpr::Literal(v) => Some(v),
        ScalarExpr::Field(e, i) => Some(match lent(e, row)? {
            Value::Struct(fields) => fields.get(*i).unwrap_or(&NULL),
            _ => &NULL,
        }),
        _ => None,
    }
}

/// An operand: lent where [`lent`] can, computed otherwise.
fn operand<'a>(
    expr: &'a ScalarExpr,
    row: &'a [Value],
    failed: &mut Vec<EvalError>,
) -> Result<std::borrow::Cow<'a, Value>, EvalError> {
    match lent(expr, row) {
        Some(v) => Ok(std::borrow::Cow::Borrowed(v)),
        None => eval_in(expr, row, failed).map(std::borrow::Cow::Owned),
    }
}

fn eval_in(
    expr: &ScalarExpr,
    row: &[Value],
    failed: &mut Vec<EvalError>,
) -> Result<Value, EvalError> {
    if let Some(v) = lent(expr, row) {
        return Ok(v.clone());
    }
    Ok(match expr {
        ScalarExpr::Column(i) => {
            return Err(EvalError::Internal(format!(
                "column {i} of a {}-column row",
                row.len()
            )))
        }
        ScalarExpr::Literal(v) => v.clone(),
        ScalarExpr::Unary(f, e) => {
            let v = operand(e, row, failed)?;
            match f {
                UnaryFunc::IsNull => Value::Boolean(v.is_null()),
                UnaryFunc::IsNotNull => Value::Boolean(!v.is_null()),
                UnaryFunc::Not => match *v {
                    Value::Boolean(b) => Value::Boolean(!b),
                    _ => Value::Null,
                },
                UnaryFunc::Negate => negate(&v)?,
            }
        }
        ScalarExpr::Binary(BinaryFunc::And, a, b) => {
            // Three-valued logic: FALSE wins over NULL.
            match eval_in(a, row, failed)? {
                Value::Boolean(false) => Value::Boolean(false),
                l => match (l, eval_in(b, row, failed)?) {
                    (_, Value::Boolean(false)) => Value::Boolean(false),
                    (Value::Boolean(true), Value::Boolean(true)) => Value::Boolean(true),
                    _ => Value::Null,
                },
            }
        }
        ScalarExpr::Binary(BinaryFunc::Or, a, b) => match eval_in(a, row, failed)? {
            Value::Boolean(true) => Value::Boolean(true),
            l => match (l, eval_in(b, row, failed)?) {
                (_, Value::Boolean(true)) => Value::Boolean(true),
                (Value::Boolean(false), Value::Boolean(false)) => Value::Boolean(false),
                _ => Value::Null,
            },
        },
        ScalarExpr::Binary(BinaryFunc::IsDistinct, a, b) => {
            let (l, r) = (operand(a, row, failed)?, operand(b, row, failed)?);
            Value::Boolean(match (l.is_null(), r.is_null()) {
                (true, true) => false,
                (false, false) => compare(&l, &r) != Some(Ordering::Equal),
                _ => true,
            })
        }
        ScalarExpr::Binary(f, a, b) => {
            let l = operand(a, row, failed)?;
            let r = operand(b, row, failed)?;
            if l.is_null() || r.is_null() {
                // ksqlDB compares with NULL as false, not NULL (its
                // generated code guards each comparison so).
                return Ok(match f {
                    BinaryFunc::Eq
                    | BinaryFunc::NotEq
                    | BinaryFunc::Lt
                    | BinaryFunc::LtEq
                    | BinaryFunc::Gt
                    | BinaryFunc::GtEq => Value::Boolean(false),
                    _ => Value::Null,
                });
            }
            binary(*f, &l, &r)?
        }
        ScalarExpr::Field(e, i) => match eval_in(e, row, failed)? {
            Value::Struct(fields) => fields.into_iter().nth(*i).unwrap_or(Value::Null),
            _ => Value::Null,
        },
        ScalarExpr::Subscript(e, i) => match (eval_in(e, row, failed)?, eval_in(i, row, failed)?) {
            (Value::Array(items), Value::Int(i)) => {
                let n = items.len() as i64;
                let i = i as i64;
                let at = if i > 0 { i - 1 } else { n + i };
                if (0..n).contains(&at) {
                    items.into_iter().nth(at as usize).unwrap_or(Value::Null)
                } else {
                    Value::Null
                }
            }
            (Value::Map(entries), k) => entries
                .into_iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v)
                .unwrap_or(Value::Null),
            _ => Value::Null,
        },
        ScalarExpr::Case { whens, else_ } => {
            for (w, t) in whens {
                if eval_in(w, row, failed)? == Value::Boolean(true) {
                    return eval_in(t, row, failed);
                }
            }
            eval_in(else_, row, failed)?
        }
        // A failed cast is NULL where it stands, as a failed call is.
        ScalarExpr::Cast(e, ty) => match cast(&eval_in(e, row, failed)?, ty) {
            Ok(v) => v,
            Err(e) => {
                failed.push(e);
                Value::Null
            }
        },
        ScalarExpr::Like(e, p, escape) => {
            match (eval_in(e, row, failed)?, eval_in(p, row, failed)?) {
                (Value::String(s), Value::String(p)) => Value::Boolean(like(&s, &p, *escape)),
                _ => Value::Null,
            }
        }
        ScalarExpr::MakeArray(items) => Value::Array(
            items
                .iter()
                .map(|e| eval_in(e, row, failed))
                .collect::<Result<_, _>>()?,
        ),
        ScalarExpr::MakeMap(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((eval_in(k, row, failed)?, eval_in(v, row, failed)?)))
                .collect::<Result<_, EvalError>>()?,
        ),
        ScalarExpr::Call(func, args) => {
            let args = args
                .iter()
                .map(|e| eval_in(e, row, failed))
                .collect::<Result<Vec<_>, _>>()?;
            match func.eval(&args) {
                Ok(v) => v,
                Err(e) => {
                    failed.push(e);
                    Value::Null
                }
            }
        }
        ScalarExpr::Lambda {
            func,
            input,
            init,
            params_at,
            bodies,
        } => {
            let input = eval_in(input, row, failed)?;
            let init = init.as_ref().map(|e| eval_in(e, row, failed)).transpose()?;
            lambda(*func, input, init, &row[..*params_at], bodies, failed)?
        }
        ScalarExpr::Render(e, ty, rendering) => {
            let v = eval_in(e, row, failed)?;
            if v.is_null() && *rendering == Rendering::Cast {
                return Ok(Value::Null);
            }
            Value::String(match rendering {
                Rendering::Json => to_json_text(&v, ty)
                    .map_err(EvalError::InvalidArgument)?
                    .to_string(),
                Rendering::Cast => {
                    java_string(&v, Some(ty)).ok_or_else(|| EvalError::InvalidCast {
                        value: format!("{v:?}"),
                        to: "STRING".into(),
                    })?
                }
            })
        }
        ScalarExpr::MakeStruct(fields) => Value::Struct(
            fields
                .iter()
                .map(|e| eval_in(e, row, failed))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// SQL LIKE: `%` matches any run of characters, `_` any one character,
/// and `escape` makes the next character literal.
pub fn like(s: &str, pattern: &str, escape: Option<char>) -> bool {
    enum Tok {
        Any,
        One,
        Lit(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            c if Some(c) == escape => Tok::Lit(chars.next().unwrap_or(c)),
            '%' => Tok::Any,
            '_' => Tok::One,
            c => Tok::Lit(c),
        });
    }
    let s: Vec<char> = s.chars().collect();
    // Classic two-pointer match with backtracking to the last `%`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match toks.get(j) {
            Some(Tok::One) => {
                i += 1;
                j += 1;
            }
            Some(Tok::Lit(c)) if *c == s[i] => {
                i += 1;
                j += 1;
            }
            Some(Tok::Any) => {
                star = Some((j, i));
                j += 1;
            }
            _ => match star {
                Some((sj, si)) => {
                    j = sj + 1;
                    i = si + 1;
                    star = Some((sj, si + 1));
                }
                None => return false,
            },
        }
    }
    toks[j..].iter().all(|t| matches!(t, Tok::Any))
}

/// Zero of a numeric value's type.
pub fn zero_like(v: &Value) -> Value {
    match v {
        Value::Int(_) => Value::Int(0),
        Value::BigInt(_) => Value::BigInt(0),
        Value::Double(_) => Value::Double(F64(0.0)),
        Value::Decimal(_, s) => Value::Decimal(0, *s),
        _ => Value::Null,
    }
}

pub fn abs(v: &Value) -> Result<Value, EvalError> {
    if compare(v, &zero_like(v)) == Some(Ordering::Less) {
        negate(v)
    } else {
        Ok(v.clone())
    }
}

/// CEIL, FLOOR and ROUND (half away from zero, to `digits` places).
pub fn round(v: &Value, ceil: bool, floor: bool, digits: i64) -> Result<Value, EvalError> {
    let f = |x: f64| {
        if ceil {
            x.ceil()
        } else if floor {
            x.floor()
        } else {
            let m = 10f64.powi(digits as i32);
            (x * m).round() / m
        }
    };
    Ok(match v {
        // Negative digits round left of the point: ROUND(1250, -2) is 1300.
        Value::Int(i) if digits < 0 && !ceil && !floor => {
            Value::Int(round_int(*i as i64, digits, 9) as i32)
        }
        Value::BigInt(i) if digits < 0 && !ceil && !floor => {
            Value::BigInt(round_int(*i, digits, 18))
        }
        Value::Int(_) | Value::BigInt(_) => v.clone(),
        Value::Double(d) if !ceil && !floor && digits == 0 => Value::BigInt(d.0.round() as i64),
        Value::Double(d) => Value::Double(F64(f(d.0))),
        Value::Decimal(u, s) => {
            let keep = if ceil || floor {
                0
            } else {
                digits.min(*s as i64)
            };
            let drop = (*s as i64 - keep).min(38) as u32;
            let div = 10i128.pow(drop);
            let (q, r) = (u / div, u % div);
            // Truncation went toward zero; step away from it where the
            // rounding mode says so (half away from zero for ROUND).
            let up = if ceil {
                r > 0
            } else {
                !floor && r > 0 && r * 2 >= div
            };
            let down = if floor {
                r < 0
            } else {
                !ceil && r < 0 && -r * 2 >= div
            };
            let q = q + up as i128 - down as i128;
            Value::Decimal(q * div, *s)
        }
        _ => Value::Null,
    })
}

/// `x` rounded half away from zero to a multiple of 10^-digits (digits < 0).
fn round_int(x: i64, digits: i64, max: i64) -> i64 {
    let m = 10i64.pow((-digits).min(max) as u32);
    let (q, r) = (x / m, x % m);
    (q + (r * 2 >= m) as i64 - (-r * 2 >= m) as i64) * m
}

pub fn negate(v: &Value) -> Result<Value, EvalError> {
    Ok(match v {
        Value::Int(i) => Value::Int(i.checked_neg().ok_or(EvalError::Overflow("negation"))?),
        Value::BigInt(i) => Value::BigInt(i.checked_neg().ok_or(EvalError::Overflow("negation"))?),
        Value::Double(d) => Value::Double(F64(-d.0)),
        Value::Decimal(u, s) => Value::Decimal(-u, *s),
        _ => Value::Null,
    })
}

fn rescale(u: i128, from: u8, to: u8) -> Option<i128> {
    u.checked_mul(10i128.checked_pow((to - from) as u32)?)
}

/// SQL ordering of two non-null values of one type.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    Some(match (a, b) {
        (Value::Decimal(x, sx), Value::Decimal(y, sy)) => {
            let s = (*sx).max(*sy);
            rescale(*x, *sx, s)?.cmp(&rescale(*y, *sy, s)?)
        }
        (Value::Double(x), Value::Double(y)) => x.0.partial_cmp(&y.0)?,
        _ if std::mem::discriminant(a) == std::mem::discriminant(b) => a.cmp(b),
        _ => return None,
    })
}

/// Applies a non-logical binary function to two non-null values.
pub fn binary(f: BinaryFunc, l: &Value, r: &Value) -> Result<Value, EvalError> {
    use BinaryFunc::*;
    let cmp = |want: fn(Ordering) -> bool| {
        compare(l, r)
            .map(want)
            .map(Value::Boolean)
            .unwrap_or(Value::Null)
    };
    Ok(match f {
        Eq => cmp(|o| o == Ordering::Equal),
        NotEq => cmp(|o| o != Ordering::Equal),
        Lt => cmp(|o| o == Ordering::Less),
        LtEq => cmp(|o| o != Ordering::Greater),
        Gt => cmp(|o| o == Ordering::Greater),
        GtEq => cmp(|o| o != Ordering::Less),
        Concat => match (l, r) {
            (Value::String(a), Value::String(b)) => Value::String(format!("{a}{b}")),
            _ => Value::Null,
        },
        Add | Sub | Mul | Div | Mod => arithmetic(f, l, r)?,
        And | Or | IsDistinct => unreachable!("handled before NULL propagation"),
    })
}

fn arithmetic(f: BinaryFunc, l: &Value, r: &Value) -> Result<Value, EvalError> {
    use BinaryFunc::*;
    macro_rules! int {
        ($a:expr, $b:expr, $wrap:expr) => {
            match f {
                Add => $a.checked_add($b).ok_or(EvalError::Overflow("+"))?,
                Sub => $a.checked_sub($b).ok_or(EvalError::Overflow("-"))?,
                Mul => $a.checked_mul($b).ok_or(EvalError::Overflow("*"))?,
                Div => {
                    if $b == 0 {
                        return Err(EvalError::DivisionByZero);
                    }
                    $a.checked_div($b).ok_or(EvalError::Overflow("/"))?
                }
                Mod => {
                    if $b == 0 {
                        return Err(EvalError::DivisionByZero);
                    }
                    $a.checked_rem($b).ok_or(EvalError::Overflow("%"))?
                }
                _ => unreachable!(),
            }
        };
    }
    Ok(match (l, r) {
        (Value::Int(a), Value::Int(b)) => Value::Int(int!(*a, *b, Value::Int)),
        (Value::BigInt(a), Value::BigInt(b)) => Value::BigInt(int!(*a, *b, Value::BigInt)),
        (Value::Double(a), Value::Double(b)) => Value::Double(F64(match f {
            Add => a.0 + b.0,
            Sub => a.0 - b.0,
            Mul => a.0 * b.0,
            Div => a.0 / b.0,
            Mod => a.0 % b.0,
            _ => unreachable!(),
        })),
        (Value::Decimal(a, sa), Value::Decimal(b, sb)) => {
            let overflow = EvalError::Overflow("DECIMAL arithmetic");
            match f {
                Add | Sub => {
                    let s = (*sa).max(*sb);
                    let (a, b) = (
                        rescale(*a, *sa, s).ok_or(overflow.clone())?,
                        rescale(*b, *sb, s).ok_or(overflow.clone())?,
                    );
                    let v = if f == Add {
                        a.checked_add(b)
                    } else {
                        a.checked_sub(b)
                    };
                    Value::Decimal(v.ok_or(overflow)?, s)
                }
                Mul => Value::Decimal(a.checked_mul(*b).ok_or(overflow)?, sa + sb),
                _ => {
                    return Err(EvalError::Internal(
                        "DECIMAL division is not supported yet".into(),
                    ))
                }
            }
        }
        _ => Value::Null,
    })
}

/// Whether CAST(from AS to) is allowed.
pub fn can_cast(from: &SqlType, to: &SqlType) -> bool {
    use SqlType::*;
    match (from, to) {
        (Array(a), Array(b)) => return can_cast(a, b),
        (Map(k1, v1), Map(k2, v2)) => return can_cast(k1, k2) && can_cast(v1, v2),
        // Field by field, by name; a field the source lacks is NULL (the
        // binder lowers the cast to a STRUCT constructor).
        (Struct(a), Struct(b)) => {
            return b.iter().all(|(name, t)| {
                a.iter()
                    .find(|(n, _)| n == name)
                    .is_none_or(|(_, f)| can_cast(f, t))
            })
        }
        (Array(_) | Map(..) | Struct(_), String) => return true,
        _ => {}
    }
    from == to
        || matches!(
            (from, to),
            (
                Int | BigInt | Double | Decimal { .. },
                Int | BigInt | Double | Decimal { .. } | String
            ) | (
                String,
                Int | BigInt | Double | Decimal { .. } | Boolean | String
            ) | (Boolean, String)
                | (Date | Time | Timestamp, String)
                | (String, Date | Time | Timestamp)
        )
}

fn decimal_to_string(u: i128, scale: u8) -> String {
    if scale == 0 {
        return u.to_string();
    }
    let neg = u < 0;
    let digits = u.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = if digits.len() <= scale {
        format!("{}{}", "0".repeat(scale + 1 - digits.len()), digits)
    } else {
        digits
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{}{int}.{frac}", if neg { "-" } else { "" })
}

/// Converts a value to another type with ksqlDB's CAST rules.
pub fn cast(v: &Value, to: &SqlType) -> Result<Value, EvalError> {
    let bad = || EvalError::InvalidCast {
        value: format!("{v:?}"),
        to: to.to_string(),
    };
    let as_f64 = |v: &Value| -> Option<f64> {
        Some(match v {
            Value::Int(i) => *i as f64,
            Value::BigInt(i) => *i as f64,
            Value::Double(d) => d.0,
            Value::Decimal(u, s) => *u as f64 / 10f64.powi(*s as i32),
            _ => return None,
        })
    };
    Ok(match (v, to) {
        (Value::Null, _) => Value::Null,
        (Value::Int(i), SqlType::BigInt) => Value::BigInt(*i as i64),
        (Value::Int(i), SqlType::Int) => Value::Int(*i),
        (Value::BigInt(i), SqlType::BigInt) => Value::BigInt(*i),
        // As Java's `longValue().intValue()`, which ksqlDB's cast is: the
        // low 32 bits.
        (Value::BigInt(i), SqlType::Int) => Value::Int(*i as i32),
        (Value::Array(items), SqlType::Array(t)) => {
            Value::Array(items.iter().map(|x| cast(x, t)).collect::<Result<_, _>>()?)
        }
        (Value::Map(entries), SqlType::Map(kt, vt)) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((cast(k, kt)?, cast(v, vt)?)))
                .collect::<Result<_, EvalError>>()?,
        ),
        (Value::Double(d), SqlType::Int) => Value::Int(d.0.trunc() as i32),
        (Value::Double(d), SqlType::BigInt) => Value::BigInt(d.0.trunc() as i64),
        (Value::Decimal(u, s), SqlType::Int | SqlType::BigInt) => {
            let whole = u / 10i128.pow(*s as u32);
            if *to == SqlType::Int {
                Value::Int(i32::try_from(whole).map_err(|_| bad())?)
            } else {
                Value::BigInt(i64::try_from(whole).map_err(|_| bad())?)
            }
        }
        (
            Value::Int(_) | Value::BigInt(_) | Value::Double(_) | Value::Decimal(..),
            SqlType::Double,
        ) => Value::Double(F64(as_f64(v).ok_or_else(bad)?)),
        (Value::Int(_) | Value::BigInt(_), SqlType::Decimal { scale, .. }) => {
            let i = match v {
                Value::Int(i) => *i as i128,
                Value::BigInt(i) => *i as i128,
                _ => unreachable!(),
            };
            Value::Decimal(rescale(i, 0, *scale).ok_or_else(bad)?, *scale)
        }
        (Value::Decimal(u, s), SqlType::Decimal { scale, .. }) => {
            if scale >= s {
                Value::Decimal(rescale(*u, *s, *scale).ok_or_else(bad)?, *scale)
            } else {
                // Round half up, as Java's BigDecimal HALF_UP.
                let div = 10i128.pow((s - scale) as u32);
                let q = u / div;
                let rem = (u % div).abs();
                let q = if rem * 2 >= div { q + u.signum() } else { q };
                Value::Decimal(q, *scale)
            }
        }
        (Value::Double(d), SqlType::Decimal { scale, .. }) => {
            Value::Decimal((d.0 * 10f64.powi(*scale as i32)).round() as i128, *scale)
        }
        (Value::String(s), SqlType::String) => Value::String(s.clone()),
        (Value::String(s), SqlType::Int) => Value::Int(s.trim().parse().map_err(|_| bad())?),
        (Value::String(s), SqlType::BigInt) => Value::BigInt(s.trim().parse().map_err(|_| bad())?),
        (Value::String(s), SqlType::Double) => {
            Value::Double(F64(s.trim().parse().map_err(|_| bad())?))
        }
        (Value::String(s), SqlType::Boolean) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" => Value::Boolean(true),
            _ => Value::Boolean(false),
        },
        (Value::String(s), SqlType::Decimal { scale, .. }) => {
            let (u, s) = parse_decimal(s).ok_or_else(bad)?;
            cast(
                &Value::Decimal(u, s),
                &SqlType::Decimal {
                    precision: 38,
                    scale: *scale,
                },
            )?
        }
        (Value::String(s), SqlType::Date) => {
            let (days, rest) = iso_date(s.trim()).ok_or_else(bad)?;
            if !rest.is_empty() {
                return Err(bad());
            }
            Value::Date(i32::try_from(days).map_err(|_| bad())?)
        }
        (Value::String(s), SqlType::Time) => {
            let (ms, rest) = iso_time(s.trim()).ok_or_else(bad)?;
            if !rest.is_empty() {
                return Err(bad());
            }
            Value::Time(ms as i32)
        }
        (Value::String(s), SqlType::Timestamp) => {
            Value::Timestamp(iso_timestamp(s.trim()).ok_or_else(bad)?)
        }
        (_, SqlType::String) => Value::String(java_string(v, None).ok_or_else(bad)?),
        (Value::Boolean(b), SqlType::Boolean) => Value::Boolean(*b),
        _ if value_has_type(v, to) => v.clone(),
        _ => return Err(bad()),
    })
    .and_then(|out| match (&out, to) {
        // More digits than the precision: ksqlDB's numeric overflow.
        (Value::Decimal(u, _), SqlType::Decimal { precision, .. })
            if u.unsigned_abs() >= 10u128.pow(*precision as u32) =>
        {
            Err(bad())
        }
        _ => Ok(out),
    })
}

/// Text read as Java's `BigDecimal` reads it (`'12.50'`, `'-3'`, `'2e1'`):
/// unscaled digits and scale, with any exponent applied.
pub fn parse_decimal(s: &str) -> Option<(i128, u8)> {
    let s = s.trim();
    let (mantissa, exp) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let unsigned = int.trim_start_matches(['-', '+']);
    if unsigned.len() + frac.len() == 0
        || !unsigned
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut u: i128 = format!("{int}{frac}").parse().ok()?;
    let mut scale = frac.len() as i32 - exp;
    while scale < 0 {
        u = u.checked_mul(10)?;
        scale += 1;
    }
    u8::try_from(scale)
        .ok()
        .filter(|s| *s <= 38)
        .map(|s| (u, s))
}

/// `yyyy-MM-dd` at the start of `s`: days since the epoch, and the rest.
fn iso_date(s: &str) -> Option<(i64, &str)> {
    let num = |t: &str| -> Option<i64> {
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, m, d) = (num(s.get(0..4)?)?, num(s.get(5..7)?)?, num(s.get(8..10)?)?);
    if s.get(4..5)? != "-" || s.get(7..8)? != "-" {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32)?;
    Some((days_since_epoch(date), &s[10..]))
}

/// `HH:mm[:ss[.SSS]]` at the start of `s`: ms since midnight, and the rest.
fn iso_time(s: &str) -> Option<(i64, &str)> {
    let two = |t: Option<&str>| -> Option<i64> {
        let t = t?;
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (h, m) = (two(s.get(0..2))?, two(s.get(3..5))?);
    if s.get(2..3)? != ":" || h > 23 || m > 59 {
        return None;
    }
    let mut ms = (h * 60 + m) * 60_000;
    let mut rest = &s[5..];
    if let Some(after) = rest.strip_prefix(':') {
        let sec = two(after.get(0..2))?;
        ms += sec * 1000;
        rest = &after[2..];
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            let text = &frac[..digits];
            // Milliseconds: the first three digits, padded.
            let millis: i64 = format!("{:0<3}", &text[..digits.min(3)]).parse().ok()?;
            ms += millis;
            rest = &frac[digits..];
        }
    }
    Some((ms, rest))
}

/// An ISO-8601 timestamp, as ksqlDB's CAST reads one: `yyyy-MM-dd`, then
/// optionally `THH:mm[:ss[.SSS]]`, then optionally `Z` or an offset
/// `±HH:mm`; without an offset it is UTC.
fn iso_timestamp(s: &str) -> Option<i64> {
    let (days, rest) = iso_date(s)?;
    let (ms, rest) = match rest.strip_prefix('T') {
        Some(t) => iso_time(t)?,
        None => (0, rest),
    };
    let offset = match rest {
        "" | "Z" => 0,
        _ => {
            let sign = match rest.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let (o, tail) = iso_time(&rest[1..])?;
            if !tail.is_empty() {
                return None;
            }
            sign * o
        }
    };
    Some(days * 86_400_000 + ms - offset)
}

/// A value's text as ksqlDB's cast to STRING gives it: Java's `toString`
/// (`[1, 3]` for a list, `{k=1}` for a map, Kafka Connect's `Struct{A=1}`
/// for a struct, leaving out NULL fields). A struct's field names live in
/// its type, so without `ty` a struct has no text here (`None`).
pub(crate) fn java_string(v: &Value, ty: Option<&SqlType>) -> Option<String> {
    Some(match v {
        Value::Null => "null".into(),
        Value::String(s) => s.clone(),
        Value::Boolean(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::BigInt(i) => i.to_string(),
        Value::Double(d) => format!("{:?}", d.0),
        Value::Decimal(u, s) => decimal_to_string(*u, *s),
        Value::Date(d) => crate::functions::datetime::date_of(*d as i64)
            .ok()?
            .format("%Y-%m-%d")
            .to_string(),
        // As Java's LocalTime.toString: seconds and milliseconds only when set.
        Value::Time(ms) => {
            let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
            match (s, milli) {
                (0, 0) => format!("{h:02}:{m:02}"),
                (_, 0) => format!("{h:02}:{m:02}:{s:02}"),
                _ => format!("{h:02}:{m:02}:{s:02}.{milli:03}"),
            }
        }
        Value::Timestamp(ms) => chrono::DateTime::from_timestamp_millis(*ms)?
            .format("%Y-%m-%dT%H:%M:%S%.3f")
            .to_string(),
        Value::Array(items) => {
            let elem = match ty {
                Some(SqlType::Array(e)) => Some(&**e),
                _ => None,
            };
            let items = items.iter().map(|i| java_string(i, elem));
            format!("[{}]", items.collect::<Option<Vec<_>>>()?.join(", "))
        }
        Value::Map(entries) => {
            let (kt, vt) = match ty {
                Some(SqlType::Map(k, v)) => (Some(&**k), Some(&**v)),
                _ => (None, None),
            };
            let entries = entries
                .iter()
                .map(|(k, v)| Some(format!("{}={}", java_string(k, kt)?, java_string(v, vt)?)));
            format!("{{{}}}", entries.collect::<Option<Vec<_>>>()?.join(", "))
        }
        Value::Struct(items) => {
            let Some(SqlType::Struct(fields)) = ty else {
                return None;
            };
            let mut parts = Vec::new();
            for ((name, t), item) in fields.iter().zip(items) {
                if !item.is_null() {
                    parts.push(format!("{name}={}", java_string(item, Some(t))?));
                }
            }
            format!("Struct{{{}}}", parts.join(","))
        }
        Value::Bytes(_) => return None,
    })
}

/// A value of SQL type `ty` as JSON, as the JSON format writes it (a DATE
/// as its days since the epoch, a TIME and a TIMESTAMP as milliseconds).
pub fn to_json(v: &Value, ty: &SqlType) -> Result<serde_json::Value, String> {
    json_of(v, ty, false)
}

/// A value as `TO_JSON_STRING` writes it: as [`to_json`], but DATE, TIME
/// and TIMESTAMP as text, as ksqlDB formats them (`"2021-10-11"`,
/// `"13:25"` or `"13:25:07"`, `"2021-06-30T12:18:39.446"` in UTC).
pub fn to_json_text(v: &Value, ty: &SqlType) -> Result<serde_json::Value, String> {
    json_of(v, ty, true)
}

fn json_of(v: &Value, ty: &SqlType, temporal_text: bool) -> Result<serde_json::Value, String> {
    let to_json = |v: &Value, ty: &SqlType| json_of(v, ty, temporal_text);
    Ok(match (v, ty) {
        (Value::Null, _) => serde_json::Value::Null,
        (Value::Boolean(b), _) => serde_json::Value::Bool(*b),
        (Value::Int(i), _) => serde_json::Value::from(*i),
        // The text CAST gives them (`java_string`), a TIME to the second,
        // as ksqlDB's TO_JSON_STRING formats it.
        (Value::Date(_) | Value::Timestamp(_), _) if temporal_text => serde_json::Value::String(
            java_string(v, None).ok_or_else(|| format!("{v:?} is out of range"))?,
        ),
        (Value::Time(ms), _) if temporal_text => serde_json::Value::String(
            java_string(&Value::Time(ms - ms % 1000), None)
                .ok_or_else(|| format!("{v:?} is out of range"))?,
        ),
        (Value::BigInt(i), _) | (Value::Timestamp(i), _) => serde_json::Value::from(*i),
        (Value::Date(i), _) | (Value::Time(i), _) => serde_json::Value::from(*i),
        (Value::Double(d), _) => serde_json::Number::from_f64(d.0)
            .map(serde_json::Value::Number)
            .ok_or_else(|| format!("{} cannot be written as JSON", d.0))?,
        (Value::Decimal(u, s), _) => {
            let text = match cast(v, &SqlType::String).map_err(|e| e.to_string())? {
                Value::String(t) => t,
                _ => unreachable!(),
            };
            // Keep exact digits where a JSON number can hold them.
            match text.parse::<i64>() {
                Ok(i) if *s == 0 => serde_json::Value::from(i),
                _ => serde_json::Number::from_f64(*u as f64 / 10f64.powi(*s as i32))
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::String(text)),
            }
        }
        (Value::String(s), _) => serde_json::Value::String(s.clone()),
        (Value::Bytes(b), _) => {
            serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        (Value::Array(items), SqlType::Array(elem)) => serde_json::Value::Array(
            items
                .iter()
                .map(|i| to_json(i, elem))
                .collect::<Result<_, _>>()?,
        ),
        (Value::Map(entries), SqlType::Map(k, val)) => {
            let mut obj = serde_json::Map::new();
            for (key, item) in entries {
                let key = match to_json(key, k)? {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                obj.insert(key, to_json(item, val)?);
            }
            serde_json::Value::Object(obj)
        }
        (Value::Struct(items), SqlType::Struct(fields)) => {
            let mut obj = serde_json::Map::new();
            for ((name, t), item) in fields.iter().zip(items) {
                obj.insert(name.clone(), to_json(item, t)?);
            }
            serde_json::Value::Object(obj)
        }
        (v, ty) => return Err(format!("value {v:?} does not have type {ty}")),
    })
}

/// Days from 1970-01-01 to `date`.
pub fn days_since_epoch(date: chrono::NaiveDate) -> i64 {
    date.signed_duration_since(chrono::NaiveDate::default())
        .num_days()
}

fn value_has_type(v: &Value, t: &SqlType) -> bool {
    matches!(
        (v, t),
        (Value::Date(_), SqlType::Date)
            | (Value::Time(_), SqlType::Time)
            | (Value::Timestamp(_), SqlType::Timestamp)
            | (Value::Bytes(_), SqlType::Bytes)
            | (Value::Array(_), SqlType::Array(_))
            | (Value::Map(_), SqlType::Map(..))
            | (Value::Struct(_), SqlType::Struct(_))
    )
}

/// The values a table function gives for `arg`: `EXPLODE` an array's
/// elements, `CUBE_EXPLODE` every copy of the array in which any subset of
/// its non-NULL elements is NULL, in ksqlDB's order (each element first
/// kept, then NULL; a NULL element only kept). NULL gives nothing.
///
/// ```
/// use ddsql_sql::{eval::table_function, plan::TableFunc, types::Value};
/// let a = Value::Array(vec![Value::Int(1), Value::Null, Value::Int(3)]);
/// assert_eq!(table_function(TableFunc::Explode, &a), vec![Value::Int(1), Value::Null, Value::Int(3)]);
/// let cube = table_function(TableFunc::CubeExplode, &a);
/// assert_eq!(cube, [
///     [Value::Int(1), Value::Null, Value::Int(3)],
///     [Value::Int(1), Value::Null, Value::Null],
///     [Value::Null, Value::Null, Value::Int(3)],
///     [Value::Null, Value::Null, Value::Null],
/// ].map(|r| Value::Array(r.to_vec())));
/// assert!(table_function(TableFunc::Explode, &Value::Null).is_empty());
/// ```
pub fn table_function(func: crate::plan::TableFunc, arg: &Value) -> Vec<Value> {
    use crate::plan::TableFunc;
    let Value::Array(items) = arg else {
        return Vec::new();
    };
    match func {
        TableFunc::Explode => items.clone(),
        TableFunc::CubeExplode => {
            let mut rows = vec![Vec::with_capacity(items.len())];
            for item in items {
                let mut next = Vec::with_capacity(rows.len() * 2);
                for row in rows {
                    let mut kept = row.clone();
                    kept.push(item.clone());
                    next.push(kept);
                    if !item.is_null() {
                        let mut nulled = row;
                        nulled.push(Value::Null);
                        next.push(nulled);
                    }
                }
                rows = next;
            }
            rows.into_iter().map(Value::Array).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_strings_cast_to_dates_times_and_timestamps() {
        let cast_to = |s: &str, t: SqlType| cast(&Value::String(s.into()), &t);
        let ts = |s: &str| cast_to(s, SqlType::Timestamp).ok();
        assert_eq!(
            ts("2022-04-28T21:44:47.943"),
            Some(Value::Timestamp(1_651_182_287_943))
        );
        assert_eq!(
            ts("2022-04-28T21:44:47.943Z"),
            ts("2022-04-28T21:44:47.943")
        );
        assert_eq!(
            ts("2022-04-28T23:44:47.943+02:00"),
            ts("2022-04-28T21:44:47.943")
        );
        assert_eq!(ts("1970-01-01"), Some(Value::Timestamp(0)));
        assert_eq!(ts("1969-12-31T23:59:59"), Some(Value::Timestamp(-1000)));
        assert_eq!(ts("2022-13-01"), None);
        assert_eq!(ts("yesterday"), None);
        assert_eq!(
            cast_to("2000-03-01", SqlType::Date).ok(),
            Some(Value::Date(11_017))
        );
        assert_eq!(
            cast_to("01:02:03.5", SqlType::Time).ok(),
            Some(Value::Time(3_723_500))
        );
    }

    #[test]
    fn three_valued_logic() {
        let t = ScalarExpr::Literal(Value::Boolean(true));
        let f = ScalarExpr::Literal(Value::Boolean(false));
        let n = ScalarExpr::Literal(Value::Null);
        let and = |a: &ScalarExpr, b: &ScalarExpr| {
            eval(
                &ScalarExpr::Binary(BinaryFunc::And, Box::new(a.clone()), Box::new(b.clone())),
                &[],
            )
            .unwrap()
        };
        let or = |a: &ScalarExpr, b: &ScalarExpr| {
            eval(
                &ScalarExpr::Binary(BinaryFunc::Or, Box::new(a.clone()), Box::new(b.clone())),
                &[],
            )
            .unwrap()
        };
        assert_eq!(and(&n, &f), Value::Boolean(false));
        assert_eq!(and(&n, &t), Value::Null);
        assert_eq!(or(&n, &t), Value::Boolean(true));
        assert_eq!(or(&n, &f), Value::Null);
    }

    #[test]
    fn collections_cast_element_by_element_and_print_as_java_does() {
        let longs = Value::Array(vec![Value::BigInt(1), Value::BigInt(2_147_483_648)]);
        assert_eq!(
            cast(&longs, &SqlType::Array(Box::new(SqlType::Int))).unwrap(),
            Value::Array(vec![Value::Int(1), Value::Int(i32::MIN)])
        );
        assert_eq!(
            cast(&longs, &SqlType::String).unwrap(),
            Value::String("[1, 2147483648]".into())
        );
        let map = Value::Map(vec![(Value::String("k".into()), Value::Null)]);
        assert_eq!(
            cast(&map, &SqlType::String).unwrap(),
            Value::String("{k=null}".into())
        );
        assert!(can_cast(
            &SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::BigInt)),
            &SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::String))
        ));
        assert!(!can_cast(
            &SqlType::Array(Box::new(SqlType::Boolean)),
            &SqlType::Array(Box::new(SqlType::Int))
        ));
    }

    #[test]
    fn comparisons_with_null_are_false_as_in_ksqldb() {
        let col = |i| Box::new(ScalarExpr::Column(i));
        let row = [Value::Null, Value::Int(1)];
        for f in [
            BinaryFunc::Eq,
            BinaryFunc::NotEq,
            BinaryFunc::Lt,
            BinaryFunc::GtEq,
        ] {
            let e = ScalarExpr::Binary(f, col(0), col(1));
            assert_eq!(eval(&e, &row).unwrap(), Value::Boolean(false), "{f:?}");
        }
        // Arithmetic still propagates NULL; IS DISTINCT FROM sees it.
        let add = ScalarExpr::Binary(BinaryFunc::Add, col(0), col(1));
        assert_eq!(eval(&add, &row).unwrap(), Value::Null);
        let distinct = ScalarExpr::Binary(BinaryFunc::IsDistinct, col(0), col(1));
        assert_eq!(eval(&distinct, &row).unwrap(), Value::Boolean(true));
    }

    #[test]
    fn casts_follow_ksqldb() {
        assert_eq!(
            cast(&Value::String("12".into()), &SqlType::BigInt).unwrap(),
            Value::BigInt(12)
        );
        assert!(cast(&Value::String("x".into()), &SqlType::BigInt).is_err());
        // A DECIMAL holds at most its precision's digits.
        let d21 = SqlType::Decimal {
            precision: 2,
            scale: 1,
        };
        assert_eq!(cast(&Value::Int(9), &d21).unwrap(), Value::Decimal(90, 1));
        assert!(cast(&Value::Int(10), &d21).is_err());
        assert!(cast(&Value::Int(-10), &d21).is_err());
        // In a projection a failed cast is NULL, its error beside it.
        let e = ScalarExpr::Cast(Box::new(ScalarExpr::Column(0)), d21);
        let (value, failed) = eval_lenient(&e, &[Value::Int(10)]);
        assert_eq!((value.unwrap(), failed.len()), (Value::Null, 1));
        assert_eq!(
            cast(
                &Value::Decimal(125, 2),
                &SqlType::Decimal {
                    precision: 3,
                    scale: 1
                }
            )
            .unwrap(),
            Value::Decimal(13, 1)
        );
        assert_eq!(
            cast(&Value::Decimal(-5, 2), &SqlType::String).unwrap(),
            Value::String("-0.05".into())
        );
        assert_eq!(
            cast(&Value::String("true".into()), &SqlType::Boolean).unwrap(),
            Value::Boolean(true)
        );
    }

    #[test]
    fn errors_are_values() {
        let div = ScalarExpr::Binary(
            BinaryFunc::Div,
            Box::new(ScalarExpr::Column(0)),
            Box::new(ScalarExpr::Literal(Value::Int(0))),
        );
        assert_eq!(eval(&div, &[Value::Int(1)]), Err(EvalError::DivisionByZero));
        let add = ScalarExpr::Binary(
            BinaryFunc::Add,
            Box::new(ScalarExpr::Column(0)),
            Box::new(ScalarExpr::Literal(Value::Int(1))),
        );
        assert_eq!(
            eval(&add, &[Value::Int(i32::MAX)]),
            Err(EvalError::Overflow("+"))
        );
        // A failed call is NULL where it stands; strictly, it is the first
        // error even when a later one ends the evaluation.
        let bad_call = ScalarExpr::Call(
            crate::functions::ScalarFunc::ParseDate,
            vec![
                ScalarExpr::Literal(Value::String("x".into())),
                ScalarExpr::Literal(Value::String("yyyy".into())),
            ],
        );
        let (v, failed) = eval_lenient(&bad_call, &[]);
        assert_eq!(v, Ok(Value::Null));
        assert!(
            matches!(&failed[..], [EvalError::InvalidArgument(m)] if m.starts_with("PARSE_DATE")),
            "{failed:?}"
        );
        let both = ScalarExpr::MakeArray(vec![bad_call, div]);
        let first = eval(&both, &[Value::Int(1)]);
        assert!(
            matches!(&first, Err(EvalError::InvalidArgument(m)) if m.starts_with("PARSE_DATE")),
            "{first:?}"
        );
        assert_eq!(
            eval_lenient(&both, &[Value::Int(1)]).0,
            Err(EvalError::DivisionByZero)
        );
    }

    #[test]
    fn rounding() {
        let d = |u, s| Value::Decimal(u, s);
        assert_eq!(round(&d(125, 2), false, false, 1).unwrap(), d(130, 2));
        assert_eq!(round(&d(-125, 2), false, false, 1).unwrap(), d(-130, 2));
        assert_eq!(round(&d(-121, 2), true, false, 0).unwrap(), d(-100, 2));
        assert_eq!(round(&d(-121, 2), false, true, 0).unwrap(), d(-200, 2));
        assert_eq!(
            round(&Value::Double(F64(2.5)), false, false, 0).unwrap(),
            Value::BigInt(3)
        );
        assert_eq!(
            round(&Value::Double(F64(-2.5)), true, false, 0).unwrap(),
            Value::Double(F64(-2.0))
        );
    }

    #[test]
    fn like_patterns() {
        assert!(like("hello", "h%o", None));
        assert!(like("hello", "_ello", None));
        assert!(!like("hello", "h_o", None));
        assert!(like("50%", "50!%", Some('!')));
        assert!(!like("500", "50!%", Some('!')));
        assert!(like("", "%", None));
        assert!(like("abcabc", "%abc", None));
    }

    #[test]
    fn array_subscripts_are_one_based() {
        let arr = Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)]);
        let at = |i: i32| {
            eval(
                &ScalarExpr::Subscript(
                    Box::new(ScalarExpr::Column(0)),
                    Box::new(ScalarExpr::Literal(Value::Int(i))),
                ),
                std::slice::from_ref(&arr),
            )
            .unwrap()
        };
        assert_eq!(at(1), Value::Int(1));
        assert_eq!(at(-1), Value::Int(3));
        assert_eq!(at(0), Value::Null);
        assert_eq!(at(4), Value::Null);
    }
}
