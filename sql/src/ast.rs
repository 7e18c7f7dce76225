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
}

#[derive(Clone, Debug, PartialEq)]
pub struct CreateSource {
    pub kind: SourceKind,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnConstraint {
    None,
    Key,
    PrimaryKey,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColumnDef {
    pub name: Ident,
    pub data_type: SqlType,
    pub constraint: ColumnConstraint,
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
        on: Expr,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
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
        data_type: SqlType,
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
        negated: bool,
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
                negated,
            } => {
                write!(
                    f,
                    "({expr} {}LIKE {pattern})",
                    if *negated { "NOT " } else { "" }
                )
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
                on,
            } => {
                let kind = match kind {
                    JoinKind::Inner => "INNER",
                    JoinKind::Left => "LEFT",
                    JoinKind::Right => "RIGHT",
                    JoinKind::Full => "FULL",
                };
                write!(f, "{left} {kind} JOIN {right} ON {on}")
            }
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        comma_list(f, &self.projection)?;
        write!(f, " FROM {}", self.from)?;
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
    if_not_exists: bool,
    name: &Ident,
) -> fmt::Result {
    f.write_str("CREATE ")?;
    if or_replace {
        f.write_str("OR REPLACE ")?;
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
                create_prefix(f, c.kind, c.or_replace, c.if_not_exists, &c.name)?;
                if !c.columns.is_empty() {
                    f.write_str(" (")?;
                    for (i, col) in c.columns.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{} {}", col.name, col.data_type)?;
                        match col.constraint {
                            ColumnConstraint::None => {}
                            ColumnConstraint::Key => f.write_str(" KEY")?,
                            ColumnConstraint::PrimaryKey => f.write_str(" PRIMARY KEY")?,
                        }
                    }
                    f.write_str(")")?;
                }
                with_clause(f, &c.properties)
            }
            Statement::CreateAs(c) => {
                create_prefix(f, c.kind, c.or_replace, c.if_not_exists, &c.name)?;
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
        }
    }
}
