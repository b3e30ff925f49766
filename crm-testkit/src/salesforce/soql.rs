//! The SOQL subset the fake understands (Salesforce REST API guide, "Query"; SOQL and SOSL
//! reference):
//!
//! ```text
//! SELECT item[, item…] FROM Object
//!   [WHERE cond]  [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST][, …]]  [LIMIT n]  [OFFSET n]
//! item:  field | ( SELECT field[, …] FROM ChildRelationship [WHERE …] [ORDER BY …] [LIMIT n] )
//! field: Name | Relationship.Name            (parent fields, one level: Account.Name)
//! cond:  cond AND cond | cond OR cond | NOT cond | ( cond )
//!        field = != <> < <= > >= value | field [NOT] IN (value, …) | field [NOT] LIKE 'pattern'
//!        | field [NOT] IN ( SELECT field FROM Object [WHERE …] )      (semi-join / anti-join)
//! value: 'text' (escapes \' \" \\ \n \r \t \b \f, and \% \_ in LIKE) | number | true | false
//!        | null | 2026-01-31 | 2026-01-31T10:00:00Z (or ±hh:mm)
//! ```
//!
//! Keywords and field names are case-insensitive, text comparisons too (as in Salesforce).
//! Child relationship sub-queries (parent-to-child, in the outer SELECT only) and semi-joins
//! follow the restrictions of Salesforce's SOQL reference ("Semi-Joins with IN and Anti-Joins
//! with NOT IN"): a sub-select is never nested in another, a semi-join selects one field and has
//! no ORDER BY or LIMIT, is not combined with `OR` or `NOT`, and at most two appear in one WHERE.
//! Anything else (functions, aggregates, date literals like `TODAY`) is a `MALFORMED_QUERY`, so
//! an adapter that relies on more fails against this fake first.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

/// A query error: Salesforce error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryError {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

fn malformed(message: impl Into<String>) -> QueryError {
    QueryError {
        code: "MALFORMED_QUERY",
        message: message.into(),
    }
}

/// One character of a quoted string, remembering whether it was escaped (for `LIKE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lit {
    Plain(char),
    Escaped(char),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(Vec<Lit>),
    Num(String),
    DateLit(String),
    Comma,
    LParen,
    RParen,
    Op(&'static str),
}

fn tokenize(text: &str) -> Result<Vec<Tok>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            '=' => {
                out.push(Tok::Op("="));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op("!="));
                i += 2;
            }
            '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let op = match (c, next) {
                    ('<', Some('=')) => "<=",
                    ('<', Some('>')) => "!=",
                    ('>', Some('=')) => ">=",
                    ('<', _) => "<",
                    _ => ">",
                };
                i += if op.len() == 2 { 2 } else { 1 };
                out.push(Tok::Op(op));
            }
            '\'' => {
                i += 1;
                let mut s = Vec::new();
                loop {
                    match chars.get(i) {
                        None => return Err(malformed("unterminated string literal")),
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => {
                            let esc = chars
                                .get(i + 1)
                                .ok_or_else(|| malformed("unterminated string literal"))?;
                            let lit = match esc {
                                '\'' | '"' | '\\' => Lit::Plain(*esc),
                                'n' => Lit::Plain('\n'),
                                'r' => Lit::Plain('\r'),
                                't' => Lit::Plain('\t'),
                                'b' => Lit::Plain('\u{8}'),
                                'f' => Lit::Plain('\u{c}'),
                                '%' | '_' => Lit::Escaped(*esc),
                                other => {
                                    return Err(malformed(format!(
                                        "Invalid string literal: illegal escape sequence \\{other}"
                                    )));
                                }
                            };
                            s.push(lit);
                            i += 2;
                        }
                        Some(ch) => {
                            s.push(Lit::Plain(*ch));
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                let is_date = chars.get(start..start + 5).is_some_and(|w| {
                    w.iter().take(4).all(char::is_ascii_digit) && w.get(4) == Some(&'-')
                });
                while let Some(&d) = chars.get(i) {
                    let ok = if is_date {
                        d.is_ascii_digit() || matches!(d, '-' | ':' | 'T' | 'Z' | '+' | '.')
                    } else {
                        d.is_ascii_digit() || d == '.'
                    };
                    if !ok {
                        break;
                    }
                    i += 1;
                }
                let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
                out.push(if is_date {
                    Tok::DateLit(word)
                } else {
                    Tok::Num(word)
                });
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|d| d.is_alphanumeric() || *d == '_' || *d == '.')
                {
                    i += 1;
                }
                out.push(Tok::Ident(
                    chars.get(start..i).unwrap_or_default().iter().collect(),
                ));
            }
            other => return Err(malformed(format!("unexpected token: '{other}'"))),
        }
    }
    Ok(out)
}

