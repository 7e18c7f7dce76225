//! Properties of the parser over random token soup (a short run for CI;
//! `ddsql-bench parser-fuzz` runs millions of mutated statements).

use ddsql_sql::parser::{parse, parse_all};
use proptest::prelude::*;

const TOKENS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "PARTITION",
    "EMIT",
    "CHANGES",
    "JOIN",
    "LEFT",
    "ON",
    "WITHIN",
    "CREATE",
    "STREAM",
    "TABLE",
    "AS",
    "WITH",
    "(",
    ")",
    ",",
    ";",
    "->",
    "*",
    "[",
    "]",
    "=",
    "!=",
    "<",
    "+",
    "-",
    "/",
    "||",
    ":=",
    "=>",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST",
    "BIGINT",
    "NULL",
    "TRUE",
    "1",
    "2.5",
    "'s'",
    "`q`",
    "a",
    "b",
    "STRUCT",
    "ARRAY",
    "MAP",
    "<",
    ">",
    "IS",
    "NOT",
    "IN",
    "LIKE",
    "BETWEEN",
    "AND",
    "OR",
    "INSERT",
    "INTO",
    "VALUES",
    "DROP",
    "SHOW",
    "STREAMS",
    "DESCRIBE",
    "KEY",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn token_soup_never_panics_and_what_parses_prints_back(tokens in prop::collection::vec(0..TOKENS.len(), 0..40)) {
        let sql = tokens.iter().map(|&i| TOKENS[i]).collect::<Vec<_>>().join(" ");
        let (statements, _) = parse_all(&sql);
        for s in statements {
            let printed = s.statement.to_string();
            let again = parse(&printed).map_err(|e| TestCaseError::fail(format!("`{printed}` (from `{sql}`): {e}")))?;
            prop_assert_eq!(&again[0].statement, &s.statement);
        }
    }
}
