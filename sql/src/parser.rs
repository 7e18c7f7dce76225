//! The ksqlDB dialect parser: a thin recursive-descent parser over
//! sqlparser's tokenizer.
//!
//! sqlparser does the lexing (string escapes, comments, back-quoted and
//! double-quoted identifiers, positions) through the [`KsqlDialect`] hooks;
//! the grammar of ksqlDB's statements (`CREATE STREAM ... WITH (...)`,
//! `EMIT CHANGES`, `PARTITION BY`, `->` dereference, ...) is ours, because
//! it differs from every dialect sqlparser parses.
//!
//! ```
//! use ddsql_sql::parser::parse;
//! let stmts = parse("create stream `s` (id bigint key, v string) with (kafka_topic='t', value_format='JSON');").unwrap();
//! assert_eq!(stmts.len(), 1);
//! let err = parse("select * form x;").unwrap_err();
//! assert_eq!(err.to_string(), "line 1, column 10: expected FROM, found 'form'");
//! ```

use sqlparser::dialect::Dialect as SqlparserDialect;
use sqlparser::tokenizer::{Token as SqlToken, TokenWithSpan as SqlTokenWithSpan, Tokenizer};

use crate::ast::*;
use crate::error::{Pos, Result, SqlError};
use crate::types::SqlType;

/// Lexical rules of ksqlDB for sqlparser's tokenizer.
#[derive(Debug, Default)]
pub struct KsqlDialect;

