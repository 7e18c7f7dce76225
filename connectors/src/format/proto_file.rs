//! Columns from a registered `.proto` file: what ksqlDB infers for a
//! PROTOBUF source declared without columns.
//!
//! The file's messages are parsed far enough to type their fields; the
//! message read is the one `*_SCHEMA_FULL_NAME` names, or else the file's
//! first. Field names are upper-cased, as ksqlDB names inferred columns.
//!
//! ddsql's PROTOBUF format numbers a message's fields 1, 2, ... in column
//! order and writes integers as varints and doubles as 64-bit, so a message
//! that numbers its fields otherwise, or uses `float`, the `fixed`/`sfixed`
//! or the zig-zag `sint` types, is refused here with the reason: reading it
//! would give wrong values, not an error.
//!
//! ```
//! use ddsql_connectors::format::proto_file::schema_type;
//! use ddsql_sql::types::SqlType;
//! let proto = r#"syntax = "proto3";
//!     message Key { int32 id = 1; }
//!     message Order { int64 id = 1; string item = 2; repeated string tags = 3; }"#;
//! assert_eq!(
//!     schema_type(proto, Some("Order"), &[]).unwrap(),
//!     SqlType::Struct(vec![
//!         ("ID".into(), SqlType::BigInt),
//!         ("ITEM".into(), SqlType::String),
//!         ("TAGS".into(), SqlType::Array(Box::new(SqlType::String))),
//!     ])
//! );
//! assert!(schema_type("message M { float x = 1; }", None, &[]).unwrap_err().contains("float"));
//! ```

use ddsql_sql::types::SqlType;

/// The type of the message `full_name` names (or the first message) of the
/// `.proto` file `text`: a STRUCT of its fields. `imports` are the files it
/// imports, as `(name, text)` (a Schema Registry's references): their
/// messages may be the types of fields.
pub fn schema_type(
    text: &str,
    full_name: Option<&str>,
    imports: &[(String, String)],
) -> Result<SqlType, String> {
    let mut files = vec![File::parse(text)?];
    for (name, text) in imports {
        files.push(File::parse(text).map_err(|e| format!("imported file {name}: {e}"))?);
    }
    let files = Files(files);
    let message = match full_name {
        Some(name) => files
            .find(0, name, "")
            .ok_or_else(|| format!("the schema has no message named '{name}'"))?,
        None => (
            0,
            files.0[0]
                .messages
                .first()
                .ok_or("the schema declares no message")?,
        ),
    };
    files.message_type(message, 0)
}

/// A file and the files it imports (the first is the file itself).
struct Files(Vec<File>);

#[derive(Debug)]
struct Field {
    name: String,
    number: u32,
    repeated: bool,
    /// The declared type; a `map<K, V>` is `("map", [K, V])`.
    ty: String,
    map: Option<(String, String)>,
}

#[derive(Debug)]
struct Message {
    /// The full name, without the package: `Outer.Inner`.
    name: String,
    fields: Vec<Field>,
}

#[derive(Debug, Default)]
struct File {
    package: String,
    /// Every message, nested ones included, in declaration order.
    messages: Vec<Message>,
    enums: Vec<String>,
}

impl File {
    fn parse(text: &str) -> Result<File, String> {
        let tokens = tokenize(text)?;
        let mut p = Parser {
            tokens: &tokens,
            at: 0,
        };
        let mut file = File::default();
        while let Some(t) = p.next() {
            match t {
                "syntax" | "edition" | "import" | "option" => p.skip_statement(),
                "package" => {
                    file.package = p.next().ok_or("a package without a name")?.to_string();
                    p.skip_statement();
                }
                "message" => p.message("", &mut file)?,
                "enum" => {
                    let name = p.next().ok_or("an enum without a name")?.to_string();
                    p.skip_block()?;
                    file.enums.push(name);
                }
                ";" => {}
                other => return Err(format!("unexpected '{other}' at the top of the file")),
            }
        }
        Ok(file)
    }

    /// The message a type name refers to from within `scope` (a message's
    /// full name): the innermost match first, as protoc resolves names.
    fn find(&self, name: &str, scope: &str) -> Option<&Message> {
        let name = name.trim_start_matches('.');
        let name = name
            .strip_prefix(&format!("{}.", self.package))
            .filter(|_| !self.package.is_empty())
            .unwrap_or(name);
        let mut scope = scope.to_string();
        loop {
            let candidate = if scope.is_empty() {
                name.to_string()
            } else {
                format!("{scope}.{name}")
            };
            if let Some(m) = self.messages.iter().find(|m| m.name == candidate) {
                return Some(m);
            }
            if scope.is_empty() {
                return None;
            }
            scope = scope.rsplit_once('.').map_or("", |(s, _)| s).to_string();
        }
    }
}

