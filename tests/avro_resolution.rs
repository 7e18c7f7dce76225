//! Avro writer/reader resolution and schema fingerprints, as the Avro
//! specification states them: tests/avro/resolution.json holds the cases
//! (each names its rule) and fastavro's fingerprints;
//! tests/clients/avro_resolution.py checks fastavro against the same file.
//! Here ddsql's Avro JSON (`ddsql topic produce|consume --value-encoding
//! avro`) writes each datum through a real Schema Registry and reads it
//! back with the reader schema.

use std::sync::Arc;

use ddsql_connectors::format::avro_json::{fingerprints, AvroJson};
use ddsql_connectors::schema_registry::{MemoryRegistry, SchemaRegistry};
use serde_json::Value as Json;

fn spec() -> Json {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/avro/resolution.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Writes `case`'s datum with its writer schema under `subject`, then
/// reads it with its reader schema.
fn write_then_read(
    registry: &Arc<SchemaRegistry>,
    subject: &str,
    case: &Json,
) -> Result<Json, String> {
    let writer =
        AvroJson::new(registry.clone(), subject.into()).writing(&case["writer"].to_string())?;
    let bytes = writer.encode(&case["datum"])?;
    AvroJson::new(registry.clone(), subject.into())
        .reading_as(&case["reader"].to_string())?
        .decode(&bytes)
}

#[test]
fn records_resolve_as_the_specification_states() {
    let memory = MemoryRegistry::start().unwrap();
    let registry = Arc::new(SchemaRegistry::new(&memory.url()));
    let spec = spec();
    let mut differences = Vec::new();
    for (i, case) in spec["cases"].as_array().unwrap().iter().enumerate() {
        match write_then_read(&registry, &format!("case{i}-value"), case) {
            Ok(read) if read == case["expected"] => {}
            other => differences.push(format!(
                "{}: expected {}, read {other:?}",
                case["rule"], case["expected"]
            )),
        }
    }
    for (i, case) in spec["refused"].as_array().unwrap().iter().enumerate() {
        if let Ok(read) = write_then_read(&registry, &format!("refused{i}-value"), case) {
            differences.push(format!("{}: read {read}, expected an error", case["rule"]));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn fingerprints_are_fastavros() {
    let spec = spec();
    for entry in spec["fingerprints"].as_array().unwrap() {
        let text = match entry.get("file") {
            Some(file) => std::fs::read_to_string(format!(
                "{}/{}",
                env!("CARGO_MANIFEST_DIR"),
                file.as_str().unwrap()
            ))
            .unwrap(),
            None => entry["schema"].to_string(),
        };
        let mine = fingerprints(&text).unwrap();
        for (name, value) in [
            ("canonical", &mine.canonical),
            ("rabin", &mine.rabin),
            ("md5", &mine.md5),
            ("sha256", &mine.sha256),
        ] {
            assert_eq!(
                entry[name].as_str(),
                Some(value.as_str()),
                "{name} of {}",
                &text[..text.len().min(80)]
            );
        }
    }
}

#[test]
fn a_record_read_without_a_reader_schema_is_its_writers() {
    let memory = MemoryRegistry::start().unwrap();
    let registry = Arc::new(SchemaRegistry::new(&memory.url()));
    let schema = r#"{"type": "record", "name": "r", "fields": [
        {"name": "u", "type": ["null", "string", {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2}]},
        {"name": "b", "type": "bytes"}, {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}}]}"#;
    let codec = AvroJson::new(registry.clone(), "t-value".into())
        .writing(schema)
        .unwrap();
    // Avro's JSON encoding names a union's branch; the plain value picks
    // the first branch it fits.
    for (datum, shown) in [
        (
            r#"{"u": {"string": "1.50"}, "b": "AAE=", "e": "Y"}"#,
            r#"{"u": "1.50", "b": "AAE=", "e": "Y"}"#,
        ),
        (
            r#"{"u": {"bytes": "-1.5"}, "b": "", "e": "X"}"#,
            r#"{"u": "-1.50", "b": "", "e": "X"}"#,
        ),
        (
            r#"{"u": null, "b": "", "e": "X"}"#,
            r#"{"u": null, "b": "", "e": "X"}"#,
        ),
    ] {
        let bytes = codec.encode(&serde_json::from_str(datum).unwrap()).unwrap();
        assert_eq!(bytes[0], 0, "Confluent's magic byte");
        let read = AvroJson::new(registry.clone(), "t-value".into())
            .decode(&bytes)
            .unwrap();
        assert_eq!(
            read,
            serde_json::from_str::<Json>(shown).unwrap(),
            "{datum}"
        );
    }
    // Bad input names what is wrong.
    let err = codec
        .encode(&serde_json::from_str(r#"{"u": null, "b": "", "e": "Z"}"#).unwrap())
        .unwrap_err();
    assert!(err.contains("not a symbol of enum E"), "{err}");
    let err = codec
        .encode(&serde_json::from_str(r#"{"u": null, "b": "", "e": "X", "extra": 1}"#).unwrap())
        .unwrap_err();
    assert!(err.contains("no field \"extra\""), "{err}");
    let err = AvroJson::new(registry, "t-value".into())
        .decode(b"{}")
        .unwrap_err();
    assert!(err.contains("wire format"), "{err}");
}