impl SqlparserDialect for KsqlDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_'
    }
    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '@'
    }
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`' || ch == '"'
    }
}

/// Parses a script of `;`-separated statements.
pub fn parse(sql: &str) -> Result<Vec<Parsed>> {
    Parser::new(sql)?.parse_statements()
}

/// Parses every statement it can: after a syntax error it skips to the next
/// `;` and goes on, so a linter can report every error at once.
pub fn parse_all(sql: &str) -> (Vec<Parsed>, Vec<SqlError>) {
    let mut p = match Parser::new(sql) {
        Ok(p) => p,
        Err(e) => return (vec![], vec![e]),
    };
    let (mut parsed, mut errors) = (Vec::new(), Vec::new());
    loop {
        match p.parse_statements() {
            Ok(mut rest) => {
                parsed.append(&mut rest);
                return (parsed, errors);
            }
            Err(e) => {
                errors.push(e);
                parsed.append(&mut p.done);
                while !matches!(p.peek(), SqlToken::SemiColon | SqlToken::EOF) {
                    p.idx += 1;
                }
            }
        }
    }
}

/// Parses a single expression (used by tests and the REST layer).
pub fn parse_expr(sql: &str) -> Result<Expr> {
    let mut p = Parser::new(sql)?;
    let e = p.expr()?;
    p.expect_eof()?;
    Ok(e)
}

struct Parser<'a> {
    sql: &'a str,
    /// Statements parsed so far by `parse_statements`.
    done: Vec<Parsed>,
    line_starts: Vec<usize>,
    tokens: Vec<SqlTokenWithSpan>,
    idx: usize,
}

/// Words that start or join clauses. Unquoted, they are never an alias or
/// a column name; back-quote such a name (`` `END` ``).
const RESERVED: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "PARTITION",
    "HAVING",
    "EMIT",
    "LIMIT",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "OUTER",
    "ON",
    "WITHIN",
    "WINDOW",
    "AS",
    "AND",
    "OR",
    "NOT",
    "BY",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "IS",
    "IN",
    "BETWEEN",
    "LIKE",
    "NULL",
    "TRUE",
    "FALSE",
];

fn is_reserved(w: &sqlparser::tokenizer::Word) -> bool {
    w.quote_style.is_none() && RESERVED.iter().any(|r| w.value.eq_ignore_ascii_case(r))
}

impl<'a> Parser<'a> {
    fn new(sql: &'a str) -> Result<Self> {
        let dialect = KsqlDialect;
        // Sized up front: a large script (20,000 INSERT VALUES) grown one
        // doubling at a time spent most of its parse faulting in pages.
        let mut tokens = Vec::with_capacity(sql.len() / 3);
        Tokenizer::new(&dialect, sql)
            .tokenize_with_location_into_buf(&mut tokens)
            .map_err(|e| SqlError::new(e.location.into(), e.message))?;
        tokens.retain(|t| !matches!(t.token, SqlToken::Whitespace(_)));
        let mut line_starts = vec![0];
        line_starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        Ok(Parser {
            sql,
            done: Vec::new(),
            line_starts,
            tokens,
            idx: 0,
        })
    }

    // ---- token cursor -------------------------------------------------

    fn peek(&self) -> &SqlToken {
        self.peek_nth(0)
    }
    fn peek_nth(&self, n: usize) -> &SqlToken {
        self.tokens
            .get(self.idx + n)
            .map(|t| &t.token)
            .unwrap_or(&SqlToken::EOF)
    }
    fn pos(&self) -> Pos {
        match self.tokens.get(self.idx) {
            Some(t) => t.span.start.into(),
            None => self.end_pos(),
        }
    }
    fn end_pos(&self) -> Pos {
        self.tokens
            .last()
            .map(|t| t.span.end.into())
            .unwrap_or(Pos::new(1, 1))
    }
    fn next(&mut self) -> SqlToken {
        let t = self.peek().clone();
        self.idx += 1;
        t
    }
    fn found(&self) -> String {
        match self.peek() {
            SqlToken::EOF => "end of input".to_string(),
            t => format!("'{t}'"),
        }
    }
    fn expected<T>(&self, what: &str) -> Result<T> {
        Err(SqlError::new(
            self.pos(),
            format!("expected {what}, found {}", self.found()),
        ))
    }

    /// True if the next token is the unquoted keyword `kw`.
    fn at_keyword(&self, kw: &str) -> bool {
        self.keyword_at(0, kw)
    }
    fn keyword_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_nth(n), SqlToken::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
    }
    fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.at_keyword(kw) {
            self.idx += 1;
            true
        } else {
            false
        }
    }
    fn eat_keywords(&mut self, kws: &[&str]) -> bool {
        if kws.iter().enumerate().all(|(i, kw)| self.keyword_at(i, kw)) {
            self.idx += kws.len();
            true
        } else {
            false
        }
    }
    fn expect_keyword(&mut self, kw: &str) -> Result<()> {
        if self.eat_keyword(kw) {
            Ok(())
        } else {
            self.expected(kw)
        }
    }
    fn eat(&mut self, tok: &SqlToken) -> bool {
        if self.peek() == tok {
            self.idx += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, tok: &SqlToken) -> Result<()> {
        if self.eat(tok) {
            Ok(())
        } else {
            self.expected(&format!("'{tok}'"))
        }
    }
    /// `>` that may be the first half of a `>>` token (nested generic types).
    fn expect_gt(&mut self) -> Result<()> {
        match self.peek() {
            SqlToken::Gt => {
                self.idx += 1;
                Ok(())
            }
            SqlToken::ShiftRight => {
                let span = self.tokens[self.idx].span;
                self.tokens[self.idx] = SqlTokenWithSpan::new(SqlToken::Gt, span);
                Ok(())
            }
            _ => self.expected("'>'"),
        }
    }
    fn expect_eof(&self) -> Result<()> {
        match self.peek() {
            SqlToken::EOF => Ok(()),
            _ => self.expected("end of input"),
        }
    }

    fn ident(&mut self) -> Result<Ident> {
        let pos = self.pos();
        match self.peek().clone() {
            SqlToken::Word(w) if is_reserved(&w) => Err(SqlError::new(
                pos,
                format!("expected an identifier, found the reserved word '{}'; back-quote it (`{}`) to use it as a name", w.value, w.value),
            )),
            SqlToken::Word(w) => {
                self.idx += 1;
                Ok(Ident {
                    value: w.value,
                    quoted: w.quote_style.is_some(),
                    pos,
                })
            }
            _ => self.expected("an identifier"),
        }
    }

    fn byte_offset(&self, p: Pos) -> usize {
        let line = (p.line as usize).saturating_sub(1);
        let start = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.sql.len());
        // Columns count characters, not bytes.
        self.sql[start..]
            .char_indices()
            .nth((p.column as usize).saturating_sub(1))
            .map(|(i, _)| start + i)
            .unwrap_or(self.sql.len())
    }

    // ---- statements ---------------------------------------------------

    fn parse_statements(&mut self) -> Result<Vec<Parsed>> {
        loop {
            while self.eat(&SqlToken::SemiColon) {}
            if matches!(self.peek(), SqlToken::EOF) {
                return Ok(std::mem::take(&mut self.done));
            }
            let pos = self.pos();
            let start = self.byte_offset(pos);
            let statement = self.statement()?;
            let end = match self.peek() {
                SqlToken::SemiColon => self.byte_offset(self.pos()),
                SqlToken::EOF => self.sql.len(),
                _ => return self.expected("';'"),
            };
            let text = self.sql[start..end].trim().to_string();
            self.done.push(Parsed {
                statement,
                text,
                pos,
                offset: start,
            });
        }
    }

    fn statement(&mut self) -> Result<Statement> {
        if self.eat_keyword("CREATE") {
            self.create()
        } else if self.eat_keyword("INSERT") {
            self.insert()
        } else if self.at_keyword("SELECT") {
            Ok(Statement::Select(Box::new(self.query()?)))
        } else if self.eat_keyword("SHOW") || self.eat_keyword("LIST") {
            self.show()
        } else if self.eat_keyword("DESCRIBE") {
            self.describe()
        } else if self.eat_keyword("EXPLAIN") {
            if matches!(self.peek(), SqlToken::Word(_))
                && matches!(self.peek_nth(1), SqlToken::SemiColon | SqlToken::EOF)
            {
                return Ok(Statement::Explain(ExplainTarget::Query(self.ident()?)));
            }
            Ok(Statement::Explain(ExplainTarget::Statement(Box::new(
                self.statement()?,
            ))))
        } else if self.eat_keyword("DROP") {
            self.drop()
        } else if self.eat_keyword("ALTER") {
            if self.eat_keyword("SYSTEM") {
                let name = self.string()?;
                self.expect(&SqlToken::Eq)?;
                let value = self.string()?;
                return Ok(Statement::AlterSystem { name, value });
            }
            let kind = if self.eat_keyword("STREAM") {
                SourceKind::Stream
            } else if self.eat_keyword("TABLE") {
                SourceKind::Table
            } else {
                return self.expected("STREAM, TABLE or SYSTEM after ALTER");
            };
            let name = self.ident()?;
            let mut columns = Vec::new();
            loop {
                self.expect_keyword("ADD")?;
                self.eat_keyword("COLUMN");
                let column = self.ident()?;
                columns.push((column, self.data_type()?));
                if !self.eat(&SqlToken::Comma) {
                    break;
                }
            }
            Ok(Statement::Alter {
                kind,
                name,
                columns,
            })
        } else if self.eat_keyword("TERMINATE") {
            Ok(Statement::Terminate(self.id_or_all()?))
        } else if self.eat_keyword("PAUSE") {
            Ok(Statement::Pause(self.id_or_all()?))
        } else if self.eat_keyword("RESUME") {
            Ok(Statement::Resume(self.id_or_all()?))
        } else if self.eat_keyword("SET") {
            let name = self.string()?;
            self.expect(&SqlToken::Eq)?;
            let value = self.string()?;
            Ok(Statement::Set { name, value })
        } else if self.eat_keyword("UNSET") {
            Ok(Statement::Unset(self.string()?))
        } else if self.eat_keyword("DEFINE") {
            let name = self.ident()?;
            self.expect(&SqlToken::Eq)?;
            let value = self.string()?;
            Ok(Statement::Define { name, value })
        } else if self.eat_keyword("UNDEFINE") {
            Ok(Statement::Undefine(self.ident()?))
        } else if self.eat_keyword("PRINT") {
            let topic = match self.peek().clone() {
                SqlToken::SingleQuotedString(t) => {
                    let pos = self.pos();
                    self.idx += 1;
                    Ident {
                        value: t,
                        quoted: true,
                        pos,
                    }
                }
                _ => self.ident()?,
            };
            let from_beginning = self.eat_keywords(&["FROM", "BEGINNING"]);
            let interval = if self.eat_keyword("INTERVAL") || self.eat_keyword("SAMPLE") {
                Some(self.whole_number()?)
            } else {
                None
            };
            let limit = if self.eat_keyword("LIMIT") {
                Some(self.whole_number()?)
            } else {
                None
            };
            Ok(Statement::Print {
                topic,
                from_beginning,
                interval,
                limit,
            })
        } else if self.eat_keywords(&["RUN", "SCRIPT"]) {
            Ok(Statement::RunScript(self.string()?))
        } else {
            self.expected("a statement (CREATE, INSERT, SELECT, SHOW, DESCRIBE, EXPLAIN, DROP, ALTER, TERMINATE, SET, UNSET, DEFINE, UNDEFINE, PRINT, PAUSE, RESUME or RUN SCRIPT)")
        }
    }

    fn string(&mut self) -> Result<String> {
        match self.peek().clone() {
            SqlToken::SingleQuotedString(s) => {
                self.idx += 1;
                Ok(s)
            }
            _ => self.expected("a string in single quotes"),
        }
    }

    fn whole_number(&mut self) -> Result<u64> {
        match self.peek().clone() {
            SqlToken::Number(n, _) => match n.parse() {
                Ok(v) => {
                    self.idx += 1;
                    Ok(v)
                }
                Err(_) => self.expected("a whole number"),
            },
            _ => self.expected("a whole number"),
        }
    }

    fn id_or_all(&mut self) -> Result<Option<Ident>> {
        if self.eat_keyword("ALL") {
            Ok(None)
        } else {
            Ok(Some(self.ident()?))
        }
    }

    fn show(&mut self) -> Result<Statement> {
        let what = if self.eat_keyword("STREAMS") {
            ShowKind::Streams
        } else if self.eat_keyword("TABLES") {
            ShowKind::Tables
        } else if self.eat_keywords(&["ALL", "TOPICS"]) {
            ShowKind::Topics { all: true }
        } else if self.eat_keyword("TOPICS") {
            ShowKind::Topics { all: false }
        } else if self.eat_keyword("QUERIES") {
            ShowKind::Queries
        } else if self.eat_keyword("FUNCTIONS") {
            ShowKind::Functions
        } else if self.eat_keyword("PROPERTIES") {
            ShowKind::Properties
        } else if self.eat_keyword("TYPES") {
            ShowKind::Types
        } else if self.eat_keyword("VARIABLES") {
            ShowKind::Variables
        } else {
            return self.expected(
                "STREAMS, TABLES, TOPICS, QUERIES, FUNCTIONS, PROPERTIES, TYPES or VARIABLES",
            );
        };
        let extended = self.eat_keyword("EXTENDED");
        Ok(Statement::Show { what, extended })
    }

    fn describe(&mut self) -> Result<Statement> {
        let target = if self.eat_keyword("FUNCTION") {
            DescribeTarget::Function(self.ident()?)
        } else if self.keyword_at(0, "STREAMS") && !matches!(self.peek_nth(1), SqlToken::Word(_))
            || self.keyword_at(0, "STREAMS") && self.keyword_at(1, "EXTENDED")
        {
            self.idx += 1;
            DescribeTarget::Streams
        } else if self.keyword_at(0, "TABLES")
            && (!matches!(self.peek_nth(1), SqlToken::Word(_)) || self.keyword_at(1, "EXTENDED"))
        {
            self.idx += 1;
            DescribeTarget::Tables
        } else {
            DescribeTarget::Source(self.ident()?)
        };
        let extended = self.eat_keyword("EXTENDED");
        Ok(Statement::Describe { target, extended })
    }

    fn drop(&mut self) -> Result<Statement> {
        let kind = if self.eat_keyword("STREAM") {
            SourceKind::Stream
        } else if self.eat_keyword("TABLE") {
            SourceKind::Table
        } else if self.eat_keyword("TYPE") {
            let if_exists = self.eat_keywords(&["IF", "EXISTS"]);
            return Ok(Statement::DropType {
                name: self.ident()?,
                if_exists,
            });
        } else {
            return self.expected("STREAM, TABLE or TYPE");
        };
        let if_exists = self.eat_keywords(&["IF", "EXISTS"]);
        let name = self.ident()?;
        let delete_topic = self.eat_keywords(&["DELETE", "TOPIC"]);
        Ok(Statement::Drop {
            kind,
            if_exists,
            name,
            delete_topic,
        })
    }

    fn duration(&mut self) -> Result<Duration> {
        let value = self.whole_number()?;
        let unit = match self.peek() {
            SqlToken::Word(w) if w.quote_style.is_none() => TimeUnit::parse(&w.value),
            _ => None,
        };
        match unit {
            Some(unit) => {
                self.idx += 1;
                Ok(Duration { value, unit })
            }
            None => self.expected("a time unit (MILLISECONDS, SECONDS, MINUTES, HOURS or DAYS)"),
        }
    }

    fn grace(&mut self) -> Result<Option<Duration>> {
        if self.eat_keywords(&["GRACE", "PERIOD"]) {
            Ok(Some(self.duration()?))
        } else {
            Ok(None)
        }
    }

    fn window(&mut self) -> Result<WindowSpec> {
        let kind_word = if self.eat_keyword("TUMBLING") {
            "TUMBLING"
        } else if self.eat_keyword("HOPPING") {
            "HOPPING"
        } else if self.eat_keyword("SESSION") {
            "SESSION"
        } else {
            return self.expected("TUMBLING, HOPPING or SESSION");
        };
        self.expect(&SqlToken::LParen)?;
        let kind = match kind_word {
            "TUMBLING" => {
                self.expect_keyword("SIZE")?;
                WindowKind::Tumbling {
                    size: self.duration()?,
                }
            }
            "HOPPING" => {
                self.expect_keyword("SIZE")?;
                let size = self.duration()?;
                self.expect(&SqlToken::Comma)?;
                self.expect_keyword("ADVANCE")?;
                self.expect_keyword("BY")?;
                WindowKind::Hopping {
                    size,
                    advance: self.duration()?,
                }
            }
            _ => WindowKind::Session {
                gap: self.duration()?,
            },
        };
        let (mut retention, mut grace) = (None, None);
        while self.eat(&SqlToken::Comma) {
            if self.eat_keyword("RETENTION") {
                retention = Some(self.duration()?);
            } else if let Some(g) = self.grace()? {
                grace = Some(g);
            } else {
                return self.expected("RETENTION or GRACE PERIOD");
            }
        }
        self.expect(&SqlToken::RParen)?;
        Ok(WindowSpec {
            kind,
            retention,
            grace,
        })
    }

    fn create(&mut self) -> Result<Statement> {
        let or_replace = self.eat_keywords(&["OR", "REPLACE"]);
        if !or_replace && self.eat_keyword("TYPE") {
            let if_not_exists = self.eat_keywords(&["IF", "NOT", "EXISTS"]);
            let name = self.ident()?;
            self.expect_keyword("AS")?;
            let data_type = self.data_type()?;
            return Ok(Statement::CreateType {
                name,
                if_not_exists,
                data_type,
            });
        }
        let source = self.eat_keyword("SOURCE");
        let kind = if self.eat_keyword("STREAM") {
            SourceKind::Stream
        } else if self.eat_keyword("TABLE") {
            SourceKind::Table
        } else {
            return self.expected("STREAM or TABLE");
        };
        let if_not_exists = self.eat_keywords(&["IF", "NOT", "EXISTS"]);
        let name = self.ident()?;
        let mut columns = Vec::new();
        if self.eat(&SqlToken::LParen) {
            loop {
                columns.push(self.column_def()?);
                if !self.eat(&SqlToken::Comma) {
                    break;
                }
            }
            self.expect(&SqlToken::RParen)?;
        }
        let properties = self.with_properties()?;
        if self.eat_keyword("AS") {
            if source {
                return Err(SqlError::new(
                    name.pos,
                    "CREATE SOURCE cannot be combined with AS SELECT",
                ));
            }
            if !columns.is_empty() {
                return Err(SqlError::new(
                    name.pos,
                    format!("{kind} {name}: a CREATE ... AS SELECT takes its columns from the query; remove the column list"),
                ));
            }
            let query = Box::new(self.query()?);
            return Ok(Statement::CreateAs(CreateAs {
                kind,
                or_replace,
                if_not_exists,
                name,
                properties,
                query,
            }));
        }
        Ok(Statement::CreateSource(CreateSource {
            kind,
            source,
            or_replace,
            if_not_exists,
            name,
            columns,
            properties,
        }))
    }

    fn column_def(&mut self) -> Result<ColumnDef> {
        let name = self.ident()?;
        let data_type = self.data_type()?;
        let constraint = if self.eat_keywords(&["PRIMARY", "KEY"]) {
            ColumnConstraint::PrimaryKey
        } else if self.eat_keyword("KEY") {
            ColumnConstraint::Key
        } else if self.eat_keyword("HEADERS") {
            ColumnConstraint::Headers
        } else if self.eat_keyword("HEADER") {
            self.expect(&SqlToken::LParen)?;
            let key = self.string()?;
            self.expect(&SqlToken::RParen)?;
            ColumnConstraint::Header(key)
        } else {
            ColumnConstraint::None
        };
        Ok(ColumnDef {
            name,
            data_type,
            constraint,
        })
    }

    fn with_properties(&mut self) -> Result<Vec<Property>> {
        let mut props = Vec::new();
        if self.eat_keyword("WITH") {
            self.expect(&SqlToken::LParen)?;
            loop {
                let name = self.ident()?;
                self.expect(&SqlToken::Eq)?;
                let value = match self.literal()? {
                    Some(l) => l,
                    None => return self.expected("a literal property value"),
                };
                props.push(Property { name, value });
                if !self.eat(&SqlToken::Comma) {
                    break;
                }
            }
            self.expect(&SqlToken::RParen)?;
        }
        Ok(props)
    }

    fn insert(&mut self) -> Result<Statement> {
        self.expect_keyword("INTO")?;
        let target = self.ident()?;
        // `(a, b) VALUES` lists columns; `(SELECT` would be a query.
        let mut columns = None;
        if matches!(self.peek(), SqlToken::LParen) && !self.keyword_at(1, "SELECT") {
            self.idx += 1;
            let mut cols = vec![self.ident()?];
            while self.eat(&SqlToken::Comma) {
                cols.push(self.ident()?);
            }
            self.expect(&SqlToken::RParen)?;
            columns = Some(cols);
        }
        if self.eat_keyword("VALUES") {
            self.expect(&SqlToken::LParen)?;
            let values = self.expr_list()?;
            self.expect(&SqlToken::RParen)?;
            return Ok(Statement::InsertValues {
                target,
                columns,
                values,
            });
        }
        if columns.is_some() {
            return self.expected("VALUES");
        }
        if !self.at_keyword("SELECT") {
            return self.expected("VALUES or SELECT");
        }
        Ok(Statement::InsertSelect {
            target,
            query: Box::new(self.query()?),
        })
    }

    fn query(&mut self) -> Result<Query> {
        self.expect_keyword("SELECT")?;
        let mut projection = vec![self.select_item()?];
        while self.eat(&SqlToken::Comma) {
            // ksqlDB scripts in the wild (the seed's event join among them)
            // leave a comma before FROM; accept it.
            if self.at_keyword("FROM") {
                break;
            }
            projection.push(self.select_item()?);
        }
        self.expect_keyword("FROM")?;
        let from = self.relation()?;
        let window = if self.eat_keyword("WINDOW") {
            Some(self.window()?)
        } else {
            None
        };
        let selection = if self.eat_keyword("WHERE") {
            Some(self.expr()?)
        } else {
            None
        };
        let group_by = if self.eat_keywords(&["GROUP", "BY"]) {
            self.group_by_list()?
        } else {
            vec![]
        };
        let partition_by = if self.eat_keywords(&["PARTITION", "BY"]) {
            self.expr_list()?
        } else {
            vec![]
        };
        let having = if self.eat_keyword("HAVING") {
            Some(self.expr()?)
        } else {
            None
        };
        let emit = if self.eat_keyword("EMIT") {
            if self.eat_keyword("CHANGES") {
                Some(Emit::Changes)
            } else if self.eat_keyword("FINAL") {
                Some(Emit::Final)
            } else {
                return self.expected("CHANGES or FINAL");
            }
        } else {
            None
        };
        let limit = if self.eat_keyword("LIMIT") {
            match self.next() {
                SqlToken::Number(n, _) => match n.parse() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.idx -= 1;
                        return self.expected("a whole number");
                    }
                },
                _ => {
                    self.idx -= 1;
                    return self.expected("a whole number");
                }
            }
        } else {
            None
        };
        Ok(Query {
            projection,
            from,
            window,
            selection,
            group_by,
            partition_by,
            having,
            emit,
            limit,
        })
    }

    /// GROUP BY accepts `a, b` and the parenthesised `(a, b)`.
    fn group_by_list(&mut self) -> Result<Vec<Expr>> {
        if matches!(self.peek(), SqlToken::LParen) {
            let save = self.idx;
            self.idx += 1;
            if let Ok(list) = self.expr_list() {
                if list.len() > 1 && self.eat(&SqlToken::RParen) {
                    return Ok(list);
                }
            }
            self.idx = save;
        }
        self.expr_list()
    }

    fn select_item(&mut self) -> Result<SelectItem> {
        if matches!(self.peek(), SqlToken::Mul) {
            let pos = self.pos();
            self.idx += 1;
            return Ok(SelectItem::Wildcard(pos));
        }
        if matches!(self.peek(), SqlToken::Word(_))
            && matches!(self.peek_nth(1), SqlToken::Period)
            && matches!(self.peek_nth(2), SqlToken::Mul)
        {
            let q = self.ident()?;
            self.idx += 2;
            return Ok(SelectItem::QualifiedWildcard(q));
        }
        let expr = self.expr()?;
        if matches!(self.peek(), SqlToken::Arrow) && matches!(self.peek_nth(1), SqlToken::Mul) {
            self.idx += 2;
            return Ok(SelectItem::StructAll(expr));
        }
        let alias = self.alias()?;
        Ok(SelectItem::Expr { expr, alias })
    }

    fn alias(&mut self) -> Result<Option<Ident>> {
        if self.eat_keyword("AS") {
            return Ok(Some(self.ident()?));
        }
        match self.peek() {
            SqlToken::Word(w) if !is_reserved(w) => Ok(Some(self.ident()?)),
            _ => Ok(None),
        }
    }

    fn relation(&mut self) -> Result<Relation> {
        let mut left = self.source_relation()?;
        loop {
            let kind = if self.eat_keyword("JOIN") || self.eat_keywords(&["INNER", "JOIN"]) {
                JoinKind::Inner
            } else if self.eat_keywords(&["LEFT", "JOIN"])
                || self.eat_keywords(&["LEFT", "OUTER", "JOIN"])
            {
                JoinKind::Left
            } else if self.eat_keywords(&["RIGHT", "JOIN"])
                || self.eat_keywords(&["RIGHT", "OUTER", "JOIN"])
            {
                JoinKind::Right
            } else if self.eat_keywords(&["FULL", "JOIN"])
                || self.eat_keywords(&["FULL", "OUTER", "JOIN"])
            {
                JoinKind::Full
            } else {
                return Ok(left);
            };
            let right = self.source_relation()?;
            let within = if self.eat_keyword("WITHIN") {
                let (before, after) = if self.eat(&SqlToken::LParen) {
                    let before = self.duration()?;
                    self.expect(&SqlToken::Comma)?;
                    let after = self.duration()?;
                    self.expect(&SqlToken::RParen)?;
                    (before, Some(after))
                } else {
                    (self.duration()?, None)
                };
                Some(Within {
                    before,
                    after,
                    grace: self.grace()?,
                })
            } else {
                None
            };
            self.expect_keyword("ON")?;
            let on = self.expr()?;
            left = Relation::Join {
                left: Box::new(left),
                right: Box::new(right),
                kind,
                within,
                on,
            };
        }
    }

    fn source_relation(&mut self) -> Result<Relation> {
        let name = self.ident()?;
        let alias = self.alias()?;
        Ok(Relation::Source { name, alias })
    }

    // ---- types --------------------------------------------------------

    fn data_type(&mut self) -> Result<DataType> {
        let pos = self.pos();
        let word = match self.peek() {
            SqlToken::Word(w) if w.quote_style.is_none() => w.value.to_uppercase(),
            // A quoted name can only be a type CREATE TYPE registered.
            SqlToken::Word(_) => return Ok(DataType::Named(self.ident()?)),
            _ => return self.expected("a type"),
        };
        self.idx += 1;
        let scalar = |t: SqlType| DataType::Scalar(t);
        Ok(match word.as_str() {
            "BOOLEAN" => scalar(SqlType::Boolean),
            "INT" | "INTEGER" => scalar(SqlType::Int),
            "BIGINT" => scalar(SqlType::BigInt),
            "DOUBLE" => scalar(SqlType::Double),
            "STRING" | "VARCHAR" => {
                // ksqlDB accepts a parameter here (`VARCHAR(STRING)`) and ignores it.
                if matches!(self.peek(), SqlToken::LParen)
                    && matches!(self.peek_nth(2), SqlToken::RParen)
                {
                    self.idx += 3;
                }
                scalar(SqlType::String)
            }
            "BYTES" => scalar(SqlType::Bytes),
            "DATE" => scalar(SqlType::Date),
            "TIME" => scalar(SqlType::Time),
            "TIMESTAMP" => scalar(SqlType::Timestamp),
            "DECIMAL" => {
                self.expect(&SqlToken::LParen)?;
                let precision = self.small_number()?;
                self.expect(&SqlToken::Comma)?;
                let scale = self.small_number()?;
                self.expect(&SqlToken::RParen)?;
                if precision == 0 || scale > precision {
                    return Err(SqlError::new(
                        pos,
                        format!("DECIMAL({precision}, {scale}): precision must be at least 1 and scale at most the precision"),
                    ));
                }
                scalar(SqlType::Decimal { precision, scale })
            }
            "ARRAY" => {
                self.expect(&SqlToken::Lt)?;
                let t = self.data_type()?;
                self.expect_gt()?;
                DataType::Array(Box::new(t))
            }
            "MAP" => {
                self.expect(&SqlToken::Lt)?;
                let k = self.data_type()?;
                self.expect(&SqlToken::Comma)?;
                let v = self.data_type()?;
                self.expect_gt()?;
                DataType::Map(Box::new(k), Box::new(v))
            }
            "STRUCT" => {
                self.expect(&SqlToken::Lt)?;
                let mut fields = Vec::new();
                if !matches!(self.peek(), SqlToken::Gt | SqlToken::ShiftRight) {
                    loop {
                        let name = self.ident()?;
                        let ty = self.data_type()?;
                        fields.push((name.normalized(), ty));
                        if !self.eat(&SqlToken::Comma) {
                            break;
                        }
                    }
                }
                self.expect_gt()?;
                DataType::Struct(fields)
            }
            // Any other name may be a type CREATE TYPE registered.
            _ => {
                self.idx -= 1;
                DataType::Named(self.ident()?)
            }
        })
    }

    fn small_number(&mut self) -> Result<u8> {
        match self.peek().clone() {
            SqlToken::Number(n, _) => match n.parse() {
                Ok(v) => {
                    self.idx += 1;
                    Ok(v)
                }
                Err(_) => self.expected("a number from 0 to 255"),
            },
            _ => self.expected("a number"),
        }
    }

    // ---- expressions --------------------------------------------------
    //
    // Precedence, loosest first: OR, AND, NOT, comparisons (and IS, IN,
    // BETWEEN, LIKE), + - ||, * / %, unary minus, then the postfix `->`,
    // `[]` which bind tightest (so `a->b IS NULL` is `(a->b) IS NULL`).

    fn expr_list(&mut self) -> Result<Vec<Expr>> {
        let mut list = vec![self.expr()?];
        while self.eat(&SqlToken::Comma) {
            list.push(self.expr()?);
        }
        Ok(list)
    }

    fn expr(&mut self) -> Result<Expr> {
        self.or_expr()
    }

    fn binary(left: Expr, op: BinaryOp, right: Expr) -> Expr {
        let pos = left.pos;
        Expr::new(
            ExprKind::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
            },
            pos,
        )
    }

    fn or_expr(&mut self) -> Result<Expr> {
        let mut left = self.and_expr()?;
        while self.eat_keyword("OR") {
            let right = self.and_expr()?;
            left = Self::binary(left, BinaryOp::Or, right);
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr> {
        let mut left = self.not_expr()?;
        while self.eat_keyword("AND") {
            let right = self.not_expr()?;
            left = Self::binary(left, BinaryOp::And, right);
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr> {
        let pos = self.pos();
        if self.eat_keyword("NOT") {
            let e = self.not_expr()?;
            return Ok(Expr::new(
                ExprKind::Unary {
                    op: UnaryOp::Not,
                    expr: Box::new(e),
                },
                pos,
            ));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr> {
        let left = self.additive()?;
        let op = match self.peek() {
            SqlToken::Eq | SqlToken::DoubleEq => Some(BinaryOp::Eq),
            SqlToken::Neq => Some(BinaryOp::NotEq),
            SqlToken::Lt => Some(BinaryOp::Lt),
            SqlToken::LtEq => Some(BinaryOp::LtEq),
            SqlToken::Gt => Some(BinaryOp::Gt),
            SqlToken::GtEq => Some(BinaryOp::GtEq),
            _ => None,
        };
        if let Some(op) = op {
            self.idx += 1;
            let right = self.additive()?;
            return Ok(Self::binary(left, op, right));
        }
        let pos = left.pos;
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            if self.eat_keywords(&["DISTINCT", "FROM"]) {
                let right = self.additive()?;
                return Ok(Expr::new(
                    ExprKind::IsDistinctFrom {
                        left: Box::new(left),
                        right: Box::new(right),
                        negated,
                    },
                    pos,
                ));
            }
            if !self.at_keyword("NULL") {
                return self.expected("NULL or DISTINCT FROM");
            }
            self.expect_keyword("NULL")?;
            return Ok(Expr::new(
                ExprKind::IsNull {
                    expr: Box::new(left),
                    negated,
                },
                pos,
            ));
        }
        let negated = self.at_keyword("NOT")
            && (self.keyword_at(1, "IN")
                || self.keyword_at(1, "BETWEEN")
                || self.keyword_at(1, "LIKE"));
        if negated {
            self.idx += 1;
        }
        if self.eat_keyword("IN") {
            self.expect(&SqlToken::LParen)?;
            let list = self.expr_list()?;
            self.expect(&SqlToken::RParen)?;
            return Ok(Expr::new(
                ExprKind::InList {
                    expr: Box::new(left),
                    list,
                    negated,
                },
                pos,
            ));
        }
        if self.eat_keyword("BETWEEN") {
            let low = self.additive()?;
            self.expect_keyword("AND")?;
            let high = self.additive()?;
            return Ok(Expr::new(
                ExprKind::Between {
                    expr: Box::new(left),
                    low: Box::new(low),
                    high: Box::new(high),
                    negated,
                },
                pos,
            ));
        }
        if self.eat_keyword("LIKE") {
            let pattern = self.additive()?;
            let escape = if self.eat_keyword("ESCAPE") {
                Some(self.string()?)
            } else {
                None
            };
            return Ok(Expr::new(
                ExprKind::Like {
                    expr: Box::new(left),
                    pattern: Box::new(pattern),
                    escape,
                    negated,
                },
                pos,
            ));
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek() {
                SqlToken::Plus => BinaryOp::Plus,
                SqlToken::Minus => BinaryOp::Minus,
                SqlToken::StringConcat => BinaryOp::Concat,
                _ => return Ok(left),
            };
            self.idx += 1;
            let right = self.multiplicative()?;
            left = Self::binary(left, op, right);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                SqlToken::Mul => BinaryOp::Multiply,
                SqlToken::Div => BinaryOp::Divide,
                SqlToken::Mod => BinaryOp::Modulo,
                _ => return Ok(left),
            };
            self.idx += 1;
            let right = self.unary()?;
            left = Self::binary(left, op, right);
        }
    }

    fn unary(&mut self) -> Result<Expr> {
        let pos = self.pos();
        let op = match self.peek() {
            SqlToken::Minus => UnaryOp::Minus,
            SqlToken::Plus => UnaryOp::Plus,
            _ => return self.postfix(),
        };
        self.idx += 1;
        let e = self.unary()?;
        Ok(Expr::new(
            ExprKind::Unary {
                op,
                expr: Box::new(e),
            },
            pos,
        ))
    }

    fn postfix(&mut self) -> Result<Expr> {
        let mut e = self.primary()?;
        loop {
            let pos = e.pos;
            if matches!(self.peek(), SqlToken::Arrow) && !matches!(self.peek_nth(1), SqlToken::Mul)
            {
                self.idx += 1;
                let field = self.ident()?;
                e = Expr::new(
                    ExprKind::Deref {
                        expr: Box::new(e),
                        field,
                    },
                    pos,
                );
            } else if self.eat(&SqlToken::LBracket) {
                let index = self.expr()?;
                self.expect(&SqlToken::RBracket)?;
                e = Expr::new(
                    ExprKind::Subscript {
                        expr: Box::new(e),
                        index: Box::new(index),
                    },
                    pos,
                );
            } else {
                return Ok(e);
            }
        }
    }

    fn literal(&mut self) -> Result<Option<Literal>> {
        let lit = match self.peek().clone() {
            SqlToken::Number(n, _) => Literal::Number(n),
            SqlToken::SingleQuotedString(s) => Literal::String(s),
            SqlToken::Minus if matches!(self.peek_nth(1), SqlToken::Number(..)) => {
                self.idx += 1;
                match self.peek().clone() {
                    SqlToken::Number(n, _) => Literal::Number(format!("-{n}")),
                    _ => unreachable!("checked above"),
                }
            }
            SqlToken::Word(w) if w.quote_style.is_none() => match w.value.to_uppercase().as_str() {
                "NULL" => Literal::Null,
                "TRUE" => Literal::Boolean(true),
                "FALSE" => Literal::Boolean(false),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        self.idx += 1;
        Ok(Some(lit))
    }

    fn primary(&mut self) -> Result<Expr> {
        let pos = self.pos();
        if !matches!(self.peek(), SqlToken::Minus) {
            if let Some(lit) = self.literal()? {
                return Ok(Expr::new(ExprKind::Literal(lit), pos));
            }
        }
        match self.peek().clone() {
            SqlToken::LParen => {
                self.idx += 1;
                // Grouping lives in the tree's shape; the printer puts
                // parentheses back, so no node is kept for them.
                let e = self.expr()?;
                self.expect(&SqlToken::RParen)?;
                Ok(e)
            }
            SqlToken::Word(w) => {
                let unquoted = w.quote_style.is_none();
                if unquoted && w.value.eq_ignore_ascii_case("CASE") {
                    self.idx += 1;
                    return self.case(pos);
                }
                if unquoted
                    && w.value.eq_ignore_ascii_case("CAST")
                    && matches!(self.peek_nth(1), SqlToken::LParen)
                {
                    self.idx += 2;
                    let e = self.expr()?;
                    self.expect_keyword("AS")?;
                    let data_type = self.data_type()?;
                    self.expect(&SqlToken::RParen)?;
                    return Ok(Expr::new(
                        ExprKind::Cast {
                            expr: Box::new(e),
                            data_type,
                        },
                        pos,
                    ));
                }
                if unquoted
                    && w.value.eq_ignore_ascii_case("ARRAY")
                    && matches!(self.peek_nth(1), SqlToken::LBracket)
                {
                    self.idx += 2;
                    let items = if matches!(self.peek(), SqlToken::RBracket) {
                        vec![]
                    } else {
                        self.expr_list()?
                    };
                    self.expect(&SqlToken::RBracket)?;
                    return Ok(Expr::new(ExprKind::Array(items), pos));
                }
                if unquoted
                    && w.value.eq_ignore_ascii_case("MAP")
                    && matches!(self.peek_nth(1), SqlToken::LParen)
                {
                    self.idx += 2;
                    let entries = self.assignments(Self::expr)?;
                    return Ok(Expr::new(ExprKind::Map(entries), pos));
                }
                if unquoted
                    && w.value.eq_ignore_ascii_case("STRUCT")
                    && matches!(self.peek_nth(1), SqlToken::LParen)
                {
                    self.idx += 2;
                    let fields = self.assignments(Self::ident)?;
                    return Ok(Expr::new(ExprKind::Struct(fields), pos));
                }
                if is_reserved(&w) {
                    return self.expected("an expression");
                }
                let name = self.ident()?;
                if self.eat(&SqlToken::LParen) {
                    if self.eat(&SqlToken::Mul) {
                        self.expect(&SqlToken::RParen)?;
                        return Ok(Expr::new(
                            ExprKind::Function {
                                name,
                                args: vec![],
                                star: true,
                            },
                            pos,
                        ));
                    }
                    let mut args = Vec::new();
                    if !matches!(self.peek(), SqlToken::RParen) {
                        loop {
                            args.push(self.function_arg()?);
                            if !self.eat(&SqlToken::Comma) {
                                break;
                            }
                        }
                    }
                    self.expect(&SqlToken::RParen)?;
                    return Ok(Expr::new(
                        ExprKind::Function {
                            name,
                            args,
                            star: false,
                        },
                        pos,
                    ));
                }
                if matches!(self.peek(), SqlToken::Period) {
                    self.idx += 1;
                    let column = self.ident()?;
                    return Ok(Expr::new(
                        ExprKind::Column {
                            qualifier: Some(name),
                            name: column,
                        },
                        pos,
                    ));
                }
                Ok(Expr::new(
                    ExprKind::Column {
                        qualifier: None,
                        name,
                    },
                    pos,
                ))
            }
            _ => self.expected("an expression"),
        }
    }

    /// `k := v, ...)` after a constructor's `(`: `MAP(k := v)` has
    /// expressions as keys, `STRUCT(f := v)` names.
    fn assignments<K>(
        &mut self,
        mut key: impl FnMut(&mut Self) -> Result<K>,
    ) -> Result<Vec<(K, Expr)>> {
        let mut out = Vec::new();
        if self.eat(&SqlToken::RParen) {
            return Ok(out);
        }
        loop {
            let k = key(self)?;
            self.expect(&SqlToken::Assignment)?;
            out.push((k, self.expr()?));
            if !self.eat(&SqlToken::Comma) {
                break;
            }
        }
        self.expect(&SqlToken::RParen)?;
        Ok(out)
    }

    /// A function argument: an expression or a lambda (`x => ...`,
    /// `(x, y) => ...`).
    fn function_arg(&mut self) -> Result<Expr> {
        let pos = self.pos();
        let mut n = 0;
        let params_end = match self.peek() {
            SqlToken::Word(_) => Some(1),
            SqlToken::LParen => loop {
                n += 1;
                match (self.peek_nth(n), self.peek_nth(n + 1)) {
                    (SqlToken::Word(_), SqlToken::Comma) => n += 1,
                    (SqlToken::Word(_), SqlToken::RParen) => break Some(n + 2),
                    _ => break None,
                }
            },
            _ => None,
        };
        if let Some(end) = params_end {
            if matches!(self.peek_nth(end), SqlToken::RArrow) {
                let parenthesised = matches!(self.peek(), SqlToken::LParen);
                if parenthesised {
                    self.idx += 1;
                }
                let mut params = vec![self.ident()?];
                while self.eat(&SqlToken::Comma) {
                    params.push(self.ident()?);
                }
                if parenthesised {
                    self.expect(&SqlToken::RParen)?;
                }
                self.expect(&SqlToken::RArrow)?;
                let body = self.expr()?;
                return Ok(Expr::new(
                    ExprKind::Lambda {
                        params,
                        body: Box::new(body),
                    },
                    pos,
                ));
            }
        }
        self.expr()
    }

    fn case(&mut self, pos: Pos) -> Result<Expr> {
        let operand = if self.at_keyword("WHEN") {
            None
        } else {
            Some(Box::new(self.expr()?))
        };
        let mut whens = Vec::new();
        while self.eat_keyword("WHEN") {
            let w = self.expr()?;
            self.expect_keyword("THEN")?;
            let t = self.expr()?;
            whens.push((w, t));
        }
        if whens.is_empty() {
            return self.expected("WHEN");
        }
        let else_ = if self.eat_keyword("ELSE") {
            Some(Box::new(self.expr()?))
        } else {
            None
        };
        self.expect_keyword("END")?;
        Ok(Expr::new(
            ExprKind::Case {
                operand,
                whens,
                else_,
            },
            pos,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(sql: &str) {
        let first = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        for p in &first {
            let printed = p.statement.to_string();
            let again = parse(&printed).unwrap_or_else(|e| panic!("reparse of {printed}: {e}"));
            assert_eq!(again.len(), 1);
            assert_eq!(
                again[0].statement, p.statement,
                "round trip changed {printed}"
            );
        }
    }

    #[test]
    fn seed_first_order_statements_round_trip() {
        round_trip(
            "create stream `stm_order_candidate` ( user_id bigint key, order_id bigint )
             with ( kafka_topic='STREAM.ORDER.CANDIDATE', key_format='AVRO', value_format='AVRO', partitions=1 );
             create table `tb_min_order` with (kafka_topic='TABLE.MIN_ORDER', partitions=1) as
             select user_id, min(order_id) as min_order_id from `stm_order_candidate` group by user_id;
             insert into `stm_order_candidate` (user_id, order_id) values (1, 97);
             insert into `stm_order_candidate` select after->user_id as user_id, after->order_id as order_id
             from `stg_order` where op = 'c' and after->user_id is not null partition by after->user_id emit changes;
             create stream `stm_min_order` with (kafka_topic='STREAM.MIN_ORDER', key_format='JSON') as
             select s.user_id as user_id, true as min_order from `stm_order_candidate` s
             left join `tb_min_order` t on s.user_id = t.user_id
             where (t.user_id is null or t.min_order_id = s.order_id) emit changes;",
        );
    }

    #[test]
    fn custom_type_names_round_trip_wherever_a_type_goes() {
        round_trip(
            "create type if not exists address as struct<street string, `zip` int>;
             create stream s (k int key, home address, book map<string, array<`Address`>>)
               with (kafka_topic='s', value_format='JSON');
             select cast(home as address) from s emit changes;
             drop type if exists address;
             alter stream s add column x address, add y int;
             alter system 'ksql.x' = 'y';",
        );
        match &parse("create stream s (a `Address`) with (kafka_topic='s');").unwrap()[0].statement
        {
            Statement::CreateSource(c) => assert_eq!(
                c.columns[0].data_type,
                DataType::Named(Ident {
                    value: "Address".into(),
                    quoted: true,
                    pos: Pos {
                        line: 1,
                        column: 20
                    }
                })
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn arrow_binds_tighter_than_is_null() {
        let e = parse_expr("after->id is not null").unwrap();
        match e.kind {
            ExprKind::IsNull {
                expr,
                negated: true,
            } => {
                assert!(matches!(expr.kind, ExprKind::Deref { .. }))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn precedence_and_subscripts() {
        assert_eq!(
            parse_expr("1 + 2 * 3").unwrap().to_string(),
            "(1 + (2 * 3))"
        );
        assert_eq!(
            parse_expr("a or b and not c = 1").unwrap().to_string(),
            "(a OR (b AND (NOT (c = 1))))"
        );
        assert_eq!(
            parse_expr("latest_by_offset(toggle, 2)[1]")
                .unwrap()
                .to_string(),
            "latest_by_offset(toggle, 2)[1]"
        );
        assert_eq!(
            parse_expr("cast(x as array<array<int>>)")
                .unwrap()
                .to_string(),
            "CAST(x AS ARRAY<ARRAY<INTEGER>>)"
        );
    }

    #[test]
    fn identifiers_keep_quoting() {
        let e = parse_expr("`a`.B").unwrap();
        match e.kind {
            ExprKind::Column {
                qualifier: Some(q),
                name,
            } => {
                assert_eq!(q.normalized(), "a");
                assert_eq!(name.normalized(), "B");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_name_line_and_column() {
        let err = parse(
            "create stream s (id bigint key)\n  with (kafka_topic = 't' value_format='JSON');",
        )
        .unwrap_err();
        assert_eq!(err.pos.line, 2);
        assert_eq!(err.pos.column, 27);
        assert!(err.message.contains("expected ')'"), "{err}");
        let err = parse("select a from b where;").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1, column 22: expected an expression, found ';'"
        );
        let err = parse("select 'abc from b;").unwrap_err();
        assert_eq!(err.pos.line, 1);
    }

    /// Found by `ddsql-bench parser-fuzz`: reserved words taken as aliases
    /// printed SQL that did not parse back.
    #[test]
    fn reserved_words_are_not_names() {
        for sql in [
            "CREATE STREAM O AS SELECT * FROM INP AS SELECT",
            "CREATE STREAM O AS SELECT * FROM INPUT AS PARTITION",
        ] {
            let err = parse(sql).unwrap_err();
            assert!(err.message.contains("reserved word"), "{err}");
        }
        round_trip("select `end`, `from`.`select` from `from`;");
    }

    #[test]
    fn parse_all_reports_every_syntax_error() {
        let (ok, errors) = parse_all("select from x;\ncreate stream s (a int) with (kafka_topic='t', value_format='JSON');\ninsert into;\n");
        assert_eq!(ok.len(), 1);
        assert_eq!(
            errors.iter().map(|e| e.pos.line).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }

    #[test]
    fn statement_text_is_kept() {
        let stmts = parse("insert into s values (1);\n\ninsert into s values (2)").unwrap();
        assert_eq!(stmts[0].text, "insert into s values (1)");
        assert_eq!(stmts[1].text, "insert into s values (2)");
        assert_eq!(stmts[1].pos.line, 3);
    }
}