impl Files {
    /// The message `name` refers to from within `scope` of file `file`:
    /// that file's own first (innermost scope first), then the top-level
    /// messages of the others.
    fn find(&self, file: usize, name: &str, scope: &str) -> Option<(usize, &Message)> {
        if let Some(m) = self.0[file].find(name, scope) {
            return Some((file, m));
        }
        self.0
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != file)
            .find_map(|(i, f)| f.find(name, "").map(|m| (i, m)))
    }

    fn message_type(
        &self,
        (file, message): (usize, &Message),
        depth: usize,
    ) -> Result<SqlType, String> {
        if depth > 32 {
            return Err(format!(
                "message {} nests itself: a recursive message has no SQL type",
                message.name
            ));
        }
        let mut fields = Vec::new();
        for (i, f) in message.fields.iter().enumerate() {
            if f.number != i as u32 + 1 {
                return Err(format!(
                    "field {} of message {} is number {}: ddsql reads PROTOBUF fields numbered 1, 2, ... in declaration order; declare the columns and renumber the message",
                    f.name, message.name, f.number
                ));
            }
            let ty = match &f.map {
                Some((k, v)) => SqlType::Map(
                    Box::new(self.field_type(file, k, message, depth)?),
                    Box::new(self.field_type(file, v, message, depth)?),
                ),
                None => self.field_type(file, &f.ty, message, depth)?,
            };
            let ty = if f.repeated {
                SqlType::Array(Box::new(ty))
            } else {
                ty
            };
            fields.push((f.name.to_uppercase(), ty));
        }
        Ok(SqlType::Struct(fields))
    }

    fn field_type(
        &self,
        file: usize,
        ty: &str,
        scope: &Message,
        depth: usize,
    ) -> Result<SqlType, String> {
        Ok(match ty {
            "bool" => SqlType::Boolean,
            "int32" => SqlType::Int,
            "int64" | "uint32" | "uint64" => SqlType::BigInt,
            "double" => SqlType::Double,
            "string" => SqlType::String,
            "bytes" => SqlType::Bytes,
            "float" | "fixed32" | "fixed64" | "sfixed32" | "sfixed64" | "sint32" | "sint64" => {
                return Err(format!(
                    "message {} has a field of type {ty}, which ddsql's PROTOBUF format does not read yet: declare the columns over a message of int32, int64, uint32, uint64, double, bool, string, bytes, messages, maps and repeated fields",
                    scope.name
                ))
            }
            "google.protobuf.Timestamp" => SqlType::Timestamp,
            "google.type.Date" => SqlType::Date,
            "google.type.TimeOfDay" => SqlType::Time,
            other => {
                if let Some(found) = self.find(file, other, &scope.name) {
                    self.message_type(found, depth + 1)?
                } else if self.0.iter().flat_map(|f| &f.enums).any(|e| e == other || other.ends_with(&format!(".{e}"))) {
                    SqlType::String
                } else {
                    return Err(format!(
                        "message {} refers to type {other}, which neither the schema nor the files it imports define: declare the columns",
                        scope.name
                    ));
                }
            }
        })
    }
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let t = self.tokens.get(self.at)?;
        self.at += 1;
        Some(t)
    }

    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn expect(&mut self, want: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => Err(format!("expected '{want}', found '{t}'")),
            None => Err(format!("expected '{want}', found the end of the schema")),
        }
    }

    /// Skips to the end of a statement: its `;`, or a `{ ... }` block.
    fn skip_statement(&mut self) {
        while let Some(t) = self.next() {
            match t {
                ";" => return,
                "{" => {
                    self.at -= 1;
                    let _ = self.skip_block();
                    return;
                }
                _ => {}
            }
        }
    }

    /// Skips a `{ ... }` block, nested blocks included.
    fn skip_block(&mut self) -> Result<(), String> {
        self.expect("{")?;
        let mut depth = 1;
        while depth > 0 {
            match self.next().ok_or("an unclosed '{'")? {
                "{" => depth += 1,
                "}" => depth -= 1,
                _ => {}
            }
        }
        Ok(())
    }

    /// A `message Name { ... }` (the keyword read), nested messages and
    /// enums included, added to `file` under `scope`.
    fn message(&mut self, scope: &str, file: &mut File) -> Result<(), String> {
        let name = self.next().ok_or("a message without a name")?;
        let full = if scope.is_empty() {
            name.to_string()
        } else {
            format!("{scope}.{name}")
        };
        self.expect("{")?;
        let index = file.messages.len();
        file.messages.push(Message {
            name: full.clone(),
            fields: Vec::new(),
        });
        let mut fields = Vec::new();
        let mut in_oneof = 0;
        loop {
            let t = self
                .next()
                .ok_or_else(|| format!("message {full} is not closed"))?;
            match t {
                "}" if in_oneof > 0 => in_oneof -= 1,
                "}" => break,
                ";" => {}
                "message" => self.message(&full, file)?,
                "enum" => {
                    let e = self.next().ok_or("an enum without a name")?;
                    file.enums.push(format!("{full}.{e}"));
                    file.enums.push(e.to_string());
                    self.skip_block()?;
                }
                "oneof" => {
                    self.next();
                    self.expect("{")?;
                    in_oneof += 1;
                }
                "option" | "reserved" | "extensions" => self.skip_statement(),
                "map" => {
                    self.expect("<")?;
                    let k = self.next().ok_or("a map without a key type")?.to_string();
                    self.expect(",")?;
                    let v = self.next().ok_or("a map without a value type")?.to_string();
                    self.expect(">")?;
                    fields.push(self.field_rest("map".into(), false, Some((k, v)))?);
                }
                "repeated" => {
                    let ty = self.next().ok_or("a field without a type")?.to_string();
                    fields.push(self.field_rest(ty, true, None)?);
                }
                "optional" | "required" => {
                    let ty = self.next().ok_or("a field without a type")?.to_string();
                    fields.push(self.field_rest(ty, false, None)?);
                }
                ty => fields.push(self.field_rest(ty.to_string(), false, None)?),
            }
        }
        file.messages[index].fields = fields;
        Ok(())
    }

    /// The rest of a field after its type: `name = N [options];`.
    fn field_rest(
        &mut self,
        ty: String,
        repeated: bool,
        map: Option<(String, String)>,
    ) -> Result<Field, String> {
        let name = self
            .next()
            .ok_or_else(|| format!("a {ty} field without a name"))?
            .to_string();
        self.expect("=")?;
        let number = self
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("field {name} has no number"))?;
        if self.peek() == Some("[") {
            while self.next().is_some_and(|t| t != "]") {}
        }
        self.expect(";")?;
        Ok(Field {
            name,
            number,
            repeated,
            ty,
            map,
        })
    }
}