/// A literal value in a condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Text(String),
    Pattern(Vec<LikePart>),
    Number(f64),
    Bool(bool),
    Null,
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
}

/// A piece of a `LIKE` pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LikePart {
    Char(char),
    AnyOne,
    AnyMany,
}

/// A condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(String, &'static str, Literal),
    In(String, bool, Vec<Literal>),
    Like(String, bool, Vec<LikePart>),
    /// `field [NOT] IN (SELECT one_field FROM Other …)`. The store runs the sub-select and
    /// turns this into an [`Expr::In`] before evaluation.
    SemiJoin(String, bool, Box<Query>),
}

/// One ORDER BY key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Order {
    pub(crate) field: String,
    pub(crate) descending: bool,
    pub(crate) nulls_last: bool,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    pub(crate) fields: Vec<String>,
    /// Child relationship sub-queries (`(SELECT … FROM Cases)`); their `object` is the
    /// relationship name.
    pub(crate) children: Vec<Query>,
    pub(crate) object: String,
    pub(crate) filter: Option<Expr>,
    pub(crate) order: Vec<Order>,
    pub(crate) limit: Option<usize>,
    pub(crate) offset: Option<usize>,
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// Inside a sub-select (child relationship or semi-join): no further nesting.
    nested: bool,
}

