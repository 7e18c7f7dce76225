//! The syntax tree of the ksqlDB dialect, as written.
//!
//! Names are kept as written (with whether they were quoted); normalisation
//! (upper-casing unquoted names) happens once, in [`Ident::normalized`].
//! `Display` prints SQL that parses back to an equal tree, which the
//! round-trip tests check.

use std::fmt;

use crate::error::Pos;
use crate::types::SqlType;

/// An identifier as written. Unquoted names are case-insensitive and mean
/// their upper-cased form; back-quoted names keep their case.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub value: String,
    pub quoted: bool,
    pub pos: Pos,
}

impl Ident {
    pub fn new(value: impl Into<String>) -> Self {
        Ident {
            value: value.into(),
            quoted: true,
            pos: Pos::default(),
        }
    }

    /// The name this identifier denotes in the catalog.
    pub fn normalized(&self) -> String {
        if self.quoted {
            self.value.clone()
        } else {
            self.value.to_uppercase()
        }
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.quoted {
            f.write_str(&quote_ident(&self.value))
        } else {
            f.write_str(&self.value)
        }
    }
}

/// Back-quotes a name, doubling embedded back-quotes.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn quote_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SourceKind {
    Stream,
    Table,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Stream => "STREAM",
            SourceKind::Table => "TABLE",
        })
    }
}

