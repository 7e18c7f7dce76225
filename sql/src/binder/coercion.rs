//! Implicit type coercion, as ksqlDB's type-coercion page states it
//! (`../shared/reference/ksqldb-docs/type-coercion.md`): which type two
//! types meet at (`coerced_type`: numbers widen, arrays, maps and structs
//! element by element), how both operands of a comparison, IN, BETWEEN or
//! CASE are brought there (`unify`, with `cast_to` and `cast_struct`), and
//! how a STRING literal is read as another type (`coerce_literal`).
//!
//! `i > 1.5` with `i` an INT: `coerced_type(INT, DECIMAL(2, 1))` is
//! DECIMAL(11, 1), ten digits before the point for the INT, and both sides
//! are cast to it; `i = '10'` reads the literal as the INT 10 first.

use super::*;

pub(super) fn numeric_rank(t: &SqlType) -> Option<u8> {
    match t {
        SqlType::Int => Some(1),
        SqlType::BigInt => Some(2),
        SqlType::Decimal { .. } => Some(3),
        SqlType::Double => Some(4),
        _ => None,
    }
}

/// Whether a type is or contains a STRUCT.
pub(super) fn holds_struct(ty: &SqlType) -> bool {
    match ty {
        SqlType::Struct(_) => true,
        SqlType::Array(e) => holds_struct(e),
        SqlType::Map(k, v) => holds_struct(k) || holds_struct(v),
        _ => false,
    }
}

/// `CAST(t AS ty)`; a STRUCT to another STRUCT becomes the target's
/// constructor over the source's fields of the same names (a NULL struct
/// stays NULL), since a struct value does not carry its field names.
pub(super) fn cast_struct(t: Typed, ty: &SqlType) -> ScalarExpr {
    match (&t.ty, ty) {
        (Some(SqlType::Struct(from)), SqlType::Struct(to)) if from != to => {
            let fields = to
                .iter()
                .map(
                    |(name, want)| match from.iter().position(|(n, _)| n == name) {
                        Some(i) => cast_struct(
                            typed(
                                ScalarExpr::Field(Box::new(t.expr.clone()), i),
                                from[i].1.clone(),
                            ),
                            want,
                        ),
                        None => ScalarExpr::Literal(Value::Null),
                    },
                )
                .collect();
            ScalarExpr::Case {
                whens: vec![(
                    ScalarExpr::Unary(UnaryFunc::IsNull, Box::new(t.expr)),
                    ScalarExpr::Literal(Value::Null),
                )],
                else_: Box::new(ScalarExpr::MakeStruct(fields)),
            }
        }
        _ => cast_to(t, ty),
    }
}

pub(super) fn cast_to(t: Typed, ty: &SqlType) -> ScalarExpr {
    match (&t.ty, &t.expr) {
        (Some(have), _) if have == ty => t.expr,
        // A NULL needs no conversion.
        (None, _) => t.expr,
        (_, ScalarExpr::Literal(v)) => match eval::cast(v, ty) {
            Ok(v) => ScalarExpr::Literal(v),
            Err(_) => ScalarExpr::Cast(Box::new(t.expr), ty.clone()),
        },
        _ => ScalarExpr::Cast(Box::new(t.expr), ty.clone()),
    }
}

/// Brings two operands to a common type, as ksqlDB's implicit widening
/// does (INT < BIGINT < DECIMAL < DOUBLE).
pub(super) fn unify(
    a: Typed,
    b: Typed,
    pos: Pos,
    what: &str,
) -> Result<(ScalarExpr, ScalarExpr, Option<SqlType>)> {
    match (&a.ty, &b.ty) {
        (None, None) => Ok((a.expr, b.expr, None)),
        (Some(t), None) | (None, Some(t)) => {
            let t = t.clone();
            Ok((a.expr, b.expr, Some(t)))
        }
        (Some(x), Some(y)) if x == y => {
            let t = x.clone();
            Ok((a.expr, b.expr, Some(t)))
        }
        // Two DECIMALs keep their own scales: comparison and arithmetic
        // rescale exactly, where a cast to one side's scale would round.
        (
            Some(SqlType::Decimal {
                precision: p1,
                scale: s1,
            }),
            Some(SqlType::Decimal {
                precision: p2,
                scale: s2,
            }),
        ) => {
            let t = SqlType::Decimal {
                precision: (*p1).max(*p2),
                scale: (*s1).max(*s2),
            };
            Ok((a.expr, b.expr, Some(t)))
        }
        (Some(x), Some(y)) => match (numeric_rank(x), numeric_rank(y)) {
            (Some(_), Some(_)) => {
                // INT and BIGINT widen to a DECIMAL operand's scale, with
                // the digits they need (10 and 19) before the point: `i =
                // 1.5` must not overflow DECIMAL(2, 1) for i = 10.
                let target = coerced_type(x, y).expect("two numbers have a common type");
                Ok((cast_to(a, &target), cast_to(b, &target), Some(target)))
            }
            // Arrays, maps and structs widen element by element (the type
            // coercion page's general rules).
            // (A struct value carries no field names: structs convert
            // through their constructor, `cast_struct`; an array or map of
            // structs has no such conversion yet.)
            _ if matches!(x, SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_))
                && coerced_type(x, y)
                    .is_some_and(|t| matches!(t, SqlType::Struct(_)) || !holds_struct(&t)) =>
            {
                let t = coerced_type(x, y).expect("checked");
                Ok((cast_struct(a, &t), cast_struct(b, &t), Some(t)))
            }
            // A STRING literal coerces to the other side's type (the type
            // coercion page's literal rules).
            _ if string_literal(&a.expr).is_some() && *y != SqlType::String => {
                let a = coerce_literal(string_literal(&a.expr).unwrap(), y, pos)?;
                unify(a, b, pos, what)
            }
            _ if string_literal(&b.expr).is_some() && *x != SqlType::String => {
                let b = coerce_literal(string_literal(&b.expr).unwrap(), x, pos)?;
                unify(a, b, pos, what)
            }
            _ => Err(SqlError::new(pos, format!("cannot {what} {x} and {y}"))),
        },
    }
}

