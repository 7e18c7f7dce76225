//! The PROTOBUF and PROTOBUF_NOSR formats: Protocol Buffers' binary
//! encoding of a message whose fields are the columns, numbered from 1 in
//! column order (ksqlDB's `ConnectDefault1`).
//!
//! Types map as ksqlDB maps them: BOOLEAN `bool`, INT `int32`, BIGINT
//! `int64`, DOUBLE `double`, STRING `string`, BYTES `bytes`, DECIMAL
//! `confluent.type.Decimal` (`bytes value = 1` big-endian two's complement,
//! `uint32 precision = 2`, `int32 scale = 3`), DATE `google.type.Date`,
//! TIME `google.type.TimeOfDay`, TIMESTAMP `google.protobuf.Timestamp`,
//! ARRAY a `repeated` field, MAP repeated entries `{key = 1, value = 2}`,
//! STRUCT a nested message. A NULL column is an absent field. As in ksqlDB
//! (without a nullable representation), an absent scalar reads as its
//! proto3 default (0, "", false, empty bytes), an absent message (STRUCT,
//! DECIMAL, DATE, TIME, TIMESTAMP) as NULL, an absent repeated field as an
//! empty ARRAY or MAP; an array cannot hold a NULL element.
//!
//! PROTOBUF frames the message as Confluent's serializer does (magic byte
//! 0, a 4-byte schema id, the message index list `[0]` as one zero byte);
//! PROTOBUF_NOSR writes the bare message. Without a Schema Registry client
//! yet, the id written is 0 and the id read is not looked up.
//!
//! ```
//! use ddsql_connectors::format::{protobuf::ProtobufSerde, Serde};
//! use ddsql_sql::types::{SqlType, Value};
//! let serde = ProtobufSerde::new(vec![("ID".into(), SqlType::BigInt), ("NAME".into(), SqlType::String)], false);
//! let bytes = serde.encode(&[Value::BigInt(150), Value::Null]).unwrap();
//! assert_eq!(bytes, vec![0x08, 0x96, 0x01]); // field 1, varint 150; NAME absent
//! // A proto3 string has no presence: the NULL comes back as "".
//! assert_eq!(serde.decode(&bytes).unwrap(), vec![Value::BigInt(150), Value::String("".into())]);
//! ```

use ddsql_sql::types::{SqlType, Value, F64};

use super::{decimal_from_bytes, decimal_to_bytes, rescale, Field, Serde};

pub struct ProtobufSerde {
    fields: Vec<Field>,
    /// Confluent's framing (PROTOBUF) or none (PROTOBUF_NOSR).
    framed: bool,
}

impl ProtobufSerde {
    pub fn new(fields: Vec<Field>, framed: bool) -> ProtobufSerde {
        ProtobufSerde { fields, framed }
    }
}

impl Serde for ProtobufSerde {
    fn decode(&self, bytes: &[u8]) -> Result<Vec<Value>, String> {
        let message = if self.framed {
            match bytes {
                [0, _, _, _, _, rest @ ..] => {
                    // The message-index list: a count, then the indexes.
                    let mut r = Reader(rest);
                    let n = r.varint()?;
                    for _ in 0..n {
                        r.varint()?;
                    }
                    r.0
                }
                _ => {
                    return Err(
                        "not in Confluent's wire format (no magic byte 0 and schema id)".into(),
                    )
                }
            }
        } else {
            bytes
        };
        match message_value(message, &self.fields)? {
            Value::Struct(values) => Ok(values),
            _ => unreachable!("a message reads as a struct"),
        }
    }

    fn encode(&self, values: &[Value]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(64);
        if self.framed {
            out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        }
        write_message(&mut out, &self.fields, values)?;
        Ok(out)
    }
}

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u64) {
    varint(out, ((field as u64) << 3) | wire);
}