/// One statement with the text it was parsed from.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    pub statement: Statement,
    /// The statement's own text, without the terminating `;`.
    pub text: String,
    pub pos: Pos,
    /// Byte offset of the statement in the script.
    pub offset: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// `CREATE STREAM|TABLE name (columns) WITH (...)`
    CreateSource(CreateSource),
    /// `CREATE STREAM|TABLE name WITH (...) AS SELECT ...`
    CreateAs(CreateAs),
    /// `INSERT INTO name SELECT ...`
    InsertSelect { target: Ident, query: Box<Query> },
    /// `INSERT INTO name (columns) VALUES (...)`
    InsertValues {
        target: Ident,
        columns: Option<Vec<Ident>>,
        values: Vec<Expr>,
    },
    /// A push (`EMIT CHANGES`) or pull query.
    Select(Box<Query>),
    /// `SHOW|LIST STREAMS|TABLES|TOPICS|QUERIES|... [EXTENDED]`
    Show { what: ShowKind, extended: bool },
    /// `DESCRIBE name|STREAMS|TABLES|FUNCTION f [EXTENDED]`
    Describe {
        target: DescribeTarget,
        extended: bool,
    },
    /// `EXPLAIN statement` or `EXPLAIN query_id`
    Explain(ExplainTarget),
    /// `DROP STREAM|TABLE [IF EXISTS] name [DELETE TOPIC]`
    Drop {
        kind: SourceKind,
        if_exists: bool,
        name: Ident,
        delete_topic: bool,
    },
    /// `TERMINATE query_id`, or `TERMINATE ALL` (`None`).
    Terminate(Option<Ident>),
    /// `PAUSE query_id|ALL`
    Pause(Option<Ident>),
    /// `RESUME query_id|ALL`
    Resume(Option<Ident>),
    /// `SET 'name' = 'value'`
    Set { name: String, value: String },
    /// `UNSET 'name'`
    Unset(String),
    /// `DEFINE name = 'value'`
    Define { name: Ident, value: String },
    /// `UNDEFINE name`
    Undefine(Ident),
    /// `PRINT topic [FROM BEGINNING] [INTERVAL n] [LIMIT n]`
    Print {
        topic: Ident,
        from_beginning: bool,
        interval: Option<u64>,
        limit: Option<u64>,
    },
    /// `CREATE TYPE [IF NOT EXISTS] name AS type`
    CreateType {
        name: Ident,
        if_not_exists: bool,
        data_type: DataType,
    },
    /// `DROP TYPE [IF EXISTS] name`
    DropType { name: Ident, if_exists: bool },
    /// `RUN SCRIPT 'file'`
    RunScript(String),
    /// `ALTER STREAM|TABLE name ADD [COLUMN] c type, ...`
    Alter {
        kind: SourceKind,
        name: Ident,
        columns: Vec<(Ident, DataType)>,
    },
    /// `ALTER SYSTEM 'name' = 'value'`
    AlterSystem { name: String, value: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowKind {
    Streams,
    Tables,
    /// `SHOW [ALL] TOPICS`
    Topics {
        all: bool,
    },
    Queries,
    Functions,
    Properties,
    Types,
    Variables,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DescribeTarget {
    Source(Ident),
    Streams,
    Tables,
    Function(Ident),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExplainTarget {
    Statement(Box<Statement>),
    Query(Ident),
}

/// A time unit of a duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
}

impl TimeUnit {
    pub fn parse(word: &str) -> Option<TimeUnit> {
        Some(match word.to_uppercase().as_str() {
            "MILLISECOND" | "MILLISECONDS" => TimeUnit::Millisecond,
            "SECOND" | "SECONDS" => TimeUnit::Second,
            "MINUTE" | "MINUTES" => TimeUnit::Minute,
            "HOUR" | "HOURS" => TimeUnit::Hour,
            "DAY" | "DAYS" => TimeUnit::Day,
            _ => return None,
        })
    }
    pub fn millis(&self) -> u64 {
        match self {
            TimeUnit::Millisecond => 1,
            TimeUnit::Second => 1_000,
            TimeUnit::Minute => 60_000,
            TimeUnit::Hour => 3_600_000,
            TimeUnit::Day => 86_400_000,
        }
    }
}

/// A duration as written: `30 SECONDS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Duration {
    pub value: u64,
    pub unit: TimeUnit,
}

impl Duration {
    pub fn millis(&self) -> u64 {
        self.value.saturating_mul(self.unit.millis())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    Tumbling { size: Duration },
    Hopping { size: Duration, advance: Duration },
    Session { gap: Duration },
}

/// `WINDOW TUMBLING|HOPPING|SESSION (...)`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSpec {
    pub kind: WindowKind,
    pub retention: Option<Duration>,
    pub grace: Option<Duration>,
}

/// `WITHIN n unit` or `WITHIN (before, after)`, with an optional grace period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Within {
    pub before: Duration,
    /// `None` when written with one duration (before = after).
    pub after: Option<Duration>,
    pub grace: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateSource {
    pub kind: SourceKind,
    /// `CREATE SOURCE ...`: read-only.
    pub source: bool,
    pub or_replace: bool,
    pub if_not_exists: bool,
    pub name: Ident,
    pub columns: Vec<ColumnDef>,
    pub properties: Vec<Property>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateAs {
    pub kind: SourceKind,
    pub or_replace: bool,
    pub if_not_exists: bool,
    pub name: Ident,
    pub properties: Vec<Property>,
    pub query: Box<Query>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnConstraint {
    None,
    Key,
    PrimaryKey,
    /// `HEADERS`: every header of the record.
    Headers,
    /// `HEADER('key')`: the value of the record's last header `key`.
    Header(String),
}

impl ColumnConstraint {
    pub fn is_key(&self) -> bool {
        matches!(self, ColumnConstraint::Key | ColumnConstraint::PrimaryKey)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDef {
    pub name: Ident,
    pub data_type: DataType,
    pub constraint: ColumnConstraint,
}

/// A type as written: SQL's own, or (anywhere inside) the name of one
/// `CREATE TYPE` registered, which only the binder can resolve, since the
/// statement that registers it may be in the same script.
#[derive(Clone, Debug, PartialEq)]
pub enum DataType {
    /// A type without parts: `INT`, `DECIMAL(4, 2)`, `TIMESTAMP`, ...
    Scalar(SqlType),
    Array(Box<DataType>),
    Map(Box<DataType>, Box<DataType>),
    Struct(Vec<(String, DataType)>),
    Named(Ident),
}

impl From<SqlType> for DataType {
    fn from(t: SqlType) -> DataType {
        match t {
            SqlType::Array(t) => DataType::Array(Box::new((*t).into())),
            SqlType::Map(k, v) => DataType::Map(Box::new((*k).into()), Box::new((*v).into())),
            SqlType::Struct(fields) => {
                DataType::Struct(fields.into_iter().map(|(n, t)| (n, t.into())).collect())
            }
            t => DataType::Scalar(t),
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Scalar(t) => write!(f, "{t}"),
            DataType::Array(t) => write!(f, "ARRAY<{t}>"),
            DataType::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
            DataType::Struct(fields) => {
                f.write_str("STRUCT<")?;
                for (i, (name, ty)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} {ty}", quote_ident(name))?;
                }
                f.write_str(">")
            }
            DataType::Named(name) => write!(f, "{name}"),
        }
    }
}

/// A `WITH` property: `name = literal`.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    pub name: Ident,
    pub value: Literal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub projection: Vec<SelectItem>,
    pub from: Relation,
    pub window: Option<WindowSpec>,
    pub selection: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub partition_by: Vec<Expr>,
    pub having: Option<Expr>,
    pub emit: Option<Emit>,
    pub limit: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    Changes,
    Final,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SelectItem {
    Expr {
        expr: Expr,
        alias: Option<Ident>,
    },
    /// `*`
    Wildcard(Pos),
    /// `alias.*`
    QualifiedWildcard(Ident),
    /// `expr->*`: every field of a struct.
    StructAll(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Relation {
    Source {
        name: Ident,
        alias: Option<Ident>,
    },
    Join {
        left: Box<Relation>,
        right: Box<Relation>,
        kind: JoinKind,
        within: Option<Within>,
        on: Expr,
    },
}

impl Relation {
    /// Where the relation starts: its first source's name.
    pub fn pos(&self) -> Pos {
        match self {
            Relation::Source { name, .. } => name.pos,
            Relation::Join { left, .. } => left.pos(),
        }
    }
}

impl SelectItem {
    pub fn pos(&self) -> Pos {
        match self {
            SelectItem::Expr { expr, .. } | SelectItem::StructAll(expr) => expr.pos,
            SelectItem::Wildcard(pos) => *pos,
            SelectItem::QualifiedWildcard(alias) => alias.pos,
        }
    }
}

/// Which rows a join keeps: the matched pairs, plus (outer joins) the rows
/// of a side that match nothing, padded with NULLs for the other side. The
/// plan uses it as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
}

impl JoinKind {
    /// Whether unmatched left rows appear (LEFT and FULL).
    pub fn keeps_left(self) -> bool {
        matches!(self, JoinKind::Left | JoinKind::Full)
    }

    /// Whether unmatched right rows appear (RIGHT and FULL).
    pub fn keeps_right(self) -> bool {
        matches!(self, JoinKind::Right | JoinKind::Full)
    }

    pub fn name(self) -> &'static str {
        match self {
            JoinKind::Inner => "INNER",
            JoinKind::Left => "LEFT",
            JoinKind::Right => "RIGHT",
            JoinKind::Full => "FULL",
        }
    }
}

/// A literal as written; its SQL type is decided by the binder (`5` is an
/// INT, `5000000000` a BIGINT, `1.5` a DECIMAL, `1e3` a DOUBLE).
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Null,
    Boolean(bool),
    Number(String),
    String(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Plus,
    Minus,
    Multiply,
    Divide,
    Modulo,
    Concat,
}

impl BinaryOp {
    pub fn symbol(&self) -> &'static str {
        match self {
            BinaryOp::Or => "OR",
            BinaryOp::And => "AND",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::Plus => "+",
            BinaryOp::Minus => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::Modulo => "%",
            BinaryOp::Concat => "||",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Minus,
    Plus,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `name` or `qualifier.name`
    Column {
        qualifier: Option<Ident>,
        name: Ident,
    },
    Literal(Literal),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// `expr->field`
    Deref {
        expr: Box<Expr>,
        field: Ident,
    },
    /// `expr[index]`
    Subscript {
        expr: Box<Expr>,
        index: Box<Expr>,
    },
    /// `name(args)`, `name(*)` is `star: true`.
    Function {
        name: Ident,
        args: Vec<Expr>,
        star: bool,
    },
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        else_: Option<Box<Expr>>,
    },
    Cast {
        expr: Box<Expr>,
        data_type: DataType,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        escape: Option<String>,
        negated: bool,
    },
    /// `a IS [NOT] DISTINCT FROM b`
    IsDistinctFrom {
        left: Box<Expr>,
        right: Box<Expr>,
        negated: bool,
    },
    /// `ARRAY[a, b]`
    Array(Vec<Expr>),
    /// `MAP(k := v, ...)`
    Map(Vec<(Expr, Expr)>),
    /// `STRUCT(name := v, ...)`
    Struct(Vec<(Ident, Expr)>),
    /// `x => body` or `(x, y) => body`, as a function argument.
    Lambda {
        params: Vec<Ident>,
        body: Box<Expr>,
    },
}

impl Expr {
    pub fn new(kind: ExprKind, pos: Pos) -> Self {
        Expr { kind, pos }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Boolean(b) => f.write_str(if *b { "TRUE" } else { "FALSE" }),
            Literal::Number(n) => f.write_str(n),
            Literal::String(s) => f.write_str(&quote_string(s)),
        }
    }
}

fn comma_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Operands are printed with explicit parentheses where the parser
        // could bind differently, so printing never changes meaning.
        match &self.kind {
            ExprKind::Column {
                qualifier: Some(q),
                name,
            } => write!(f, "{q}.{name}"),
            ExprKind::Column {
                qualifier: None,
                name,
            } => write!(f, "{name}"),
            ExprKind::Literal(l) => write!(f, "{l}"),
            ExprKind::Binary { op, left, right } => write!(f, "({left} {} {right})", op.symbol()),
            ExprKind::Unary {
                op: UnaryOp::Not,
                expr,
            } => write!(f, "(NOT {expr})"),
            ExprKind::Unary {
                op: UnaryOp::Minus,
                expr,
            } => write!(f, "(-{expr})"),
            ExprKind::Unary {
                op: UnaryOp::Plus,
                expr,
            } => write!(f, "(+{expr})"),
            ExprKind::IsNull { expr, negated } => {
                write!(f, "({expr} IS {}NULL)", if *negated { "NOT " } else { "" })
            }
            ExprKind::Deref { expr, field } => write!(f, "{expr}->{field}"),
            ExprKind::Subscript { expr, index } => write!(f, "{expr}[{index}]"),
            ExprKind::Function { name, args, star } => {
                write!(f, "{name}(")?;
                if *star {
                    f.write_str("*")?;
                } else {
                    comma_list(f, args)?;
                }
                f.write_str(")")
            }
            ExprKind::Case {
                operand,
                whens,
                else_,
            } => {
                f.write_str("CASE")?;
                if let Some(o) = operand {
                    write!(f, " {o}")?;
                }
                for (w, t) in whens {
                    write!(f, " WHEN {w} THEN {t}")?;
                }
                if let Some(e) = else_ {
                    write!(f, " ELSE {e}")?;
                }
                f.write_str(" END")
            }
            ExprKind::Cast { expr, data_type } => write!(f, "CAST({expr} AS {data_type})"),
            ExprKind::InList {
                expr,
                list,
                negated,
            } => {
                write!(f, "({expr} {}IN (", if *negated { "NOT " } else { "" })?;
                comma_list(f, list)?;
                f.write_str("))")
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated,
            } => write!(
                f,
                "({expr} {}BETWEEN {low} AND {high})",
                if *negated { "NOT " } else { "" }
            ),
            ExprKind::Like {
                expr,
                pattern,
                escape,
                negated,
            } => {
                write!(
                    f,
                    "({expr} {}LIKE {pattern}",
                    if *negated { "NOT " } else { "" }
                )?;
                if let Some(e) = escape {
                    write!(f, " ESCAPE {}", quote_string(e))?;
                }
                f.write_str(")")
            }
            ExprKind::IsDistinctFrom {
                left,
                right,
                negated,
            } => {
                write!(
                    f,
                    "({left} IS {}DISTINCT FROM {right})",
                    if *negated { "NOT " } else { "" }
                )
            }
            ExprKind::Array(items) => {
                f.write_str("ARRAY[")?;
                comma_list(f, items)?;
                f.write_str("]")
            }
            ExprKind::Map(entries) => {
                f.write_str("MAP(")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} := {v}")?;
                }
                f.write_str(")")
            }
            ExprKind::Struct(fields) => {
                f.write_str("STRUCT(")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} := {v}")?;
                }
                f.write_str(")")
            }
            ExprKind::Lambda { params, body } => {
                f.write_str("(")?;
                comma_list(f, params)?;
                write!(f, ") => {body}")
            }
        }
    }
}

