//! The string, JSON, URL and bytes functions that take and give text.
//!
//! Each takes arguments already of its resolved types (see
//! [`super::resolve`]); a bad argument value is an [`EvalError`], which the
//! engine turns into a NULL and a processing-log entry, as ksqlDB does.

use std::hash::{Hash, Hasher};

use md5::{Digest, Md5};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{int, text, ScalarFunc as F};
use crate::eval::EvalError;
use crate::types::{Value, F64};

fn bad(func: F, msg: impl std::fmt::Display) -> EvalError {
    EvalError::InvalidArgument(format!("{}: {msg}", func.name()))
}

fn json(func: F, s: &str) -> Result<serde_json::Value, EvalError> {
    serde_json::from_str(s).map_err(|e| bad(func, format!("'{s}' is not JSON: {e}")))
}

/// `application/x-www-form-urlencoded` as Java's `URLEncoder` writes it:
/// letters, digits and `.-*_` stay, a space becomes `+`.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'*')
    .remove(b'_');

/// A seed that is the same for the same row: RANDOM() and UUID() hash the
/// row they are evaluated on (ROWPARTITION and ROWOFFSET included), so a
/// retraction and a replay after a restart compute the same value.
fn row_hash(args: &[Value], salt: u64) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    salt.hash(&mut h);
    args.hash(&mut h);
    h.finish()
}