/// The type both `x` and `y` coerce to, by ksqlDB's general rules: the
/// wider number; arrays and maps of the common element, key and value
/// types; structs with every field of either, the common type where both
/// have one. `None` if there is none.
pub(super) fn coerced_type(x: &SqlType, y: &SqlType) -> Option<SqlType> {
    use SqlType::*;
    if x == y {
        return Some(x.clone());
    }
    Some(match (x, y) {
        (Array(a), Array(b)) => Array(Box::new(coerced_type(a, b)?)),
        (Map(k1, v1), Map(k2, v2)) => Map(
            Box::new(coerced_type(k1, k2)?),
            Box::new(coerced_type(v1, v2)?),
        ),
        (Struct(f1), Struct(f2)) => {
            let mut out = Vec::new();
            for (name, t) in f1 {
                match f2.iter().find(|(n, _)| n == name) {
                    Some((_, u)) => out.push((name.clone(), coerced_type(t, u)?)),
                    None => out.push((name.clone(), t.clone())),
                }
            }
            out.extend(
                f2.iter()
                    .filter(|(n, _)| !f1.iter().any(|(m, _)| m == n))
                    .cloned(),
            );
            Struct(out)
        }
        _ => match (numeric_rank(x), numeric_rank(y)) {
            (Some(rx), Some(ry)) => {
                let (wide, narrow) = if rx >= ry { (x, y) } else { (y, x) };
                match (wide, narrow) {
                    (Decimal { precision, scale }, Int | BigInt) => {
                        let digits = if *narrow == Int { 10 } else { 19 };
                        Decimal {
                            precision: ((*precision - *scale).max(digits) + *scale).min(38),
                            scale: *scale,
                        }
                    }
                    (
                        Decimal {
                            precision: p1,
                            scale: s1,
                        },
                        Decimal {
                            precision: p2,
                            scale: s2,
                        },
                    ) => {
                        let scale = (*s1).max(*s2);
                        Decimal {
                            precision: ((*p1 - *s1).max(*p2 - *s2) + scale).min(38),
                            scale,
                        }
                    }
                    _ => wide.clone(),
                }
            }
            _ => return None,
        },
    })
}

fn string_literal(e: &ScalarExpr) -> Option<&str> {
    match e {
        ScalarExpr::Literal(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// A STRING literal read as a value of (or, for numbers, wide enough for)
/// `ty`, by the literal rules of ksqlDB's type coercion page: a number to a
/// numeric type that holds it, `true`/`false`/`yes`/`no` or a prefix of one
/// (any case) to BOOLEAN, an ISO-8601 text to DATE, TIME or TIMESTAMP.
fn coerce_literal(text: &str, ty: &SqlType, pos: Pos) -> Result<Typed> {
    let fail = || {
        SqlError::new(
            pos,
            format!("cannot coerce the STRING literal '{text}' to {ty}: it is not a {ty} value"),
        )
    };
    let t = text.trim();
    match ty {
        t_ if t_.is_numeric() => {
            let ok = !t.is_empty()
                && t.trim_start_matches(['-', '+'])
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
                && t.parse::<f64>().is_ok();
            if !ok {
                return Err(fail());
            }
            literal_value(&Literal::Number(t.trim_start_matches('+').to_string()), pos)
        }
        SqlType::Boolean => {
            let l = t.to_ascii_lowercase();
            let is = |word: &str| !l.is_empty() && word.starts_with(&l);
            match (is("true") || is("yes"), is("false") || is("no")) {
                (true, false) => Ok(typed(
                    ScalarExpr::Literal(Value::Boolean(true)),
                    SqlType::Boolean,
                )),
                (false, true) => Ok(typed(
                    ScalarExpr::Literal(Value::Boolean(false)),
                    SqlType::Boolean,
                )),
                _ => Err(fail()),
            }
        }
        SqlType::Date | SqlType::Time | SqlType::Timestamp => {
            match eval::cast(&Value::String(t.to_string()), ty) {
                Ok(v) if !v.is_null() => Ok(typed(ScalarExpr::Literal(v), ty.clone())),
                _ => Err(fail()),
            }
        }
        _ => Err(fail()),
    }
}
