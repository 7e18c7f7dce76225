//! Implicit type coercion as ksqlDB's type-coercion page
//! (`../shared/reference/ksqldb-docs/type-coercion.md`) states it, through
//! parse, bind and the folding of `INSERT ... VALUES` (which evaluates what
//! the engine evaluates per row):
//! - numbers widen (INT < BIGINT < DECIMAL < DOUBLE), also inside arrays,
//!   maps and structs;
//! - a STRING literal coerces to a number wide enough for it, to BOOLEAN
//!   (`true`, `false`, `yes`, `no` or a prefix, any case) and to DATE, TIME
//!   and TIMESTAMP from ISO-8601 text; a STRING column does not.

use ddsql_sql::binder::{bind, BoundStatement};
use ddsql_sql::catalog::{Catalog, NoTopics};
use ddsql_sql::parser::parse;
use ddsql_sql::types::Value;

fn catalog() -> Catalog {
    let mut catalog = Catalog::default();
    for p in parse(
        "CREATE STREAM t (id INT KEY, b BOOLEAN, i INT, s STRING)
           WITH (kafka_topic='t', value_format='JSON', partitions=1);",
    )
    .unwrap()
    {
        let b = bind(&catalog, &NoTopics, &Default::default(), &p).unwrap();
        catalog.apply(&b);
    }
    catalog
}

/// The BOOLEAN `condition` evaluates to, or the binder's error.
fn holds(condition: &str) -> Result<bool, String> {
    let sql = format!("INSERT INTO t (id, b) VALUES (1, {condition});");
    let p = parse(&sql).map_err(|e| e.to_string())?.remove(0);
    match bind(&catalog(), &NoTopics, &Default::default(), &p) {
        Ok(BoundStatement::InsertValues { row, .. }) => match &row[1] {
            Value::Boolean(b) => Ok(*b),
            other => Err(format!("{condition}: {other:?}")),
        },
        Ok(other) => Err(format!("{other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn numbers_widen_also_inside_arrays_maps_and_structs() {
    for c in [
        "CAST(1 AS BIGINT) = 1",
        "ARRAY[CAST(1 AS BIGINT), 2] = ARRAY[1, 2]",
        "MAP('a' := CAST(1 AS BIGINT)) = MAP('a' := 1)",
        "STRUCT(f0 := CAST(2 AS BIGINT)) = STRUCT(f0 := 2)",
        "ARRAY[1, 2] IN (ARRAY[CAST(1 AS BIGINT), 2])",
        // An INT compared with a DECIMAL literal widens with the INT's ten
        // digits: 10 fits, where DECIMAL(2, 1) would not hold it.
        "10 > 1.5",
        "2147483647 > 1.5",
    ] {
        assert_eq!(holds(c), Ok(true), "{c}");
    }
}

#[test]
fn a_string_literal_coerces_to_the_other_sides_type() {
    for c in [
        "1 = '1'",
        "-5 = '-5'",
        "0 > '-1.5'",
        "5000000000 = '5000000000'",
        "1.5 = '1.5'",
        "10 IN ('10', 11)",
        "true = 'TRUE'",
        "true = 'ye'",
        "false = 'n'",
        "PARSE_DATE('2021-10-11', 'yyyy-MM-dd') = '2021-10-11'",
        "PARSE_TIME('13:25', 'HH:mm') = '13:25:00'",
        "PARSE_TIMESTAMP('2021-06-30 12:18:39', 'yyyy-MM-dd HH:mm:ss') = '2021-06-30T12:18:39'",
        "PARSE_DATE('2021-10-11', 'yyyy-MM-dd') BETWEEN '2021-01-01' AND '2021-12-31'",
    ] {
        assert_eq!(holds(c), Ok(true), "{c}");
    }
    assert_eq!(holds("2 = '1'"), Ok(false));
    // Text that is not a value of the type is an error that names it.
    let e = holds("1 = 'one'").unwrap_err();
    assert!(e.contains("'one'") && e.contains("INTEGER"), "{e}");
    let e = holds("true = 'maybe'").unwrap_err();
    assert!(e.contains("'maybe'") && e.contains("BOOLEAN"), "{e}");
}

#[test]
fn only_literals_coerce_from_strings() {
    let p = parse("CREATE STREAM o AS SELECT id FROM t WHERE i = s;")
        .unwrap()
        .remove(0);
    let e = bind(&catalog(), &NoTopics, &Default::default(), &p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot compare INTEGER and STRING"), "{e}");
}

#[test]
fn insert_values_coerces_into_the_columns_type() {
    let mut catalog = Catalog::default();
    for p in parse(
        "CREATE STREAM o (id INT KEY, s STRUCT<order_id BIGINT>, a ARRAY<BIGINT>, m MAP<STRING, DOUBLE>)
           WITH (kafka_topic='o', value_format='JSON', partitions=1);",
    )
    .unwrap()
    {
        let b = bind(&catalog, &NoTopics, &Default::default(), &p).unwrap();
        catalog.apply(&b);
    }
    let p = parse(
        "INSERT INTO o (id, s, a, m) VALUES (1, STRUCT(order_id := 1), ARRAY[1, 2], MAP('x' := 1));",
    )
    .unwrap()
    .remove(0);
    match bind(&catalog, &NoTopics, &Default::default(), &p) {
        Ok(BoundStatement::InsertValues { row, .. }) => assert_eq!(
            row[row.len() - 3..].to_vec(),
            vec![
                Value::Struct(vec![Value::BigInt(1)]),
                Value::Array(vec![Value::BigInt(1), Value::BigInt(2)]),
                Value::Map(vec![(
                    Value::String("x".into()),
                    Value::Double(ddsql_sql::types::F64(1.0))
                )]),
            ]
        ),
        other => panic!("{other:?}"),
    }
}
