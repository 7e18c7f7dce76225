//! `DEFINE name = 'value'` and `${name}` substitution, as ksqlDB does it:
//! textual, in statement order, inside string literals too.
//!
//! ```
//! use std::collections::BTreeMap;
//! use ddsql_sql::variables::substitute;
//! let mut vars = BTreeMap::new();
//! let sql = "DEFINE t = 'orders';\nCREATE STREAM s (a INT) WITH (kafka_topic='${t}', value_format='JSON');";
//! let out = substitute(sql, &mut vars).unwrap();
//! assert!(out.contains("kafka_topic='orders'"));
//! assert_eq!(vars["T"], "orders");
//! ```

use std::collections::BTreeMap;

use crate::ast::Statement;
use crate::error::{Pos, Result, SqlError};
use crate::parser::parse_all;

/// Replaces every `${name}` of `sql` with the value defined for it at that
/// point: by an earlier `DEFINE` of the script, or in `vars` (a session's
/// variables), which this updates with the script's definitions. Names are
/// case-insensitive. An undefined variable is an error naming its position.
pub fn substitute(sql: &str, vars: &mut BTreeMap<String, String>) -> Result<String> {
    if !sql.contains("${") {
        collect_definitions(sql, vars);
        return Ok(sql.to_string());
    }
    // DEFINE statements parse even when other statements do not yet.
    let (parsed, _) = parse_all(sql);
    let mut changes: Vec<(usize, String, Option<String>)> = parsed
        .iter()
        .filter_map(|p| match &p.statement {
            Statement::Define { name, value } => Some((
                p.offset + p.text.len(),
                name.value.to_uppercase(),
                Some(value.clone()),
            )),
            Statement::Undefine(name) => {
                Some((p.offset + p.text.len(), name.value.to_uppercase(), None))
            }
            _ => None,
        })
        .collect();
    changes.sort_by_key(|c| c.0);
    let mut changes = changes.into_iter().peekable();
    let mut out = String::with_capacity(sql.len());
    let (mut line, mut column) = (1u64, 1u64);
    let mut rest = sql;
    let mut at = 0;
    while let Some(i) = rest.find("${") {
        let Some(len) = rest[i + 2..].find('}') else {
            break;
        };
        for c in rest[..i].chars() {
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        while let Some((_, name, value)) = changes.next_if(|c| c.0 <= at + i) {
            match value {
                Some(v) => vars.insert(name, v),
                None => vars.remove(&name),
            };
        }
        let name = &rest[i + 2..i + 2 + len];
        let value = vars.get(&name.trim().to_uppercase()).ok_or_else(|| {
            SqlError::new(Pos::new(line, column), format!("variable '{name}' is not defined: DEFINE it first, e.g. DEFINE {name} = '...';"))
        })?;
        out.push_str(&rest[..i]);
        out.push_str(value);
        let skip = i + 2 + len + 1;
        column += (2 + len + 1) as u64;
        at += skip;
        rest = &rest[skip..];
    }
    out.push_str(rest);
    for (_, name, value) in changes {
        match value {
            Some(v) => vars.insert(name, v),
            None => vars.remove(&name),
        };
    }
    Ok(out)
}

fn collect_definitions(sql: &str, vars: &mut BTreeMap<String, String>) {
    // Parsing is most of a large script's cost (a backfill of 20,000
    // INSERT VALUES): no DEFINE or UNDEFINE, no second parse.
    if !sql
        .as_bytes()
        .windows(6)
        .any(|w| w.eq_ignore_ascii_case(b"define"))
    {
        return;
    }
    for p in parse_all(sql).0 {
        match p.statement {
            Statement::Define { name, value } => {
                vars.insert(name.value.to_uppercase(), value);
            }
            Statement::Undefine(name) => {
                vars.remove(&name.value.to_uppercase());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_apply_from_where_they_stand() {
        let mut vars = BTreeMap::new();
        let sql = "define x='1'; insert into s values (${x}); define x='2'; insert into s values (${x}); undefine x;";
        let out = substitute(sql, &mut vars).unwrap();
        assert_eq!(out, "define x='1'; insert into s values (1); define x='2'; insert into s values (2); undefine x;");
        assert!(vars.is_empty());
    }

    #[test]
    fn undefined_variables_are_errors_with_positions() {
        let mut vars = BTreeMap::new();
        let err = substitute("select 1\n from ${nope};", &mut vars).unwrap_err();
        assert_eq!((err.pos.line, err.pos.column), (2, 7));
        assert!(
            err.message.contains("variable 'nope' is not defined"),
            "{err}"
        );
    }

    #[test]
    fn session_variables_carry_over() {
        let mut vars = BTreeMap::from([("T".to_string(), "topic".to_string())]);
        assert_eq!(substitute("x='${t}'", &mut vars).unwrap(), "x='topic'");
    }
}