/// Words (identifiers, dotted names, numbers), quoted strings and single
/// punctuation marks; comments dropped.
fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' | '\'' => {
                let mut s = String::from(c);
                for d in chars.by_ref() {
                    s.push(d);
                    if d == c {
                        break;
                    }
                }
                out.push(s);
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' => {
                let mut word = String::from(c);
                while let Some(&d) = chars.peek() {
                    if d.is_alphanumeric() || d == '_' || d == '.' {
                        word.push(d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(word);
            }
            c if "{}[]<>=;,()".contains(c) => out.push(c.to_string()),
            other => return Err(format!("unexpected '{other}' in the Protobuf schema")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_messages_maps_enums_and_well_known_types() {
        let proto = r#"
            syntax = "proto3";
            package shop.v1;
            import "google/protobuf/timestamp.proto";
            // An order.
            message Order {
                enum State { NEW = 0; PAID = 1; }
                message Line { string sku = 1; int32 qty = 2; }
                int64 id = 1;
                State state = 2;
                repeated Line lines = 3;
                map<string, int64> totals = 4;
                google.protobuf.Timestamp at = 5 [deprecated = true];
                oneof payer { string card = 6; string voucher = 7; }
                reserved 9;
            }"#;
        let ty = schema_type(proto, Some("shop.v1.Order"), &[]).unwrap();
        assert_eq!(
            ty,
            SqlType::Struct(vec![
                ("ID".into(), SqlType::BigInt),
                ("STATE".into(), SqlType::String),
                (
                    "LINES".into(),
                    SqlType::Array(Box::new(SqlType::Struct(vec![
                        ("SKU".into(), SqlType::String),
                        ("QTY".into(), SqlType::Int),
                    ])))
                ),
                (
                    "TOTALS".into(),
                    SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::BigInt))
                ),
                ("AT".into(), SqlType::Timestamp),
                ("CARD".into(), SqlType::String),
                ("VOUCHER".into(), SqlType::String),
            ])
        );
        // Without a name, the first message declared: Order (its nested
        // messages come after it).
        assert_eq!(schema_type(proto, None, &[]).unwrap(), ty);
    }

    #[test]
    fn imported_files_define_types() {
        let event = (
            "event.proto".to_string(),
            "syntax = \"proto3\"; package common; message Event { int64 ts = 1; Kind kind = 2; } enum Kind { A = 0; }".to_string(),
        );
        let main = "import \"event.proto\"; message Logistics { common.Event event = 1; }";
        assert_eq!(
            schema_type(main, None, std::slice::from_ref(&event)).unwrap(),
            SqlType::Struct(vec![(
                "EVENT".into(),
                SqlType::Struct(vec![
                    ("TS".into(), SqlType::BigInt),
                    ("KIND".into(), SqlType::String)
                ])
            )])
        );
        let e = schema_type(main, None, &[]).unwrap_err();
        assert!(
            e.contains("neither the schema nor the files it imports define"),
            "{e}"
        );
        let bad = ("bad.proto".to_string(), "message {".to_string());
        let e = schema_type(main, None, &[bad]).unwrap_err();
        assert!(e.starts_with("imported file bad.proto: "), "{e}");
    }

    #[test]
    fn what_would_read_wrong_is_refused_with_the_reason() {
        let gap = schema_type("message M { int32 a = 1; int32 b = 3; }", None, &[]).unwrap_err();
        assert!(gap.contains("field b of message M is number 3"), "{gap}");
        let import = schema_type("import \"e.proto\"; message M { Event e = 1; }", None, &[]);
        assert!(import.unwrap_err().contains("type Event"));
        assert!(schema_type("message M { int32 a = 1;", None, &[])
            .unwrap_err()
            .contains("not closed"));
        assert!(schema_type("message A { int32 a = 1; }", Some("B"), &[])
            .unwrap_err()
            .contains("no message named 'B'"));
    }
}
