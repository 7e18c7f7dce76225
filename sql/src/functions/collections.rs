//! The array and map functions that build new collections.
//!
//! Set-like functions (ARRAY_DISTINCT, ARRAY_UNION, ...) keep the order in
//! which elements first appear, as ksqlDB's do, and treat NULL as a value.

use std::cmp::Ordering;

use super::ScalarFunc as F;
use crate::eval::{self, EvalError};
use crate::types::Value;

fn array(v: &Value) -> Option<&[Value]> {
    match v {
        Value::Array(a) => Some(a),
        _ => None,
    }
}

fn distinct(items: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in items {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

pub(super) fn eval(func: F, args: &[Value]) -> Result<Value, EvalError> {
    let a = array(&args[0]);
    let b = args.get(1).and_then(array);
    Ok(match func {
        F::ArrayConcat => match (a, b) {
            (None, None) => Value::Null,
            (a, b) => Value::Array(
                a.unwrap_or_default()
                    .iter()
                    .chain(b.unwrap_or_default())
                    .cloned()
                    .collect(),
            ),
        },
        F::ArrayDistinct => match a {
            Some(a) => Value::Array(distinct(a.iter().cloned())),
            None => Value::Null,
        },
        F::ArrayExcept | F::ArrayIntersect | F::ArrayUnion => {
            let (Some(a), Some(b)) = (a, b) else {
                return Ok(Value::Null);
            };
            Value::Array(match func {
                F::ArrayExcept => distinct(a.iter().filter(|v| !b.contains(v)).cloned()),
                F::ArrayIntersect => distinct(a.iter().filter(|v| b.contains(v)).cloned()),
                _ => distinct(a.iter().chain(b).cloned()),
            })
        }
        F::ArrayRemove => match a {
            Some(a) => Value::Array(a.iter().filter(|v| **v != args[1]).cloned().collect()),
            None => Value::Null,
        },
        F::ArraySort => {
            let Some(a) = a else {
                return Ok(Value::Null);
            };
            let descending = match args.get(1) {
                None => false,
                Some(Value::String(d)) if d.eq_ignore_ascii_case("ASC") => false,
                Some(Value::String(d)) if d.eq_ignore_ascii_case("DESC") => true,
                Some(other) => {
                    return Err(EvalError::InvalidArgument(format!(
                        "ARRAY_SORT: the direction must be 'ASC' or 'DESC', not {other:?}"
                    )))
                }
            };
            // NULLs go last either way.
            let (mut items, nulls): (Vec<Value>, Vec<Value>) =
                a.iter().cloned().partition(|v| !v.is_null());
            items.sort_by(|x, y| eval::compare(x, y).unwrap_or(Ordering::Equal));
            if descending {
                items.reverse();
            }
            items.extend(nulls);
            Value::Array(items)
        }
        F::Slice => {
            let Some(a) = a else {
                return Ok(Value::Null);
            };
            let bound = |v: &Value| match v {
                Value::Int(i) => Some(*i as i64),
                _ => None,
            };
            let len = a.len() as i64;
            let from = bound(&args[1]).unwrap_or(1).max(1);
            let to = bound(&args[2]).unwrap_or(len).min(len);
            if from > to {
                Value::Array(vec![])
            } else {
                Value::Array(a[(from - 1) as usize..to as usize].to_vec())
            }
        }
        F::AsMap => {
            let (Some(keys), Some(values)) = (a, b) else {
                return Ok(Value::Null);
            };
            let mut map: Vec<(Value, Value)> = Vec::new();
            for (k, v) in keys.iter().zip(values) {
                if k.is_null() {
                    continue;
                }
                map.retain(|(old, _)| old != k);
                map.push((k.clone(), v.clone()));
            }
            Value::Map(map)
        }
        F::MapUnion => {
            let maps: Vec<&Vec<(Value, Value)>> = args
                .iter()
                .filter_map(|m| match m {
                    Value::Map(m) => Some(m),
                    _ => None,
                })
                .collect();
            if maps.is_empty() {
                return Ok(Value::Null);
            }
            let mut out: Vec<(Value, Value)> = Vec::new();
            // A later map's value replaces an earlier one's in its place.
            for (k, v) in maps.into_iter().flatten() {
                match out.iter_mut().find(|(old, _)| old == k) {
                    Some(entry) => entry.1 = v.clone(),
                    None => out.push((k.clone(), v.clone())),
                }
            }
            Value::Map(out)
        }
        other => {
            return Err(EvalError::Internal(format!(
                "{other:?} is not a collection function"
            )))
        }
    })
}
