//! TRANSFORM, FILTER and REDUCE with lambdas, through parse, bind and the
//! binder's constant folding of `INSERT ... VALUES` (the engine evaluates
//! the same expressions per row; QTT's filter.json runs them end to end).

use ddsql_sql::binder::{bind, BoundStatement};
use ddsql_sql::catalog::{Catalog, NoTopics};
use ddsql_sql::parser::parse;
use ddsql_sql::types::Value;

fn catalog() -> Catalog {
    let mut catalog = Catalog::default();
    let ddl = "CREATE STREAM s (id INT KEY, a ARRAY<INT>, m MAP<STRING, INT>, n INT)
               WITH (kafka_topic='s', value_format='JSON', partitions=1);";
    for p in parse(ddl).unwrap() {
        let b = bind(&catalog, &NoTopics, &Default::default(), &p).unwrap();
        catalog.apply(&b);
    }
    catalog
}

/// The value column `a`, `m` and `n` get from an INSERT of `values`.
fn inserted(values: &str) -> Vec<Value> {
    let sql = format!("INSERT INTO s (id, a, m, n) VALUES (1, {values});");
    let p = parse(&sql).unwrap().remove(0);
    match bind(&catalog(), &NoTopics, &Default::default(), &p) {
        Ok(BoundStatement::InsertValues { row, .. }) => row[1..].to_vec(),
        other => panic!("{sql}: {other:?}"),
    }
}

fn ints(xs: &[i32]) -> Value {
    Value::Array(xs.iter().map(|x| Value::Int(*x)).collect())
}

#[test]
fn arrays_and_maps_through_lambdas() {
    let row = inserted(
        "TRANSFORM(ARRAY[1, 2, 3], x => x * 10), \
         FILTER(MAP('a' := 1, 'b' := 5), (k, v) => v > 2), \
         REDUCE(ARRAY[1, 2, 3], 0, (acc, x) => acc + x)",
    );
    assert_eq!(row[0], ints(&[10, 20, 30]));
    assert_eq!(
        row[1],
        Value::Map(vec![(Value::String("b".into()), Value::Int(5))])
    );
    assert_eq!(row[2], Value::Int(6));
    // A map's TRANSFORM takes one lambda for keys and one for values; a
    // NULL input is NULL.
    let row = inserted(
        "ARRAY[1], TRANSFORM(MAP('a' := 1), (k, v) => UCASE(k), (k, v) => v + 1), \
         REDUCE(CAST(NULL AS ARRAY<INT>), 0, (acc, x) => acc + x)",
    );
    assert_eq!(
        row[1],
        Value::Map(vec![(Value::String("A".into()), Value::Int(2))])
    );
    assert_eq!(row[2], Value::Null);
}

#[test]
fn a_parameter_shadows_a_column_and_mistakes_are_named() {
    // `n` in the lambda is its parameter, not the column N.
    let p = parse("SELECT id, FILTER(a, n => n > 1) AS big FROM s EMIT CHANGES;")
        .unwrap()
        .remove(0);
    bind(&catalog(), &NoTopics, &Default::default(), &p).unwrap();
    for (sql, wanted) in [
        (
            "SELECT id, FILTER(a, x => x + 1) FROM s EMIT CHANGES;",
            "FILTER's lambda needs BOOLEAN",
        ),
        (
            "SELECT id, TRANSFORM(a, (x, y) => x) FROM s EMIT CHANGES;",
            "takes 1 parameter(s), not 2",
        ),
        (
            "SELECT id, REDUCE(n, 0, (s, x) => s) FROM s EMIT CHANGES;",
            "needs an ARRAY or MAP, not INTEGER",
        ),
        (
            "SELECT id, ABS(x => x) FROM s EMIT CHANGES;",
            "a lambda can only be an argument",
        ),
    ] {
        let p = parse(sql).unwrap().remove(0);
        let e = bind(&catalog(), &NoTopics, &Default::default(), &p).unwrap_err();
        assert!(e.to_string().contains(wanted), "{sql}: {e}");
    }
}