impl fmt::Display for SelectItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectItem::Expr {
                expr,
                alias: Some(a),
            } => write!(f, "{expr} AS {a}"),
            SelectItem::Expr { expr, alias: None } => write!(f, "{expr}"),
            SelectItem::Wildcard(_) => f.write_str("*"),
            SelectItem::QualifiedWildcard(q) => write!(f, "{q}.*"),
            SelectItem::StructAll(e) => write!(f, "{e}->*"),
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Relation::Source {
                name,
                alias: Some(a),
            } => write!(f, "{name} {a}"),
            Relation::Source { name, alias: None } => write!(f, "{name}"),
            Relation::Join {
                left,
                right,
                kind,
                within,
                on,
            } => {
                let kind = match kind {
                    JoinKind::Inner => "INNER",
                    JoinKind::Left => "LEFT",
                    JoinKind::Right => "RIGHT",
                    JoinKind::Full => "FULL",
                };
                write!(f, "{left} {kind} JOIN {right}")?;
                if let Some(w) = within {
                    write!(f, " {w}")?;
                }
                write!(f, " ON {on}")
            }
        }
    }
}

impl fmt::Display for TimeUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeUnit::Millisecond => "MILLISECONDS",
            TimeUnit::Second => "SECONDS",
            TimeUnit::Minute => "MINUTES",
            TimeUnit::Hour => "HOURS",
            TimeUnit::Day => "DAYS",
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.unit)
    }
}