fn len_delimited(out: &mut Vec<u8>, field: u32, body: &[u8]) {
    tag(out, field, LEN);
    varint(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn write_message(out: &mut Vec<u8>, fields: &[Field], values: &[Value]) -> Result<(), String> {
    for (i, ((name, ty), v)) in fields.iter().zip(values).enumerate() {
        write_field(out, i as u32 + 1, ty, v).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// Days since the epoch to a civil (year, month, day), proleptic Gregorian.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn write_field(out: &mut Vec<u8>, n: u32, ty: &SqlType, v: &Value) -> Result<(), String> {
    let int_message = |parts: &[(u32, i64)]| {
        let mut body = Vec::new();
        for &(f, x) in parts {
            if x != 0 {
                tag(&mut body, f, VARINT);
                varint(&mut body, x as u64);
            }
        }
        body
    };
    match (ty, v) {
        (_, Value::Null) => {}
        // int32 and int64 are both two's complement varints.
        (SqlType::Boolean, Value::Boolean(_))
        | (SqlType::Int | SqlType::BigInt, Value::Int(_))
        | (SqlType::BigInt, Value::BigInt(_)) => {
            let x = match v {
                Value::Boolean(b) => *b as i64,
                Value::Int(i) => *i as i64,
                Value::BigInt(i) => *i,
                _ => unreachable!("matched above"),
            };
            tag(out, n, VARINT);
            varint(out, x as u64);
        }
        (SqlType::Double, Value::Double(d)) => {
            tag(out, n, FIXED64);
            out.extend_from_slice(&d.0.to_le_bytes());
        }
        (SqlType::String, Value::String(s)) => len_delimited(out, n, s.as_bytes()),
        (SqlType::Bytes, Value::Bytes(b)) => len_delimited(out, n, b),
        (SqlType::Decimal { precision, scale }, Value::Decimal(unscaled, s)) => {
            let mut body = Vec::new();
            len_delimited(
                &mut body,
                1,
                &decimal_to_bytes(rescale(*unscaled, *s, *scale)?),
            );
            tag(&mut body, 2, VARINT);
            varint(&mut body, *precision as u64);
            tag(&mut body, 3, VARINT);
            varint(&mut body, *scale as u64);
            len_delimited(out, n, &body);
        }
        (SqlType::Date, Value::Date(days)) => {
            let (y, m, d) = civil(*days as i64);
            len_delimited(
                out,
                n,
                &int_message(&[(1, y), (2, m as i64), (3, d as i64)]),
            );
        }
        (SqlType::Time, Value::Time(ms)) => {
            let ms = *ms as i64;
            let body = int_message(&[
                (1, ms / 3_600_000),
                (2, ms / 60_000 % 60),
                (3, ms / 1000 % 60),
                (4, ms % 1000 * 1_000_000),
            ]);
            len_delimited(out, n, &body);
        }
        (SqlType::Timestamp, Value::Timestamp(ms)) => {
            let body = int_message(&[
                (1, ms.div_euclid(1000)),
                (2, ms.rem_euclid(1000) * 1_000_000),
            ]);
            len_delimited(out, n, &body);
        }
        (SqlType::Array(item), Value::Array(items)) => {
            for x in items {
                if x.is_null() {
                    return Err("PROTOBUF cannot hold a NULL array element".into());
                }
                write_element(out, n, item, x)?;
            }
        }
        (SqlType::Map(kt, vt), Value::Map(entries)) => {
            for (k, v) in entries {
                let mut body = Vec::new();
                write_field(&mut body, 1, kt, k)?;
                write_field(&mut body, 2, vt, v)?;
                len_delimited(out, n, &body);
            }
        }
        (SqlType::Struct(fields), Value::Struct(values)) => {
            let mut body = Vec::new();
            write_message(&mut body, fields, values)?;
            len_delimited(out, n, &body);
        }
        (ty, v) => return Err(format!("cannot write {v:?} as PROTOBUF {ty}")),
    }
    Ok(())
}

/// An array element: like a field, but a zero value is still written (an
/// absent element would shorten the array).
fn write_element(out: &mut Vec<u8>, n: u32, ty: &SqlType, v: &Value) -> Result<(), String> {
    let start = out.len();
    write_field(out, n, ty, v)?;
    if out.len() == start {
        return Err(format!("cannot write {v:?} as a PROTOBUF {ty} element"));
    }
    Ok(())
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let (&b, rest) = self.0.split_first().ok_or("the message ends early")?;
            self.0 = rest;
            if shift > 63 {
                return Err("a malformed varint".into());
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("the message ends early".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
}

/// One field occurrence's raw payload.
enum Raw<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Len(&'a [u8]),
    Fixed32([u8; 4]),
}

/// What an absent field reads as. A proto3 scalar has no presence, so it
/// reads as its default (ksqlDB's PROTOBUF without a nullable
/// representation: a NULL written comes back as 0, "" or false); a field
/// that is a message (STRUCT, DECIMAL, DATE, TIME, TIMESTAMP) reads as NULL.
pub(crate) fn absent(ty: &SqlType) -> Value {
    match ty {
        SqlType::Boolean => Value::Boolean(false),
        SqlType::Int => Value::Int(0),
        SqlType::BigInt => Value::BigInt(0),
        SqlType::Double => Value::Double(F64(0.0)),
        SqlType::String => Value::String(String::new()),
        SqlType::Bytes => Value::Bytes(Vec::new()),
        _ => Value::Null,
    }
}

fn fields_of(bytes: &[u8]) -> Result<Vec<(u32, Raw<'_>)>, String> {
    let mut r = Reader(bytes);
    let mut out = Vec::new();
    while !r.0.is_empty() {
        let key = r.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| "a field number out of range")?;
        let raw = match key & 7 {
            VARINT => Raw::Varint(r.varint()?),
            FIXED64 => Raw::Fixed64(r.take(8)?.try_into().expect("8 bytes")),
            LEN => {
                let n = usize::try_from(r.varint()?).map_err(|_| "a length out of range")?;
                Raw::Len(r.take(n)?)
            }
            FIXED32 => Raw::Fixed32(r.take(4)?.try_into().expect("4 bytes")),
            w => return Err(format!("wire type {w} is not supported")),
        };
        out.push((field, raw));
    }
    Ok(out)
}

fn message_value(bytes: &[u8], fields: &[Field]) -> Result<Value, String> {
    let raw = fields_of(bytes)?;
    let mut values = Vec::with_capacity(fields.len());
    for (i, (name, ty)) in fields.iter().enumerate() {
        let number = i as u32 + 1;
        let occurrences = raw.iter().filter(|(f, _)| *f == number).map(|(_, r)| r);
        values.push(read_field(ty, occurrences).map_err(|e| format!("{name}: {e}"))?);
    }
    Ok(Value::Struct(values))
}

fn ints(bytes: &[u8], count: usize) -> Result<Vec<i64>, String> {
    let mut out = vec![0i64; count];
    for (f, r) in fields_of(bytes)? {
        if let (Raw::Varint(v), Some(slot)) = (r, out.get_mut(f as usize - 1)) {
            *slot = v as i64;
        }
    }
    Ok(out)
}

fn read_field<'a>(
    ty: &SqlType,
    occurrences: impl Iterator<Item = &'a Raw<'a>>,
) -> Result<Value, String> {
    let all: Vec<&Raw> = occurrences.collect();
    match ty {
        SqlType::Array(item) => {
            let mut out = Vec::new();
            for r in all {
                match (r, item.as_ref()) {
                    // A packed run of scalars.
                    (Raw::Len(b), SqlType::Boolean | SqlType::Int | SqlType::BigInt) => {
                        let mut rd = Reader(b);
                        while !rd.0.is_empty() {
                            out.push(scalar(item, &Raw::Varint(rd.varint()?))?);
                        }
                    }
                    (Raw::Len(b), SqlType::Double) => {
                        for chunk in b.chunks(8) {
                            let a: [u8; 8] =
                                chunk.try_into().map_err(|_| "a truncated packed double")?;
                            out.push(scalar(item, &Raw::Fixed64(a))?);
                        }
                    }
                    (r, _) => out.push(scalar(item, r)?),
                }
            }
            Ok(Value::Array(out))
        }
        SqlType::Map(kt, vt) => {
            let mut out = Vec::new();
            for r in all {
                let Raw::Len(b) = r else {
                    return Err("a map entry that is not a message".into());
                };
                let entry = message_value(
                    b,
                    &[
                        ("key".into(), (**kt).clone()),
                        ("value".into(), (**vt).clone()),
                    ],
                )?;
                if let Value::Struct(mut kv) = entry {
                    let v = kv.pop().unwrap_or(Value::Null);
                    let k = kv.pop().unwrap_or(Value::Null);
                    out.push((k, v));
                }
            }
            Ok(Value::Map(out))
        }
        // The last occurrence wins, as in Protocol Buffers.
        _ => match all.last() {
            None => Ok(absent(ty)),
            Some(r) => scalar(ty, r),
        },
    }
}

fn scalar(ty: &SqlType, r: &Raw) -> Result<Value, String> {
    Ok(match (ty, r) {
        (SqlType::Boolean, Raw::Varint(v)) => Value::Boolean(*v != 0),
        (SqlType::Int, Raw::Varint(v)) => Value::Int(*v as i64 as i32),
        (SqlType::BigInt, Raw::Varint(v)) => Value::BigInt(*v as i64),
        (SqlType::Double, Raw::Fixed64(b)) => Value::Double(F64(f64::from_le_bytes(*b))),
        (SqlType::Double, Raw::Fixed32(b)) => Value::Double(F64(f32::from_le_bytes(*b) as f64)),
        (SqlType::String, Raw::Len(b)) => {
            Value::String(String::from_utf8(b.to_vec()).map_err(|_| "a string that is not UTF-8")?)
        }
        (SqlType::Bytes, Raw::Len(b)) => Value::Bytes(b.to_vec()),
        (SqlType::Decimal { scale, .. }, Raw::Len(b)) => {
            let mut unscaled = 0i128;
            for (f, r) in fields_of(b)? {
                if let (1, Raw::Len(v)) = (f, r) {
                    unscaled = decimal_from_bytes(v)?;
                }
            }
            Value::Decimal(unscaled, *scale)
        }
        (SqlType::Date, Raw::Len(b)) => {
            let p = ints(b, 3)?;
            Value::Date(days_from_civil(p[0], p[1] as u32, p[2] as u32) as i32)
        }
        (SqlType::Time, Raw::Len(b)) => {
            let p = ints(b, 4)?;
            Value::Time((p[0] * 3_600_000 + p[1] * 60_000 + p[2] * 1000 + p[3] / 1_000_000) as i32)
        }
        (SqlType::Timestamp, Raw::Len(b)) => {
            let p = ints(b, 2)?;
            Value::Timestamp(p[0] * 1000 + p[1] / 1_000_000)
        }
        (SqlType::Struct(fields), Raw::Len(b)) => message_value(b, fields)?,
        (ty, _) => return Err(format!("a field of the wrong wire type for {ty}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(ty: SqlType, v: Value) {
        for framed in [false, true] {
            let serde = ProtobufSerde::new(vec![("C".into(), ty.clone())], framed);
            let bytes = serde.encode(std::slice::from_ref(&v)).unwrap();
            assert_eq!(serde.decode(&bytes).unwrap(), vec![v.clone()], "{ty}");
        }
    }

    #[test]
    fn arrays_cannot_hold_nulls() {
        let serde = ProtobufSerde::new(
            vec![("C".into(), SqlType::Array(Box::new(SqlType::Int)))],
            false,
        );
        let err = serde
            .encode(&[Value::Array(vec![Value::Null])])
            .unwrap_err();
        assert!(err.contains("NULL array element"), "{err}");
    }

    proptest! {
        #[test]
        fn dates_round_trip(days in -1_000_000i32..1_000_000) {
            round_trip(SqlType::Date, Value::Date(days));
        }

        #[test]
        fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let serde = ProtobufSerde::new(vec![("A".into(), SqlType::Array(Box::new(SqlType::Int))), ("B".into(), SqlType::Timestamp)], false);
            let _ = serde.decode(&bytes);
        }
    }
}
