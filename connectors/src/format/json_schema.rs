//! Columns from a registered JSON Schema: what ksqlDB infers for a JSON_SR
//! source declared without columns.
//!
//! The mapping is Kafka Connect's, which ksqlDB uses: `integer` is BIGINT
//! (INT when `connect.type` says `int32`, `int16` or `int8`), `number` is
//! DOUBLE, an `object` with `properties` a STRUCT of them (upper-cased),
//! one with only `additionalProperties` a MAP with STRING keys, and a
//! `oneOf` (or a `type` list) of `null` and one other type is that type.
//! Connect's logical types (its Decimal, Date, Time and Timestamp, named by
//! `title`) are their SQL types.
//!
//! ```
//! use ddsql_connectors::format::json_schema::sql_type;
//! use ddsql_sql::types::SqlType;
//! let schema = r#"{"type": "object", "properties": {
//!     "id": {"type": "integer"},
//!     "name": {"oneOf": [{"type": "null"}, {"type": "string"}]}}}"#;
//! assert_eq!(
//!     sql_type(schema).unwrap(),
//!     SqlType::Struct(vec![("ID".into(), SqlType::BigInt), ("NAME".into(), SqlType::String)])
//! );
//! ```

use serde_json::Value as Json;

use ddsql_sql::types::SqlType;

/// The SQL type of values the JSON Schema `text` describes.
pub fn sql_type(text: &str) -> Result<SqlType, String> {
    let schema: Json =
        serde_json::from_str(text).map_err(|e| format!("the JSON Schema is not JSON: {e}"))?;
    of(&schema)
}

fn of(schema: &Json) -> Result<SqlType, String> {
    // `oneOf`/`anyOf` of schemas, or a `type` list: NULL and one other.
    let several =
        || format!("{schema} allows several types, which no SQL type holds: declare the columns");
    if let Some(options) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Json::as_array)
    {
        let mut types = options.iter().filter(|o| o["type"] != "null");
        return match (types.next(), types.next()) {
            (Some(t), None) => of(t),
            _ => Err(several()),
        };
    }
    let ty = match &schema["type"] {
        Json::Array(types) => {
            let mut types = types.iter().filter(|t| *t != "null");
            match (types.next(), types.next()) {
                (Some(Json::String(t)), None) => t.clone(),
                _ => return Err(several()),
            }
        }
        Json::String(t) => t.clone(),
        _ => return Err(format!("{schema} has no type: declare the columns")),
    };
    let connect = schema["connect.type"].as_str();
    let title = schema["title"].as_str().unwrap_or("");
    Ok(match ty.as_str() {
        "boolean" => SqlType::Boolean,
        "integer" => match (connect, title) {
            (_, "org.apache.kafka.connect.data.Timestamp") => SqlType::Timestamp,
            (_, "org.apache.kafka.connect.data.Date") => SqlType::Date,
            (_, "org.apache.kafka.connect.data.Time") => SqlType::Time,
            (Some("int32" | "int16" | "int8"), _) => SqlType::Int,
            _ => SqlType::BigInt,
        },
        "number" => match title {
            "org.apache.kafka.connect.data.Decimal" => {
                let parameters = &schema["connect.parameters"];
                let param = |name: &str| {
                    parameters[name]
                        .as_str()
                        .and_then(|p| p.parse().ok())
                        .or_else(|| parameters[name].as_u64().map(|p| p as u8))
                };
                match (param("connect.decimal.precision"), param("scale")) {
                    (Some(precision), Some(scale)) => SqlType::Decimal { precision, scale },
                    _ => {
                        return Err(format!(
                            "{schema} is a decimal without its precision and scale: declare the columns"
                        ))
                    }
                }
            }
            _ => SqlType::Double,
        },
        "string" => match connect {
            Some("bytes") => SqlType::Bytes,
            _ => SqlType::String,
        },
        "array" => SqlType::Array(Box::new(of(&schema["items"])
            .map_err(|e| format!("the items of an array: {e}"))?)),
        "object" => match (
            schema.get("properties").and_then(Json::as_object),
            schema.get("additionalProperties"),
        ) {
            (Some(properties), _) => SqlType::Struct(
                properties
                    .iter()
                    .map(|(name, p)| Ok((name.to_uppercase(), of(p).map_err(|e| format!("{name}: {e}"))?)))
                    .collect::<Result<_, String>>()?,
            ),
            (None, Some(values)) if values.is_object() => SqlType::Map(
                Box::new(SqlType::String),
                Box::new(of(values).map_err(|e| format!("the values of a map: {e}"))?),
            ),
            _ => {
                return Err(format!(
                    "{schema} is an object with neither properties nor a schema for additional properties: declare the columns"
                ))
            }
        },
        other => return Err(format!("JSON Schema type '{other}' has no SQL type: declare the columns")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_types() {
        let schema = r#"{"type": "object", "properties": {
            "n": {"type": "integer", "connect.type": "int32"},
            "x": {"type": ["null", "number"]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "attrs": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "price": {"type": "number", "title": "org.apache.kafka.connect.data.Decimal",
                      "connect.parameters": {"connect.decimal.precision": "10", "scale": "2"}}}}"#;
        assert_eq!(
            sql_type(schema).unwrap(),
            SqlType::Struct(vec![
                ("N".into(), SqlType::Int),
                ("X".into(), SqlType::Double),
                ("TAGS".into(), SqlType::Array(Box::new(SqlType::String))),
                (
                    "ATTRS".into(),
                    SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Boolean))
                ),
                (
                    "PRICE".into(),
                    SqlType::Decimal {
                        precision: 10,
                        scale: 2
                    }
                ),
            ])
        );
        assert_eq!(sql_type(r#"{"type": "string"}"#).unwrap(), SqlType::String);
        assert!(
            sql_type(r#"{"oneOf": [{"type": "string"}, {"type": "integer"}]}"#)
                .unwrap_err()
                .contains("several types")
        );
    }
}
