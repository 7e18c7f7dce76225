//! ksqlDB's scalar functions, each called the way a script calls it: the
//! statement is parsed, bound (overload resolution, the binder's coercions)
//! and folded by `INSERT ... VALUES`, which evaluates what the engine
//! evaluates per row. The expectations are ksqlDB's documented results.

use ddsql_sql::binder::{bind, BoundStatement};
use ddsql_sql::catalog::{Catalog, NoTopics};
use ddsql_sql::parser::parse;
use ddsql_sql::types::{Value, F64};

fn catalog() -> Catalog {
    let mut catalog = Catalog::default();
    let ddl =
        "CREATE STREAM x (id INT KEY, s STRING, i INT, b BIGINT, d DOUBLE, dec DECIMAL(10, 2),
                 dt DATE, t TIME, ts TIMESTAMP, arr ARRAY<STRING>, nums ARRAY<INT>,
                 m MAP<STRING, STRING>, bool BOOLEAN)
               WITH (kafka_topic='x', value_format='JSON', partitions=1);";
    for p in parse(ddl).unwrap() {
        let b = bind(&catalog, &NoTopics, &Default::default(), &p).unwrap();
        catalog.apply(&b);
    }
    catalog
}

/// The columns of `x`, in the order of its rows.
const COLUMNS: &[&str] = &[
    "id", "s", "i", "b", "d", "dec", "dt", "t", "ts", "arr", "nums", "m", "bool",
];

