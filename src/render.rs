//! Text tables, drawn as ksqlDB's CLI draws them:
//!
//! ```text
//!  Stream Name | Kafka Topic | Key Format
//! ----------------------------------------
//!  ORDERS      | orders      | KAFKA
//! ----------------------------------------
//! ```

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