impl fmt::Display for Within {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.after {
            None => write!(f, "WITHIN {}", self.before)?,
            Some(after) => write!(f, "WITHIN ({}, {after})", self.before)?,
        }
        if let Some(g) = self.grace {
            write!(f, " GRACE PERIOD {g}")?;
        }
        Ok(())
    }
}

impl fmt::Display for WindowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            WindowKind::Tumbling { size } => write!(f, "TUMBLING (SIZE {size}")?,
            WindowKind::Hopping { size, advance } => {
                write!(f, "HOPPING (SIZE {size}, ADVANCE BY {advance}")?
            }
            WindowKind::Session { gap } => write!(f, "SESSION ({gap}")?,
        }
        if let Some(r) = self.retention {
            write!(f, ", RETENTION {r}")?;
        }
        if let Some(g) = self.grace {
            write!(f, ", GRACE PERIOD {g}")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        comma_list(f, &self.projection)?;
        write!(f, " FROM {}", self.from)?;
        if let Some(w) = &self.window {
            write!(f, " WINDOW {w}")?;
        }
        if let Some(s) = &self.selection {
            write!(f, " WHERE {s}")?;
        }
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            comma_list(f, &self.group_by)?;
        }
        if !self.partition_by.is_empty() {
            f.write_str(" PARTITION BY ")?;
            comma_list(f, &self.partition_by)?;
        }
        if let Some(h) = &self.having {
            write!(f, " HAVING {h}")?;
        }
        match self.emit {
            Some(Emit::Changes) => f.write_str(" EMIT CHANGES")?,
            Some(Emit::Final) => f.write_str(" EMIT FINAL")?,
            None => {}
        }
        if let Some(l) = self.limit {
            write!(f, " LIMIT {l}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

fn with_clause(f: &mut fmt::Formatter<'_>, props: &[Property]) -> fmt::Result {
    if !props.is_empty() {
        f.write_str(" WITH (")?;
        comma_list(f, props)?;
        f.write_str(")")?;
    }
    Ok(())
}

fn create_prefix(
    f: &mut fmt::Formatter<'_>,
    kind: SourceKind,
    or_replace: bool,
    source: bool,
    if_not_exists: bool,
    name: &Ident,
) -> fmt::Result {
    f.write_str("CREATE ")?;
    if or_replace {
        f.write_str("OR REPLACE ")?;
    }
    if source {
        f.write_str("SOURCE ")?;
    }
    write!(f, "{kind} ")?;
    if if_not_exists {
        f.write_str("IF NOT EXISTS ")?;
    }
    write!(f, "{name}")
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::CreateSource(c) => {
                create_prefix(f, c.kind, c.or_replace, c.source, c.if_not_exists, &c.name)?;
                if !c.columns.is_empty() {
                    f.write_str(" (")?;
                    for (i, col) in c.columns.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{} {}", col.name, col.data_type)?;
                        match &col.constraint {
                            ColumnConstraint::None => {}
                            ColumnConstraint::Key => f.write_str(" KEY")?,
                            ColumnConstraint::PrimaryKey => f.write_str(" PRIMARY KEY")?,
                            ColumnConstraint::Headers => f.write_str(" HEADERS")?,
                            ColumnConstraint::Header(key) => {
                                write!(f, " HEADER({})", quote_string(key))?
                            }
                        }
                    }
                    f.write_str(")")?;
                }
                with_clause(f, &c.properties)
            }
            Statement::CreateAs(c) => {
                create_prefix(f, c.kind, c.or_replace, false, c.if_not_exists, &c.name)?;
                with_clause(f, &c.properties)?;
                write!(f, " AS {}", c.query)
            }
            Statement::InsertSelect { target, query } => write!(f, "INSERT INTO {target} {query}"),
            Statement::InsertValues {
                target,
                columns,
                values,
            } => {
                write!(f, "INSERT INTO {target} ")?;
                if let Some(cols) = columns {
                    f.write_str("(")?;
                    comma_list(f, cols)?;
                    f.write_str(") ")?;
                }
                f.write_str("VALUES (")?;
                comma_list(f, values)?;
                f.write_str(")")
            }
            Statement::Select(q) => write!(f, "{q}"),
            Statement::Show { what, extended } => {
                f.write_str("SHOW ")?;
                f.write_str(match what {
                    ShowKind::Streams => "STREAMS",
                    ShowKind::Tables => "TABLES",
                    ShowKind::Topics { all: true } => "ALL TOPICS",
                    ShowKind::Topics { all: false } => "TOPICS",
                    ShowKind::Queries => "QUERIES",
                    ShowKind::Functions => "FUNCTIONS",
                    ShowKind::Properties => "PROPERTIES",
                    ShowKind::Types => "TYPES",
                    ShowKind::Variables => "VARIABLES",
                })?;
                if *extended {
                    f.write_str(" EXTENDED")?;
                }
                Ok(())
            }
            Statement::Describe { target, extended } => {
                f.write_str("DESCRIBE ")?;
                match target {
                    DescribeTarget::Source(n) => write!(f, "{n}")?,
                    DescribeTarget::Streams => f.write_str("STREAMS")?,
                    DescribeTarget::Tables => f.write_str("TABLES")?,
                    DescribeTarget::Function(n) => write!(f, "FUNCTION {n}")?,
                }
                if *extended {
                    f.write_str(" EXTENDED")?;
                }
                Ok(())
            }
            Statement::Explain(ExplainTarget::Statement(s)) => write!(f, "EXPLAIN {s}"),
            Statement::Explain(ExplainTarget::Query(id)) => write!(f, "EXPLAIN {id}"),
            Statement::Drop {
                kind,
                if_exists,
                name,
                delete_topic,
            } => {
                write!(f, "DROP {kind} ")?;
                if *if_exists {
                    f.write_str("IF EXISTS ")?;
                }
                write!(f, "{name}")?;
                if *delete_topic {
                    f.write_str(" DELETE TOPIC")?;
                }
                Ok(())
            }
            Statement::Alter {
                kind,
                name,
                columns,
            } => {
                write!(f, "ALTER {kind} {name}")?;
                for (i, (c, t)) in columns.iter().enumerate() {
                    let sep = if i == 0 { " " } else { ", " };
                    write!(f, "{sep}ADD COLUMN {c} {t}")?;
                }
                Ok(())
            }
            Statement::AlterSystem { name, value } => write!(
                f,
                "ALTER SYSTEM {} = {}",
                quote_string(name),
                quote_string(value)
            ),
            Statement::Terminate(id) => write!(
                f,
                "TERMINATE {}",
                id.as_ref().map(|i| i.to_string()).unwrap_or("ALL".into())
            ),
            Statement::Pause(id) => write!(
                f,
                "PAUSE {}",
                id.as_ref().map(|i| i.to_string()).unwrap_or("ALL".into())
            ),
            Statement::Resume(id) => write!(
                f,
                "RESUME {}",
                id.as_ref().map(|i| i.to_string()).unwrap_or("ALL".into())
            ),
            Statement::Set { name, value } => {
                write!(f, "SET {}={}", quote_string(name), quote_string(value))
            }
            Statement::Unset(name) => write!(f, "UNSET {}", quote_string(name)),
            Statement::Define { name, value } => write!(f, "DEFINE {name}={}", quote_string(value)),
            Statement::Undefine(name) => write!(f, "UNDEFINE {name}"),
            Statement::Print {
                topic,
                from_beginning,
                interval,
                limit,
            } => {
                write!(f, "PRINT {topic}")?;
                if *from_beginning {
                    f.write_str(" FROM BEGINNING")?;
                }
                if let Some(i) = interval {
                    write!(f, " INTERVAL {i}")?;
                }
                if let Some(l) = limit {
                    write!(f, " LIMIT {l}")?;
                }
                Ok(())
            }
            Statement::CreateType {
                name,
                if_not_exists,
                data_type,
            } => {
                write!(
                    f,
                    "CREATE TYPE {}{name} AS {data_type}",
                    if *if_not_exists { "IF NOT EXISTS " } else { "" }
                )
            }
            Statement::DropType { name, if_exists } => {
                write!(
                    f,
                    "DROP TYPE {}{name}",
                    if *if_exists { "IF EXISTS " } else { "" }
                )
            }
            Statement::RunScript(file) => write!(f, "RUN SCRIPT {}", quote_string(file)),
        }
    }
}