/// The value `expr` stores into `column`.
fn value(column: &str, expr: &str) -> Value {
    let sql = format!("INSERT INTO x (id, {column}) VALUES (1, {expr});");
    let p = parse(&sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .remove(0);
    match bind(&catalog(), &NoTopics, &Default::default(), &p) {
        Ok(BoundStatement::InsertValues { row, .. }) => {
            let at = COLUMNS
                .iter()
                .position(|c| c.eq_ignore_ascii_case(column))
                .unwrap_or_else(|| panic!("{column} is not a column of x"));
            row[at].clone()
        }
        other => panic!("{sql}: {other:?}"),
    }
}

/// The binder's error for `expr` stored into `column`.
fn error(column: &str, expr: &str) -> String {
    let sql = format!("INSERT INTO x (id, {column}) VALUES (1, {expr});");
    let p = parse(&sql).unwrap().remove(0);
    match bind(&catalog(), &NoTopics, &Default::default(), &p) {
        Err(e) => e.to_string(),
        Ok(b) => panic!("{sql} bound: {b:?}"),
    }
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn strings(xs: &[&str]) -> Value {
    Value::Array(xs.iter().map(|x| s(x)).collect())
}

#[test]
fn dates_and_times_take_java_patterns_and_zones() {
    // 2021-03-04T05:06:07.089Z
    let ms = 1_614_834_367_089i64;
    assert_eq!(
        value(
            "ts",
            "PARSE_TIMESTAMP('2021-03-04 05:06:07.089', 'yyyy-MM-dd HH:mm:ss.SSS')"
        ),
        Value::Timestamp(ms)
    );
    assert_eq!(
        value(
            "ts",
            "PARSE_TIMESTAMP('2021-03-04 14:06:07.089', 'yyyy-MM-dd HH:mm:ss.SSS', 'Asia/Seoul')"
        ),
        Value::Timestamp(ms)
    );
    assert_eq!(
        value(
            "s",
            "FORMAT_TIMESTAMP(FROM_UNIXTIME(1614834367089), 'yyyy-MM-dd''T''HH:mm:ssXXX', 'America/New_York')"
        ),
        s("2021-03-04T00:06:07-05:00")
    );
    assert_eq!(
        value("b", "STRINGTOTIMESTAMP('04/03/2021', 'dd/MM/yyyy')"),
        Value::BigInt(1_614_816_000_000)
    );
    assert_eq!(
        value("s", "TIMESTAMPTOSTRING(0, 'EEE d MMM yyyy h:mm a', 'UTC')"),
        s("Thu 1 Jan 1970 12:00 AM")
    );
    assert_eq!(
        value("dt", "PARSE_DATE('20220202', 'yyyyMMdd')"),
        Value::Date(19_025)
    );
    assert_eq!(
        value("s", "FORMAT_DATE(FROM_DAYS(19025), 'MMMM d, yyyy')"),
        s("February 2, 2022")
    );
    assert_eq!(
        value("t", "PARSE_TIME('11:05 PM', 'hh:mm a')"),
        Value::Time(83_100_000)
    );
    assert_eq!(
        value("ts", "TIMESTAMPADD(HOURS, 2, FROM_UNIXTIME(0))"),
        Value::Timestamp(7_200_000)
    );
    assert_eq!(
        value("dt", "DATESUB(DAYS, 1, FROM_DAYS(0))"),
        Value::Date(-1)
    );
    assert_eq!(
        value("t", "TIMEADD(MINUTES, 90, PARSE_TIME('23:00', 'HH:mm'))"),
        Value::Time(1_800_000),
        "TIME wraps at midnight"
    );
    assert_eq!(
        value("ts", "CONVERT_TZ(FROM_UNIXTIME(0), 'UTC', 'Asia/Kolkata')"),
        Value::Timestamp(19_800_000)
    );
    assert_eq!(value("i", "UNIX_DATE(FROM_DAYS(7))"), Value::Int(7));
    // A failed parse is an error value, not a panic: INSERT ... VALUES
    // refuses it; a projection makes it NULL and logs it (the
    // workspace's tests/functions.rs runs that through the engine).
    let e = error("dt", "PARSE_DATE('2004', 'yyyy-MM-dd')");
    assert!(
        e.contains("'2004' does not match the pattern 'yyyy-MM-dd' at character 5"),
        "{e}"
    );
    // CAST to STRING writes ISO text (TIME as Java's LocalTime.toString);
    // a date that does not exist is not read as a later one.
    assert_eq!(
        value("s", "CAST(FROM_DAYS(19025) AS STRING)"),
        s("2022-02-02")
    );
    assert_eq!(
        value("s", "CAST(PARSE_TIME('23:05', 'HH:mm') AS STRING)"),
        s("23:05")
    );
    assert_eq!(
        value("s", "CAST(FROM_UNIXTIME(1614834367089) AS STRING)"),
        s("2021-03-04T05:06:07.089")
    );
    assert!(error("dt", "CAST('2021-02-30' AS DATE)").contains("cannot cast"));
    let e = error("ts", "TIMESTAMPADD(FORTNIGHTS, 1, FROM_UNIXTIME(0))");
    assert!(
        e.contains("unknown time unit FORTNIGHTS; use MILLISECONDS"),
        "{e}"
    );
    let e = error("s", "FORMAT_DATE(FROM_UNIXTIME(0), 'yyyy')");
    assert!(
        e.contains("it takes FORMAT_DATE(DATE, STRING pattern)"),
        "{e}"
    );
}

#[test]
fn numbers() {
    let close = |v: Value, want: f64| match v {
        Value::Double(F64(x)) => assert!((x - want).abs() < 1e-9, "{x} vs {want}"),
        other => panic!("{other:?}"),
    };
    close(value("d", "COS(0)"), 1.0);
    close(value("d", "ATAN2(1, 1)"), std::f64::consts::FRAC_PI_4);
    close(value("d", "DEGREES(PI())"), 180.0);
    close(value("d", "LOG(2, 8)"), 3.0);
    close(value("d", "CBRT(27)"), 3.0);
    // Seoul to Busan, about 325 km.
    let km = value("d", "GEO_DISTANCE(37.5665, 126.9780, 35.1796, 129.0756)");
    assert!(
        matches!(km, Value::Double(F64(x)) if (320.0..330.0).contains(&x)),
        "{km:?}"
    );
    assert_eq!(value("b", "TRUNC(-2.7e0)"), Value::BigInt(-2));
    assert_eq!(value("dec", "TRUNC(12.349, 1)"), Value::Decimal(1230, 2));
    assert_eq!(value("i", "TRUNC(7)"), Value::Int(7));
    // Text reads as Java's BigDecimal reads it, exponents included.
    assert_eq!(
        value("dec", "CAST('2.5e1' AS DECIMAL(10, 2))"),
        Value::Decimal(2500, 2)
    );
}

#[test]
fn text_json_urls_and_bytes() {
    assert_eq!(value("s", "MASK('Ab-1')"), s("Xx-n"));
    assert_eq!(
        value("s", "MASK_KEEP_RIGHT('card-1234', 4)"),
        s("xxxx-1234")
    );
    assert_eq!(
        value("s", "MASK_LEFT('abc', 2, '*', '*', NULL, NULL)"),
        s("**c")
    );
    assert_eq!(
        value("s", "MD5('ddsql')"),
        s("b05ab36b9f9f1aea93e6df80d3627b61")
    );
    assert_eq!(value("s", "CHR(75)"), s("K"));
    assert_eq!(value("s", "CHR('\\u004b')"), s("K"));
    assert_eq!(value("s", "ENCODE('4b', 'hex', 'utf8')"), s("K"));
    assert_eq!(value("s", "ELT(2, 'a', 'b')"), s("b"));
    assert_eq!(value("i", "FIELD('b', 'a', 'b')"), Value::Int(2));
    assert_eq!(
        value("m", "SPLIT_TO_MAP('a=1;b=2', ';', '=')"),
        Value::Map(vec![(s("a"), s("1")), (s("b"), s("2"))])
    );
    assert_eq!(
        value("arr", "JSON_KEYS('{\"x\": 1, \"y\": [2]}')"),
        strings(&["x", "y"])
    );
    assert_eq!(value("i", "JSON_ARRAY_LENGTH('[1, 2, 3]')"), Value::Int(3));
    assert_eq!(
        value("bool", "JSON_ARRAY_CONTAINS('[1, \"a\"]', 'a')"),
        Value::Boolean(true)
    );
    assert_eq!(
        value("s", "JSON_CONCAT('{\"a\": 1}', '{\"b\": 2}')"),
        s(r#"{"a":1,"b":2}"#)
    );
    assert_eq!(
        value("s", "TO_JSON_STRING(STRUCT(a := 1, b := ARRAY['x']))"),
        s(r#"{"A":1,"B":["x"]}"#)
    );
    assert_eq!(
        value(
            "s",
            "CAST(STRUCT(a := 1, b := CAST(NULL AS INT)) AS STRING)"
        ),
        s("Struct{A=1}")
    );
    let url = "'https://example.com:8080/a/b?q=1&r=x%20y#frag'";
    assert_eq!(
        value("s", &format!("URL_EXTRACT_HOST({url})")),
        s("example.com")
    );
    assert_eq!(
        value("i", &format!("URL_EXTRACT_PORT({url})")),
        Value::Int(8080)
    );
    assert_eq!(value("s", &format!("URL_EXTRACT_PATH({url})")), s("/a/b"));
    assert_eq!(
        value("s", &format!("URL_EXTRACT_PARAMETER({url}, 'r')")),
        s("x y")
    );
    assert_eq!(
        value("s", &format!("URL_EXTRACT_FRAGMENT({url})")),
        s("frag")
    );
    assert_eq!(value("s", "URL_ENCODE_PARAM('a b&c')"), s("a+b%26c"));
    assert_eq!(value("s", "URL_DECODE_PARAM('a+b%26c')"), s("a b&c"));
    assert_eq!(
        value("i", "INT_FROM_BYTES(TO_BYTES('AAAAKg==', 'base64'))"),
        Value::Int(42)
    );
    assert_eq!(
        value(
            "i",
            "INT_FROM_BYTES(TO_BYTES('KgAAAA==', 'base64'), 'LITTLE_ENDIAN')"
        ),
        Value::Int(42)
    );
}

#[test]
fn random_and_uuid_are_the_same_for_the_same_row() {
    let a = value("s", "UUID()");
    assert_eq!(a, value("s", "UUID()"));
    let Value::String(u) = &a else {
        panic!("{a:?}")
    };
    assert_eq!(u.len(), 36);
    assert_eq!(&u[14..15], "4", "version 4: {u}");
    assert!(matches!(value("d", "RANDOM()"), Value::Double(F64(x)) if (0.0..1.0).contains(&x)));
    // An aggregate query has no single input row to seed them with.
    let sql = "CREATE TABLE agg AS SELECT id, UUID() AS u, COUNT(*) AS n FROM x GROUP BY id;";
    let p = parse(sql).unwrap().remove(0);
    let e = bind(&catalog(), &NoTopics, &Default::default(), &p).unwrap_err();
    assert!(
        e.to_string()
            .contains("UUID() in an aggregate query is not supported yet"),
        "{e}"
    );
}

#[test]
fn collections() {
    assert_eq!(
        value("arr", "ARRAY_UNION(ARRAY['a', 'b'], ARRAY['b', 'c'])"),
        strings(&["a", "b", "c"])
    );
    assert_eq!(
        value("arr", "ARRAY_EXCEPT(ARRAY['a', 'b', 'a'], ARRAY['b'])"),
        strings(&["a"])
    );
    assert_eq!(
        value("arr", "ARRAY_INTERSECT(ARRAY['a', 'b'], ARRAY['b', 'c'])"),
        strings(&["b"])
    );
    assert_eq!(
        value("arr", "ARRAY_SORT(ARRAY['b', NULL, 'a'], 'DESC')"),
        Value::Array(vec![s("b"), s("a"), Value::Null])
    );
    assert_eq!(
        value("arr", "ARRAY_CONCAT(ARRAY['a'], NULL)"),
        strings(&["a"])
    );
    assert_eq!(
        value("nums", "SLICE(ARRAY[1, 2, 3, 4], 2, 3)"),
        Value::Array(vec![Value::Int(2), Value::Int(3)])
    );
    assert_eq!(
        value("nums", "ARRAY_REMOVE(ARRAY_DISTINCT(ARRAY[1, 1, 2]), 2)"),
        Value::Array(vec![Value::Int(1)])
    );
    assert_eq!(
        value(
            "m",
            "MAP_UNION(MAP('a' := 'x'), MAP('a' := 'y', 'b' := 'z'))"
        ),
        Value::Map(vec![(s("a"), s("y")), (s("b"), s("z"))])
    );
    assert_eq!(
        value("m", "AS_MAP(ARRAY['k'], ARRAY['v'])"),
        Value::Map(vec![(s("k"), s("v"))])
    );
    // Numbers and numeric string literals meet as one DECIMAL.
    assert_eq!(
        value("nums", "CAST(ARRAY[1, '2e1'] AS ARRAY<INT>)"),
        Value::Array(vec![Value::Int(1), Value::Int(20)])
    );
}

/// The BYTES forms the function page gives SUBSTRING, LEN, LPAD, RPAD,
/// SPLIT and CONCAT_WS: each works on bytes as the STRING form on
/// characters.
#[test]
fn text_functions_have_their_bytes_forms() {
    let b = |text: &str| format!("TO_BYTES('{text}', 'utf8')");
    let bytes = |v: &[u8]| Value::Bytes(v.to_vec());
    let cases = [
        (format!("SUBSTRING({}, 2, 3)", b("stream")), bytes(b"tre")),
        (format!("SUBSTRING({}, -3)", b("stream")), bytes(b"eam")),
        (
            format!("LPAD({}, 7, {})", b("Foo"), b("Bar")),
            bytes(b"BarBFoo"),
        ),
        (format!("RPAD({}, 2, {})", b("Foo"), b("Bar")), bytes(b"Fo")),
        (
            format!("CONCAT_WS({}, {}, NULL, {})", b("-"), b("a"), b("b")),
            bytes(b"a-b"),
        ),
    ];
    let mut catalog = Catalog::default();
    for p in parse(
        "CREATE STREAM y (id INT KEY, v BYTES, n INT, parts ARRAY<BYTES>)
           WITH (kafka_topic='y', value_format='JSON', partitions=1);",
    )
    .unwrap()
    {
        let bound = bind(&catalog, &NoTopics, &Default::default(), &p).unwrap();
        catalog.apply(&bound);
    }
    let insert = |column: &str, expr: &str| -> Value {
        let sql = format!("INSERT INTO y (id, {column}) VALUES (1, {expr});");
        let p = parse(&sql).unwrap().remove(0);
        match bind(&catalog, &NoTopics, &Default::default(), &p) {
            Ok(BoundStatement::InsertValues { row, .. }) => {
                let at = ["id", "v", "n", "parts"]
                    .iter()
                    .position(|c| *c == column)
                    .unwrap();
                row[at].clone()
            }
            other => panic!("{sql}: {other:?}"),
        }
    };
    for (expr, want) in cases {
        assert_eq!(insert("v", &expr), want, "{expr}");
    }
    assert_eq!(insert("n", &format!("LEN({})", b("héllo"))), Value::Int(6));
    assert_eq!(
        insert("parts", &format!("SPLIT({}, {})", b("a,b,,c"), b(","))),
        Value::Array(vec![bytes(b"a"), bytes(b"b"), bytes(b""), bytes(b"c")])
    );
    assert_eq!(
        insert("parts", &format!("SPLIT({}, {})", b("ab"), b(""))),
        Value::Array(vec![bytes(b"a"), bytes(b"b")])
    );
}

/// TO_JSON_STRING writes a TIME to the second, as ksqlDB's formatter does
/// (`LocalTime.ofSecondOfDay`), where CAST keeps its milliseconds.
#[test]
fn to_json_string_writes_times_to_the_second() {
    let t = "PARSE_TIME('13:25:07.500', 'HH:mm:ss.SSS')";
    assert_eq!(
        value("s", &format!("TO_JSON_STRING({t})")),
        s("\"13:25:07\"")
    );
    assert_eq!(
        value("s", &format!("CAST({t} AS STRING)")),
        s("13:25:07.500")
    );
}