/// SplitMix64: spreads a hash into well-mixed bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(super) fn eval(func: F, args: &[Value]) -> Result<Value, EvalError> {
    let s = |i: usize| args.get(i).and_then(text);
    let st = |v: String| Value::String(v);
    Ok(match func {
        F::Chr => match &args[0] {
            Value::Int(code) => char::from_u32(*code as u32)
                .map(|c| st(c.to_string()))
                .unwrap_or(Value::Null),
            Value::String(hex) => {
                let digits = hex
                    .strip_prefix("\\u")
                    .or_else(|| hex.strip_prefix("U+"))
                    .unwrap_or(hex);
                u32::from_str_radix(digits, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .map(|c| st(c.to_string()))
                    .unwrap_or(Value::Null)
            }
            _ => Value::Null,
        },
        F::Encode => {
            let (input, from, to) = (s(0).unwrap_or(""), s(1).unwrap_or(""), s(2).unwrap_or(""));
            let bytes = match super::st_bytes(input, from) {
                Ok(Value::Bytes(b)) => b,
                _ => return Err(bad(func, format!("'{input}' is not {from}"))),
            };
            super::from_bytes(&bytes, to)?
        }
        F::Mask | F::MaskLeft | F::MaskRight | F::MaskKeepLeft | F::MaskKeepRight => {
            let Some(input) = s(0) else {
                return Ok(Value::Null);
            };
            let counted = func != F::Mask;
            let n = if counted {
                match args.get(1).and_then(int) {
                    Some(n) if n >= 0 => n as usize,
                    Some(n) => return Err(bad(func, format!("the count {n} is negative"))),
                    None => return Ok(Value::Null),
                }
            } else {
                0
            };
            let at = if counted { 2 } else { 1 };
            // A NULL replacement keeps that class of characters as it is.
            let mask_char = |i: usize, default: char| -> Option<char> {
                match args.get(at + i) {
                    None => Some(default),
                    Some(Value::String(r)) => r.chars().next(),
                    Some(_) => None,
                }
            };
            let (upper, lower, digit, other) = (
                mask_char(0, 'X'),
                mask_char(1, 'x'),
                mask_char(2, 'n'),
                mask_char(3, '-'),
            );
            let chars: Vec<char> = input.chars().collect();
            let len = chars.len();
            st(chars
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    let masked = match func {
                        F::MaskLeft => i < n,
                        F::MaskRight => i + n >= len,
                        F::MaskKeepLeft => i >= n,
                        F::MaskKeepRight => i + n < len,
                        _ => true,
                    };
                    if !masked {
                        return c;
                    }
                    let r = if c.is_uppercase() {
                        upper
                    } else if c.is_lowercase() {
                        lower
                    } else if c.is_numeric() {
                        digit
                    } else {
                        other
                    };
                    r.unwrap_or(c)
                })
                .collect())
        }
        F::Md5 => st(Md5::digest(s(0).unwrap_or("").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()),
        F::Uuid => match args {
            [Value::Bytes(b)] => {
                let b: [u8; 16] = b
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad(func, format!("a UUID has 16 bytes, not {}", b.len())))?;
                st(format_uuid(u128::from_be_bytes(b)))
            }
            _ => {
                let hi = mix(row_hash(args, 1)) as u128;
                let lo = mix(row_hash(args, 2)) as u128;
                // Version 4, variant 10, as java.util.UUID.randomUUID().
                let v = ((hi << 64) | lo) & !(0xF000u128 << 64) & !(0xC << 60);
                st(format_uuid(v | (0x4000u128 << 64) | (0x8u128 << 60)))
            }
        },
        F::Random => {
            let bits = mix(row_hash(args, 0)) >> 11;
            Value::Double(F64(bits as f64 / (1u64 << 53) as f64))
        }
        F::SplitToMap => {
            let (input, entry, kv) = (s(0).unwrap_or(""), s(1).unwrap_or(""), s(2).unwrap_or(""));
            if entry.is_empty() || kv.is_empty() {
                return Err(bad(func, "the delimiters must not be empty"));
            }
            let mut map: Vec<(Value, Value)> = Vec::new();
            for part in input.split(entry).filter(|p| !p.is_empty()) {
                if let Some((k, v)) = part.split_once(kv) {
                    let k = st(k.to_string());
                    map.retain(|(old, _)| *old != k);
                    map.push((k, st(v.to_string())));
                }
            }
            Value::Map(map)
        }
        F::Elt => match args.first().and_then(int) {
            Some(n) if n >= 1 && (n as usize) < args.len() => args[n as usize].clone(),
            _ => Value::Null,
        },
        F::Field => Value::Int(match &args[0] {
            Value::Null => 0,
            v => args[1..]
                .iter()
                .position(|a| a == v)
                .map(|p| p as i32 + 1)
                .unwrap_or(0),
        }),
        F::JsonArrayContains => {
            let Ok(serde_json::Value::Array(items)) =
                serde_json::from_str::<serde_json::Value>(s(0).unwrap_or(""))
            else {
                return Ok(Value::Boolean(false));
            };
            Value::Boolean(items.iter().any(|j| json_equals(j, &args[1])))
        }
        F::JsonArrayLength => match json(func, s(0).unwrap_or(""))? {
            serde_json::Value::Array(a) => Value::Int(a.len() as i32),
            _ => Value::Null,
        },
        F::JsonKeys => match json(func, s(0).unwrap_or(""))? {
            serde_json::Value::Object(o) => Value::Array(o.keys().map(|k| st(k.clone())).collect()),
            _ => Value::Null,
        },
        F::JsonRecords => match json(func, s(0).unwrap_or(""))? {
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (st(k.clone()), st(v.to_string())))
                    .collect(),
            ),
            _ => Value::Null,
        },
        F::JsonItems => match json(func, s(0).unwrap_or(""))? {
            serde_json::Value::Array(a) => {
                Value::Array(a.iter().map(|v| st(v.to_string())).collect())
            }
            _ => Value::Null,
        },
        F::JsonConcat => {
            // Objects merge (later keys win); anything else is appended to
            // an array, as ksqlDB's JSON_CONCAT does.
            let mut docs = Vec::new();
            for a in args {
                match text(a) {
                    Some(t) => docs.push(json(func, t)?),
                    None => return Ok(Value::Null),
                }
            }
            if docs.iter().all(serde_json::Value::is_object) {
                let mut out = serde_json::Map::new();
                for d in docs {
                    if let serde_json::Value::Object(o) = d {
                        out.extend(o);
                    }
                }
                st(serde_json::Value::Object(out).to_string())
            } else {
                let mut out = Vec::new();
                for d in docs {
                    match d {
                        serde_json::Value::Array(a) => out.extend(a),
                        other => out.push(other),
                    }
                }
                st(serde_json::Value::Array(out).to_string())
            }
        }
        F::UrlEncodeParam => st(utf8_percent_encode(s(0).unwrap_or(""), FORM)
            .to_string()
            .replace("%20", "+")),
        F::UrlDecodeParam => {
            let plus = s(0).unwrap_or("").replace('+', " ");
            st(percent_decode_str(&plus)
                .decode_utf8()
                .map_err(|e| bad(func, e))?
                .into_owned())
        }
        F::UrlExtractFragment
        | F::UrlExtractHost
        | F::UrlExtractParameter
        | F::UrlExtractPath
        | F::UrlExtractPort
        | F::UrlExtractProtocol
        | F::UrlExtractQuery => {
            let Ok(u) = url::Url::parse(s(0).unwrap_or("")) else {
                return Err(bad(func, format!("'{}' is not a URL", s(0).unwrap_or(""))));
            };
            let opt = |v: Option<&str>| v.map(|v| st(v.to_string())).unwrap_or(Value::Null);
            // The path, query and fragment come back decoded (`%20` is a
            // space; `+` stays), as java.net.URI's getters give them.
            let decoded = |v: Option<&str>| {
                v.map(|v| {
                    st(percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .into_owned())
                })
                .unwrap_or(Value::Null)
            };
            match func {
                F::UrlExtractFragment => decoded(u.fragment()),
                F::UrlExtractHost => opt(u.host_str()),
                F::UrlExtractPath => decoded(Some(u.path())),
                F::UrlExtractPort => u
                    .port()
                    .map(|p| Value::Int(p as i32))
                    .unwrap_or(Value::Null),
                F::UrlExtractProtocol => st(u.scheme().to_string()),
                F::UrlExtractQuery => decoded(u.query()),
                _ => {
                    let name = s(1).unwrap_or("");
                    u.query_pairs()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| st(v.into_owned()))
                        .unwrap_or(Value::Null)
                }
            }
        }
        F::IntFromBytes | F::BigIntFromBytes | F::DoubleFromBytes => {
            let Value::Bytes(b) = &args[0] else {
                return Ok(Value::Null);
            };
            let little = match s(1).map(str::to_ascii_uppercase).as_deref() {
                None | Some("BIG_ENDIAN") => false,
                Some("LITTLE_ENDIAN") => true,
                Some(other) => {
                    return Err(bad(
                        func,
                        format!("unknown byte order '{other}'; use BIG_ENDIAN or LITTLE_ENDIAN"),
                    ))
                }
            };
            let want = if func == F::IntFromBytes { 4 } else { 8 };
            if b.len() != want {
                return Err(bad(func, format!("needs {want} bytes, not {}", b.len())));
            }
            let mut raw = [0u8; 8];
            raw[..want].copy_from_slice(b);
            if little {
                raw[..want].reverse();
            }
            match func {
                F::IntFromBytes => Value::Int(i32::from_be_bytes(raw[..4].try_into().expect("4"))),
                F::BigIntFromBytes => Value::BigInt(i64::from_be_bytes(raw)),
                _ => Value::Double(F64(f64::from_be_bytes(raw))),
            }
        }
        other => {
            return Err(EvalError::Internal(format!(
                "{other:?} is not a text function"
            )))
        }
    })
}

fn format_uuid(v: u128) -> String {
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Whether a JSON value equals a SQL value, as JSON_ARRAY_CONTAINS compares.
fn json_equals(j: &serde_json::Value, v: &Value) -> bool {
    match (j, v) {
        (serde_json::Value::Null, Value::Null) => true,
        (serde_json::Value::Bool(a), Value::Boolean(b)) => a == b,
        (serde_json::Value::String(a), Value::String(b)) => a == b,
        (serde_json::Value::Number(n), Value::Int(i)) => n.as_i64() == Some(*i as i64),
        (serde_json::Value::Number(n), Value::BigInt(i)) => n.as_i64() == Some(*i),
        (serde_json::Value::Number(n), Value::Double(d)) => n.as_f64() == Some(d.0),
        _ => false,
    }
}
