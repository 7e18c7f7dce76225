//! Errors of the front end. Every error that stems from the text of a
//! statement carries the position it points at, so a user sees
//! `line 3, column 14: expected FROM, found 'FORM'`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A position in the source text, 1-based. Equality always holds so that
/// AST nodes that differ only in where they were written compare equal
/// (the round-trip tests parse printed SQL, where positions move).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl PartialEq for Pos {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Pos {}
impl std::hash::Hash for Pos {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl Pos {
    pub fn new(line: u64, column: u64) -> Self {
        Pos { line, column }
    }
    /// True for positions that point nowhere (synthesised nodes).
    pub fn is_unknown(&self) -> bool {
        self.line == 0
    }
}

impl From<sqlparser::tokenizer::Location> for Pos {
    fn from(l: sqlparser::tokenizer::Location) -> Self {
        Pos::new(l.line, l.column)
    }
}

/// An error in a statement: where, and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct SqlError {
    pub pos: Pos,
    pub message: String,
}

impl SqlError {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        SqlError {
            pos,
            message: message.into(),
        }
    }
}

impl fmt::Display for SqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.is_unknown() {
            f.write_str(&self.message)
        } else {
            write!(
                f,
                "line {}, column {}: {}",
                self.pos.line, self.pos.column, self.message
            )
        }
    }
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;

/// The candidate closest to `name` by edit distance, if it is close enough
/// to be a plausible typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let upper = name.to_uppercase();
    candidates
        .into_iter()
        .map(|c| (levenshtein(&upper, &c.to_uppercase()), c))
        .filter(|(d, c)| *d <= (c.len().min(upper.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j]))
                .min(row[j] + 1)
                .min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            closest("ORDR_ID", ["ORDER_ID", "USER_ID"]),
            Some("ORDER_ID")
        );
        assert_eq!(closest("xyz", ["ORDER_ID", "USER_ID"]), None);
    }
}