const KEYWORDS: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE", "GROUP", "HAVING",
    "INCLUDES", "EXCLUDES", "WITH", "FOR", "USING", "TYPEOF",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), QueryError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn unexpected(&self) -> QueryError {
        match self.peek() {
            None => malformed("unexpected token: <EOF>"),
            Some(t) => malformed(format!("unexpected token: {}", describe(t))),
        }
    }

    fn field(&mut self) -> Result<String, QueryError> {
        match self.next() {
            Some(Tok::Ident(w))
                if !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(&w))
                    && !w.starts_with('.')
                    && !w.ends_with('.')
                    && !w.contains("..") =>
            {
                Ok(w)
            }
            _ => {
                self.pos = self.pos.saturating_sub(1);
                Err(self.unexpected())
            }
        }
    }

    fn usize_value(&mut self) -> Result<usize, QueryError> {
        match self.next() {
            Some(Tok::Num(n)) => n
                .parse()
                .map_err(|_| malformed(format!("invalid number: {n}"))),
            _ => {
                self.pos = self.pos.saturating_sub(1);
                Err(self.unexpected())
            }
        }
    }

    /// The outer query: a SELECT and nothing after it, semi-joins within Salesforce's limits.
    fn query(&mut self) -> Result<Query, QueryError> {
        let q = self.select()?;
        if self.peek().is_some() {
            return Err(self.unexpected());
        }
        if let Some(f) = &q.filter {
            check_semi_joins(f)?;
        }
        Ok(q)
    }

    /// `( SELECT … )` after the opening parenthesis: the sub-select and its closing one.
    fn sub_select(&mut self) -> Result<Query, QueryError> {
        if self.nested {
            return Err(malformed(
                "Nesting of semi join sub-selects is not supported",
            ));
        }
        self.nested = true;
        let q = self.select()?;
        self.nested = false;
        match self.next() {
            Some(Tok::RParen) => Ok(q),
            _ => {
                self.pos = self.pos.saturating_sub(1);
                Err(self.unexpected())
            }
        }
    }

    fn starts_sub_select(&self) -> bool {
        matches!(self.peek(), Some(Tok::LParen))
            && matches!(self.toks.get(self.pos + 1), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("SELECT"))
    }

    fn select(&mut self) -> Result<Query, QueryError> {
        self.expect_kw("SELECT")?;
        let mut fields = Vec::new();
        let mut children = Vec::new();
        loop {
            if self.starts_sub_select() {
                self.pos += 1;
                children.push(self.sub_select()?);
            } else {
                fields.push(self.field()?);
            }
            if matches!(self.peek(), Some(Tok::Comma)) {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.expect_kw("FROM")?;
        let object = self.field()?;
        let filter = if self.eat_kw("WHERE") {
            Some(self.or_expr()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let field = self.field()?;
                let descending = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                let nulls_last = if self.eat_kw("NULLS") {
                    if self.eat_kw("LAST") {
                        true
                    } else {
                        self.expect_kw("FIRST")?;
                        false
                    }
                } else {
                    descending
                };
                order.push(Order {
                    field,
                    descending,
                    nulls_last,
                });
                if matches!(self.peek(), Some(Tok::Comma)) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("LIMIT") {
            Some(self.usize_value()?)
        } else {
            None
        };
        let offset = if self.eat_kw("OFFSET") {
            let n = self.usize_value()?;
            if n > 2000 {
                return Err(QueryError {
                    code: "NUMBER_OUTSIDE_VALID_RANGE",
                    message: "Maximum SOQL offset allowed is 2000".into(),
                });
            }
            Some(n)
        } else {
            None
        };
        Ok(Query {
            fields,
            children,
            object,
            filter,
            order,
            limit,
            offset,
        })
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and_expr()?;
        while self.eat_kw("OR") {
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not_expr()?;
        while self.eat_kw("AND") {
            let right = self.not_expr()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, QueryError> {
        if self.eat_kw("NOT") {
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        if matches!(self.peek(), Some(Tok::LParen)) {
            self.pos += 1;
            let inner = self.or_expr()?;
            match self.next() {
                Some(Tok::RParen) => return Ok(inner),
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    return Err(self.unexpected());
                }
            }
        }
        let field = self.field()?;
        let negated = self.eat_kw("NOT");
        if self.eat_kw("IN") {
            match self.next() {
                Some(Tok::LParen) => {}
                _ => {
                    self.pos = self.pos.saturating_sub(1);
                    return Err(self.unexpected());
                }
            }
            if self.is_kw("SELECT") {
                let sub = self.sub_select()?;
                let [_] = sub.fields.as_slice() else {
                    return Err(malformed(
                        "a semi join sub-select must select exactly one field",
                    ));
                };
                if !sub.children.is_empty()
                    || !sub.order.is_empty()
                    || sub.limit.is_some()
                    || sub.offset.is_some()
                {
                    return Err(malformed(
                        "ORDER BY, LIMIT, OFFSET and child sub-queries are not allowed in a semi join sub-select",
                    ));
                }
                if field.contains('.') {
                    return Err(malformed(
                        "the left operand of a semi join cannot use relationships",
                    ));
                }
                return Ok(Expr::SemiJoin(field, negated, Box::new(sub)));
            }
            let mut values = vec![self.literal(false)?];
            loop {
                match self.next() {
                    Some(Tok::Comma) => values.push(self.literal(false)?),
                    Some(Tok::RParen) => break,
                    _ => {
                        self.pos = self.pos.saturating_sub(1);
                        return Err(self.unexpected());
                    }
                }
            }
            return Ok(Expr::In(field, negated, values));
        }
        if self.eat_kw("LIKE") {
            return match self.literal(true)? {
                Literal::Pattern(p) => Ok(Expr::Like(field, negated, p)),
                _ => Err(malformed("LIKE needs a quoted pattern")),
            };
        }
        if negated {
            return Err(self.unexpected());
        }
        let op = match self.next() {
            Some(Tok::Op(op)) => op,
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.unexpected());
            }
        };
        let value = self.literal(false)?;
        Ok(Expr::Cmp(field, op, value))
    }

    fn literal(&mut self, pattern: bool) -> Result<Literal, QueryError> {
        match self.next() {
            Some(Tok::Str(lits)) if pattern => Ok(Literal::Pattern(
                lits.into_iter()
                    .map(|l| match l {
                        Lit::Plain('%') => LikePart::AnyMany,
                        Lit::Plain('_') => LikePart::AnyOne,
                        Lit::Plain(c) | Lit::Escaped(c) => LikePart::Char(c),
                    })
                    .collect(),
            )),
            Some(Tok::Str(lits)) => {
                let mut s = String::new();
                for l in lits {
                    match l {
                        Lit::Plain(c) => s.push(c),
                        // `\%` and `\_` only mean something inside LIKE patterns.
                        Lit::Escaped(c) => {
                            s.push('\\');
                            s.push(c);
                        }
                    }
                }
                Ok(Literal::Text(s))
            }
            Some(Tok::Num(n)) => n
                .parse::<f64>()
                .map(Literal::Number)
                .map_err(|_| malformed(format!("invalid number: {n}"))),
            Some(Tok::DateLit(d)) => parse_date_literal(&d),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Some(Tok::Ident(w)) => Err(malformed(format!(
                "unexpected token: '{w}' (date literals and bind variables are not supported by this fake; quote text values)"
            ))),
            _ => {
                self.pos = self.pos.saturating_sub(1);
                Err(self.unexpected())
            }
        }
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(w) | Tok::Num(w) | Tok::DateLit(w) => format!("'{w}'"),
        Tok::Str(_) => "a string literal".into(),
        Tok::Comma => "','".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Op(o) => format!("'{o}'"),
    }
}

fn parse_date_literal(text: &str) -> Result<Literal, QueryError> {
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Literal::Date(d));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(Literal::DateTime(dt.with_timezone(&Utc)));
    }
    if let Ok(dt) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Ok(Literal::DateTime(dt.with_timezone(&Utc)));
    }
    Err(QueryError {
        code: "MALFORMED_QUERY",
        message: format!("value of filter criterion is not a valid date or datetime: {text}"),
    })
}

fn has_semi_join(e: &Expr) -> bool {
    match e {
        Expr::SemiJoin(..) => true,
        Expr::And(a, b) | Expr::Or(a, b) => has_semi_join(a) || has_semi_join(b),
        Expr::Not(a) => has_semi_join(a),
        Expr::Cmp(..) | Expr::In(..) | Expr::Like(..) => false,
    }
}

fn count_semi_joins(e: &Expr) -> usize {
    match e {
        Expr::SemiJoin(..) => 1,
        Expr::And(a, b) | Expr::Or(a, b) => count_semi_joins(a) + count_semi_joins(b),
        Expr::Not(a) => count_semi_joins(a),
        Expr::Cmp(..) | Expr::In(..) | Expr::Like(..) => 0,
    }
}

/// Salesforce's limits on semi-joins in the outer WHERE: never under `OR` or `NOT` (write an
/// anti-join instead of `NOT`), at most two.
fn check_semi_joins(e: &Expr) -> Result<(), QueryError> {
    fn walk(e: &Expr) -> Result<(), QueryError> {
        match e {
            Expr::Or(a, b) => {
                if has_semi_join(a) || has_semi_join(b) {
                    return Err(malformed(
                        "Semi join sub-selects are not allowed with the 'OR' operator",
                    ));
                }
                Ok(())
            }
            Expr::Not(a) => {
                if has_semi_join(a) {
                    return Err(malformed(
                        "Semi join sub-selects are not allowed with the 'NOT' operator",
                    ));
                }
                Ok(())
            }
            Expr::And(a, b) => walk(a).and_then(|()| walk(b)),
            Expr::Cmp(..) | Expr::In(..) | Expr::Like(..) | Expr::SemiJoin(..) => Ok(()),
        }
    }
    walk(e)?;
    if count_semi_joins(e) > 2 {
        return Err(malformed(
            "Maximum of 2 semi join sub-selects are allowed in one WHERE clause",
        ));
    }
    Ok(())
}

/// Parses a query.
pub(crate) fn parse(text: &str) -> Result<Query, QueryError> {
    let toks = tokenize(text)?;
    Parser {
        toks,
        pos: 0,
        nested: false,
    }
    .query()
}

/// How a record's field is read during evaluation: the resolver follows parent paths
/// (`Account.Name`) and knows field types.
pub(crate) trait Resolve {
    /// The value at `path` (`Name`, `Account.Name`), `Value::Null` when unset or the parent is
    /// missing.
    fn value(&self, path: &str) -> Value;
    /// The field type at `path` (`string`, `id`, `reference`, `date`, `datetime`, `boolean`…).
    fn kind(&self, path: &str) -> String;
}

fn text_cmp(a: &str, b: &str) -> Ordering {
    a.to_lowercase().cmp(&b.to_lowercase())
}

fn parse_dt(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Compares a field value with a literal: `None` when they cannot be compared (a type
/// mismatch, or either side null).
fn compare(kind: &str, value: &Value, lit: &Literal) -> Result<Option<Ordering>, QueryError> {
    let mismatch = |what: &str| QueryError {
        code: "INVALID_QUERY_FILTER_OPERATOR",
        message: format!("value of filter criterion must be of type {what}"),
    };
    if matches!(lit, Literal::Null) || value.is_null() {
        return Ok(None);
    }
    Ok(match kind {
        "boolean" => match (value, lit) {
            (Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
            _ => return Err(mismatch("boolean and should not be enclosed in quotes")),
        },
        "double" | "currency" | "percent" | "int" => match (value.as_f64(), lit) {
            (Some(a), Literal::Number(b)) => a.partial_cmp(b),
            _ => return Err(mismatch("number and should not be enclosed in quotes")),
        },
        "date" => {
            let a = value
                .as_str()
                .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
            match (a, lit) {
                (Some(a), Literal::Date(b)) => Some(a.cmp(b)),
                _ => return Err(mismatch("date and should not be enclosed in quotes")),
            }
        }
        "datetime" => {
            let a = value.as_str().and_then(parse_dt);
            match (a, lit) {
                (Some(a), Literal::DateTime(b)) => Some(a.cmp(b)),
                _ => return Err(mismatch("dateTime and should not be enclosed in quotes")),
            }
        }
        "id" | "reference" => match (value.as_str(), lit) {
            (Some(a), Literal::Text(b)) => {
                // Ids compare in their 18-character form; a value that is no id matches nothing.
                match super::ids::normalize(b) {
                    Some(b) => Some(a.cmp(b.as_str())),
                    None => {
                        return Err(QueryError {
                            code: "INVALID_QUERY_FILTER_OPERATOR",
                            message: format!("invalid ID field: {b}"),
                        });
                    }
                }
            }
            _ => return Err(mismatch("id and should be enclosed in quotes")),
        },
        _ => match (value, lit) {
            (Value::String(a), Literal::Text(b)) => Some(text_cmp(a, b)),
            _ => return Err(mismatch("string and should be enclosed in quotes")),
        },
    })
}

fn like(text: &str, pattern: &[LikePart]) -> bool {
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let p: Vec<LikePart> = pattern
        .iter()
        .map(|x| match x {
            LikePart::Char(c) => LikePart::Char(c.to_lowercase().next().unwrap_or(*c)),
            other => *other,
        })
        .collect();
    // Classic wildcard matching with backtracking on the last `%`.
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(LikePart::AnyMany) => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(LikePart::AnyOne) => {
                ti += 1;
                pi += 1;
            }
            Some(LikePart::Char(c)) if t.get(ti) == Some(c) => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .unwrap_or_default()
        .iter()
        .all(|x| *x == LikePart::AnyMany)
}

/// Evaluates a condition against one record.
pub(crate) fn eval(expr: &Expr, r: &dyn Resolve) -> Result<bool, QueryError> {
    Ok(match expr {
        Expr::And(a, b) => eval(a, r)? && eval(b, r)?,
        Expr::Or(a, b) => eval(a, r)? || eval(b, r)?,
        Expr::Not(a) => !eval(a, r)?,
        Expr::Cmp(field, op, lit) => {
            let value = r.value(field);
            let kind = r.kind(field);
            if matches!(lit, Literal::Null) {
                return Ok(match *op {
                    "=" => value.is_null(),
                    "!=" => !value.is_null(),
                    _ => false,
                });
            }
            let ord = compare(&kind, &value, lit)?;
            match (ord, *op) {
                (None, "!=") => true,
                (None, _) => false,
                (Some(o), "=") => o == Ordering::Equal,
                (Some(o), "!=") => o != Ordering::Equal,
                (Some(o), "<") => o == Ordering::Less,
                (Some(o), "<=") => o != Ordering::Greater,
                (Some(o), ">") => o == Ordering::Greater,
                (Some(o), ">=") => o != Ordering::Less,
                _ => false,
            }
        }
        Expr::In(field, negated, values) => {
            let value = r.value(field);
            let kind = r.kind(field);
            let mut hit = false;
            for lit in values {
                if matches!(lit, Literal::Null) {
                    hit |= value.is_null();
                } else if compare(&kind, &value, lit)? == Some(Ordering::Equal) {
                    hit = true;
                }
            }
            hit != *negated
        }
        Expr::Like(field, negated, pattern) => {
            let hit = match r.value(field) {
                Value::String(s) => like(&s, pattern),
                _ => false,
            };
            hit != *negated
        }
        Expr::SemiJoin(..) => {
            return Err(malformed(
                "a semi join sub-select must be resolved before evaluation",
            ));
        }
    })
}

/// Orders two records by the ORDER BY keys.
pub(crate) fn order(keys: &[Order], a: &dyn Resolve, b: &dyn Resolve) -> Ordering {
    for key in keys {
        let (va, vb) = (a.value(&key.field), b.value(&key.field));
        let ord = match (va.is_null(), vb.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if key.nulls_last {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, true) => {
                if key.nulls_last {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, false) => {
                let o = match (&va, &vb) {
                    (Value::Number(x), Value::Number(y)) => x
                        .as_f64()
                        .partial_cmp(&y.as_f64())
                        .unwrap_or(Ordering::Equal),
                    (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
                    (Value::String(x), Value::String(y)) => match a.kind(&key.field).as_str() {
                        "datetime" => parse_dt(x).cmp(&parse_dt(y)),
                        "id" | "reference" | "date" => x.cmp(y),
                        _ => text_cmp(x, y),
                    },
                    _ => Ordering::Equal,
                };
                if key.descending { o.reverse() } else { o }
            }
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Rec(Value);
    impl Resolve for Rec {
        fn value(&self, path: &str) -> Value {
            self.0
                .pointer(&format!("/{}", path.replace('.', "/")))
                .cloned()
                .unwrap_or(Value::Null)
        }
        fn kind(&self, path: &str) -> String {
            match path {
                "IsClosed" => "boolean",
                "Amount" => "double",
                "Id" => "id",
                "CreatedDate" => "datetime",
                _ => "string",
            }
            .into()
        }
    }

    #[test]
    fn parses_and_evaluates_the_adapter_subset() {
        let q = parse(
            "SELECT Id, Email, Account.Name FROM Contact WHERE (Email = 'Jane.Doe@example.com' \
             OR Phone LIKE '%4%1%5%') AND IsClosed = false AND Account.Name != null \
             AND CreatedDate >= 2026-01-01T00:00:00Z ORDER BY CreatedDate DESC, Id LIMIT 5",
        )
        .unwrap();
        assert_eq!(q.object, "Contact");
        assert_eq!(q.fields, ["Id", "Email", "Account.Name"]);
        assert_eq!(q.limit, Some(5));
        let rec = Rec(
            json!({"Email": "jane.doe@example.com", "Phone": "(415) 555-0100",
            "IsClosed": false, "Account": {"Name": "Acme"}, "CreatedDate": "2026-02-01T00:00:00.000+0000"}),
        );
        assert!(eval(q.filter.as_ref().unwrap(), &rec).unwrap());
    }

    #[test]
    fn escaped_quotes_stay_inside_the_literal() {
        let q = parse(r"SELECT Id FROM Contact WHERE Email = 'x\'OR Id!=null--@a.com'").unwrap();
        assert_eq!(
            q.filter,
            Some(Expr::Cmp(
                "Email".into(),
                "=",
                Literal::Text("x'OR Id!=null--@a.com".into())
            ))
        );
        assert!(parse("SELECT Id FROM Contact WHERE Email = 'x'OR Id!=null--@a.com'").is_err());
        assert!(parse(r"SELECT Id FROM Contact WHERE Email = 'a\qb'").is_err());
    }

    #[test]
    fn like_patterns() {
        let p = |s: &str| match parse(&format!("SELECT Id FROM X WHERE A LIKE '{s}'"))
            .unwrap()
            .filter
        {
            Some(Expr::Like(_, _, p)) => p,
            _ => panic!(),
        };
        assert!(like("+1 415 555 0100", &p("%4%1%5%5%5%5%0%1%0%0")));
        assert!(like("(415) 555-0100", &p("%4%1%5%5%5%5%0%1%0%0")));
        assert!(!like("(415) 555-0199", &p("%4%1%5%5%5%5%0%1%0%0")));
        assert!(like("100%", &p(r"100\%")));
        assert!(!like("1000", &p(r"100\%")));
        assert!(like("ABC", &p("a_c")));
    }

    #[test]
    fn unsupported_syntax_is_malformed() {
        for q in [
            "SELECT Id FROM Contact WHERE",
            "SELECT Id FROM Contact WHERE CreatedDate = TODAY",
            "SELECT Id FROM Contact LIMIT x",
            "SELECT Id FROM Contact; DELETE",
            "SELECT Id, (SELECT Id FROM Cases FROM Contact",
            "SELECT Id, (SELECT Id, (SELECT Id FROM Tasks) FROM Cases) FROM Contact",
        ] {
            assert_eq!(parse(q).unwrap_err().code, "MALFORMED_QUERY", "{q}");
        }
    }

    #[test]
    fn child_sub_queries_parse_in_the_outer_select() {
        let q = parse(
            "SELECT Id, (SELECT Id, Subject FROM Tasks ORDER BY CreatedDate DESC LIMIT 2), Email \
             FROM Contact WHERE Email = 'a@b.c'",
        )
        .unwrap();
        assert_eq!(q.fields, ["Id", "Email"]);
        assert_eq!(q.children.len(), 1);
        assert_eq!(q.children[0].object, "Tasks");
        assert_eq!(q.children[0].fields, ["Id", "Subject"]);
        assert_eq!(q.children[0].limit, Some(2));
    }

    #[test]
    fn semi_joins_parse_within_salesforce_limits() {
        let q = parse(
            "SELECT Id FROM Opportunity WHERE (Id IN (SELECT OpportunityId FROM \
             OpportunityContactRole WHERE ContactId = '0035F00000000G9QAI')) AND IsClosed = false",
        )
        .unwrap();
        let Some(Expr::And(semi, _)) = q.filter else {
            panic!("{:?}", q.filter)
        };
        let Expr::SemiJoin(field, false, sub) = *semi else {
            panic!("{semi:?}")
        };
        assert_eq!(field, "Id");
        assert_eq!(sub.object, "OpportunityContactRole");
        assert_eq!(sub.fields, ["OpportunityId"]);
        assert!(
            parse("SELECT Id FROM Account WHERE Id NOT IN (SELECT AccountId FROM Opportunity)")
                .is_ok()
        );
        for (q, why) in [
            (
                "SELECT Id FROM Opportunity WHERE ContactId = '003' OR Id IN (SELECT OpportunityId FROM OpportunityContactRole)",
                "'OR'",
            ),
            (
                "SELECT Id FROM Opportunity WHERE NOT Id IN (SELECT OpportunityId FROM OpportunityContactRole)",
                "'NOT'",
            ),
            (
                "SELECT Id FROM Opportunity WHERE Id IN (SELECT OpportunityId FROM OpportunityContactRole WHERE ContactId IN (SELECT Id FROM Contact))",
                "Nesting",
            ),
            (
                "SELECT Id FROM Opportunity WHERE Id IN (SELECT OpportunityId, ContactId FROM OpportunityContactRole)",
                "exactly one field",
            ),
            (
                "SELECT Id FROM Opportunity WHERE Id IN (SELECT OpportunityId FROM OpportunityContactRole LIMIT 5)",
                "LIMIT",
            ),
            (
                "SELECT Id FROM Opportunity WHERE Account.Id IN (SELECT AccountId FROM Contact)",
                "relationships",
            ),
            (
                "SELECT Id FROM Opportunity WHERE Id IN (SELECT OpportunityId FROM OpportunityContactRole) \
                 AND AccountId IN (SELECT AccountId FROM Contact) AND ContactId IN (SELECT Id FROM Contact)",
                "Maximum of 2",
            ),
        ] {
            let e = parse(q).unwrap_err();
            assert_eq!(e.code, "MALFORMED_QUERY", "{q}");
            assert!(e.message.contains(why), "{q}: {}", e.message);
        }
    }
}
