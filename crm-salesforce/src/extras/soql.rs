//! SOQL text the adapter builds, and the one rule that keeps it safe: every value goes through
//! [`quote`] (or [`like_digits`]), every field and object name through [`ident`].
//!
//! Salesforce's SOQL string literals take backslash escapes for `'`, `"`, `\`, newline,
//! carriage return, tab, backspace and form feed; inside `LIKE` patterns `\%` and `\_` match a
//! literal `%` and `_` (SOQL and SOSL reference, "Quoted String Escape Sequences").

use crm_core::{Error, Result};

/// A SOQL string literal: `'` + the value with every special character escaped + `'`.
/// `x'OR Id!=null--@a.com` becomes `'x\'OR Id!=null--@a.com'`, one literal.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A `LIKE` pattern that matches the given digits in order with anything (spaces, dashes,
/// brackets, a country code) around and between them: `4155550100` → `'%4%1%5%5%5%5%0%1%0%0%'`.
/// Only ASCII digits are kept, so no value can change the pattern's meaning.
pub(crate) fn like_digits(digits: &str) -> String {
    let mut out = String::from("'%");
    for d in digits.chars().filter(char::is_ascii_digit) {
        out.push(d);
        out.push('%');
    }
    out.push('\'');
    out
}

/// Checks a field or object API name taken from configuration (`Email`, `Account.Name`,
/// `External_Id__c`) before it goes into a query.
pub(crate) fn ident(name: &str) -> Result<&str> {
    let ok = !name.is_empty()
        && name.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
    if ok {
        Ok(name)
    } else {
        Err(Error::config(format!(
            "`{name}` is not a Salesforce API name (letters, digits and `_`)"
        )))
    }
}

/// A datetime literal (`2026-01-31T10:00:00Z`), unquoted as SOQL wants it.
pub(crate) fn datetime(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A `SELECT … FROM … [WHERE …] [ORDER BY …] [LIMIT n]` statement. Conditions are ANDed and
/// must be built from [`quote`]d values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Select {
    pub(crate) fields: Vec<String>,
    pub(crate) object: String,
    pub(crate) conditions: Vec<String>,
    pub(crate) order_by: Option<String>,
    pub(crate) limit: Option<usize>,
}

impl Select {
    pub(crate) fn new(object: &str, fields: &[String]) -> Self {
        Self {
            fields: fields.to_vec(),
            object: object.to_owned(),
            ..Self::default()
        }
    }

    pub(crate) fn and(mut self, condition: impl Into<String>) -> Self {
        self.conditions.push(condition.into());
        self
    }

    pub(crate) fn order_by(mut self, order: &str) -> Self {
        self.order_by = Some(order.to_owned());
        self
    }

    pub(crate) fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    pub(crate) fn text(&self) -> String {
        let mut q = format!("SELECT {} FROM {}", self.fields.join(", "), self.object);
        if !self.conditions.is_empty() {
            let parts: Vec<String> = self.conditions.iter().map(|c| format!("({c})")).collect();
            q.push_str(" WHERE ");
            q.push_str(&parts.join(" AND "));
        }
        if let Some(o) = &self.order_by {
            q.push_str(" ORDER BY ");
            q.push_str(o);
        }
        if let Some(n) = self.limit {
            q.push_str(&format!(" LIMIT {n}"));
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_everything_special() {
        assert_eq!(quote("x'OR Id!=null--@a.com"), r"'x\'OR Id!=null--@a.com'");
        assert_eq!(quote(r"a\'b"), r"'a\\\'b'");
        assert_eq!(quote("l1\nl2\"\t"), r#"'l1\nl2\"\t'"#);
        assert_eq!(quote("100%_"), "'100%_'");
    }

    #[test]
    fn like_patterns_keep_only_digits() {
        assert_eq!(like_digits("415' OR Name != '"), "'%4%1%5%'");
        assert_eq!(like_digits("4155550100"), "'%4%1%5%5%5%5%0%1%0%0%'");
    }

    #[test]
    fn identifiers_are_checked() {
        assert!(ident("External_Id__c").is_ok());
        assert!(ident("Account.Name").is_ok());
        for bad in [
            "",
            "Email, Id",
            "Name'",
            "a..b",
            "1x",
            "Email FROM Contact--",
        ] {
            assert!(ident(bad).is_err(), "{bad}");
        }
    }
}
