//! SQL types and runtime values.
//!
//! A [`Row`] is a plain `Vec<Value>`; what each position means is told by the
//! schema that travels beside it (a catalog [`crate::catalog::Source`] or a
//! bound plan's output columns). Struct values are positional for the same
//! reason: field names live in the [`SqlType::Struct`], not in every record.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A ksqlDB SQL type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SqlType {
    Boolean,
    Int,
    BigInt,
    Double,
    Decimal { precision: u8, scale: u8 },
    String,
    Bytes,
    Date,
    Time,
    Timestamp,
    Array(Box<SqlType>),
    Map(Box<SqlType>, Box<SqlType>),
    Struct(Vec<(String, SqlType)>),
}

impl SqlType {
    /// True for INT, BIGINT, DOUBLE and DECIMAL.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            SqlType::Int | SqlType::BigInt | SqlType::Double | SqlType::Decimal { .. }
        )
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => f.write_str("BOOLEAN"),
            SqlType::Int => f.write_str("INTEGER"),
            SqlType::BigInt => f.write_str("BIGINT"),
            SqlType::Double => f.write_str("DOUBLE"),
            SqlType::Decimal { precision, scale } => write!(f, "DECIMAL({precision}, {scale})"),
            SqlType::String => f.write_str("STRING"),
            SqlType::Bytes => f.write_str("BYTES"),
            SqlType::Date => f.write_str("DATE"),
            SqlType::Time => f.write_str("TIME"),
            SqlType::Timestamp => f.write_str("TIMESTAMP"),
            SqlType::Array(t) => write!(f, "ARRAY<{t}>"),
            SqlType::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
            SqlType::Struct(fields) => {
                f.write_str("STRUCT<")?;
                for (i, (name, ty)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} {ty}", crate::ast::quote_ident(name))?;
                }
                f.write_str(">")
            }
        }
    }
}

/// A 64-bit float with a total order, so rows can live in arrangements.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct F64(pub f64);

impl PartialEq for F64 {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0) == Ordering::Equal
    }
}
impl Eq for F64 {}
impl PartialOrd for F64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for F64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}
impl std::hash::Hash for F64 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state)
    }
}

/// A runtime value. `Ord` is structural (variant first), which is what
/// arrangements need; SQL comparison lives in [`crate::eval`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Value {
    Null,
    Boolean(bool),
    Int(i32),
    BigInt(i64),
    Double(F64),
    /// Unscaled value and scale: `Decimal(1234, 2)` is 12.34.
    Decimal(i128, u8),
    String(String),
    Bytes(Vec<u8>),
    /// Days since the epoch.
    Date(i32),
    /// Milliseconds since midnight.
    Time(i32),
    /// Milliseconds since the epoch.
    Timestamp(i64),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    /// Field values in the order of the struct type's fields.
    Struct(Vec<Value>),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// A row of values; position `i` is described by column `i` of its schema.
pub type Row = Vec<Value>;
