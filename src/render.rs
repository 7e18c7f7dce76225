//! Text tables, drawn as ksqlDB's CLI draws them:
//!
//! ```text
//!  Stream Name | Kafka Topic | Key Format
//! ----------------------------------------
//!  ORDERS      | orders      | KAFKA
//! ----------------------------------------
//! ```

use ddsql_connectors::format::json::to_json;
use ddsql_sql::plan::QueryPlan;
use ddsql_sql::types::Row;
use serde_json::Value as Json;

/// Renders `rows` under `headers`, columns padded to their widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| -> String {
        let parts: Vec<String> = cells
            .zip(&widths)
            .map(|(c, w)| format!(" {c:<w$} "))
            .collect();
        parts.join("|").trim_end().to_string()
    };
    let rule = "-".repeat(
        widths
            .iter()
            .map(|w| w + 3)
            .sum::<usize>()
            .saturating_sub(1),
    );
    let mut out = line(&mut headers.iter().copied());
    out.push('\n');
    out.push_str(&rule);
    out.push('\n');
    for r in rows {
        out.push_str(&line(&mut r.iter().map(String::as_str)));
        out.push('\n');
    }
    out.push_str(&rule);
    out
}

/// A result row's columns (after `ROWTIME`) as JSON, as the REST API and
/// the shell show them.
pub fn row_json(plan: &QueryPlan, row: &Row) -> Vec<Json> {
    plan.columns
        .iter()
        .zip(row.iter().skip(1))
        .map(|(c, v)| to_json(v, &c.ty).unwrap_or_else(|e| Json::String(format!("<{e}>"))))
        .collect()
}

/// A query's rows as a table under its column names.
pub fn rows(plan: &QueryPlan, rows: &[Row]) -> String {
    let headers: Vec<&str> = plan.columns.iter().map(|c| c.name.as_str()).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| row_json(plan, r).iter().map(cell).collect())
        .collect();
    table(&headers, &cells)
}

/// A value as the shell prints it: strings bare, everything else as JSON.
pub fn cell(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `EXPLAIN`'s answer: the query's id (none for a statement that is not
/// running), its SQL, what it reads and writes, then the plan's text.
pub fn explanation(id: &str, sql: &str, reads: &[String], writes: &[String], plan: &str) -> String {
    let list = |names: &[String]| {
        if names.is_empty() {
            "-".to_string()
        } else {
            names.join(", ")
        }
    };
    format!(
        "ID           : {}\nSQL          : {sql}\nReads        : {}\nWrites       : {}\n\n{plan}",
        if id.is_empty() { "- (not running)" } else { id },
        list(reads),
        list(writes),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn pads_columns_to_the_widest_cell() {
        let t = super::table(&["Name", "Topic"], &[vec!["a".into(), "long.topic".into()]]);
        assert_eq!(
            t,
            " Name | Topic\n-------------------\n a    | long.topic\n-------------------"
        );
    }
}
