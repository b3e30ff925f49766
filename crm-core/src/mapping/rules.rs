//! Per-field rules of a mapping: direction, type, transforms, limits, defaults, ownership.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::fields::{parse_date, parse_datetime};
use crate::model::{FieldValue, Number, Phone, Region};

/// Which way a field flows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Read from the CRM only; never written.
    Read,
    /// Written to the CRM only; ignored on reads.
    Write,
    /// Both ways.
    #[default]
    Both,
}

/// The type a field's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Free text.
    Text,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A decimal number.
    Number,
    /// A boolean.
    Bool,
    /// A date.
    Date,
    /// An instant.
    Datetime,
    /// Several values (multi-select).
    List,
}

/// A value transform, applied on writes in the order listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// Strip leading and trailing whitespace.
    Trim,
    /// Lower-case (emails).
    Lowercase,
    /// Upper-case (codes).
    Uppercase,
    /// Normalise a phone number to E.164 (`phone_region` for national numbers); a number that
    /// does not parse is a mapping error.
    E164,
}

impl Transform {
    fn fits(self, ty: Option<FieldType>) -> bool {
        match self {
            Transform::Trim | Transform::Lowercase | Transform::Uppercase => matches!(
                ty,
                None | Some(FieldType::Text | FieldType::Email | FieldType::Phone)
            ),
            Transform::E164 => matches!(ty, None | Some(FieldType::Phone | FieldType::Text)),
        }
    }
}

/// Who wins when the bot writes a field the CRM already holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ownership {
    /// The bot's value is written (the default).
    #[default]
    BotWins,
    /// The CRM's value is kept; the bot only fills the field when it is empty.
    CrmWins,
    /// The newer value wins: the bot's, unless the CRM's record changed after the bot observed
    /// it.
    NewestWins,
}

/// How one common field is treated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// Which way it flows. Default both.
    #[serde(default)]
    pub direction: Direction,
    /// The type its value must have; unchecked when absent.
    #[serde(default, rename = "type")]
    pub ty: Option<FieldType>,
    /// Transforms applied on writes, in order.
    #[serde(default)]
    pub transforms: Vec<Transform>,
    /// Region for national phone numbers (with `e164`). Default `US`.
    #[serde(default)]
    pub phone_region: Option<String>,
    /// A `strftime` format the vendor stores dates or datetimes in as text (`"%d/%m/%Y"`):
    /// writes format the value with it, reads parse it back. Default: the vendor takes ISO.
    #[serde(default)]
    pub format: Option<String>,
    /// The longest text accepted (characters); longer is a mapping error, never a silent cut.
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Required on create.
    #[serde(default)]
    pub required: bool,
    /// Value used on reads when the CRM has none (text; converted by the field's type).
    #[serde(default)]
    pub default: Option<String>,
    /// `false`: the field never leaves the process (data minimisation). Default `true`.
    #[serde(default = "yes")]
    pub send: bool,
    /// Who wins on update. Default `bot_wins`.
    #[serde(default)]
    pub owner: Ownership,
    /// The line of the rule in its mapping file, for messages. Filled when a file is loaded.
    #[serde(skip)]
    pub line: Option<usize>,
}

fn yes() -> bool {
    true
}

impl FieldRule {
    /// `"` (mapping line N)"` when the line is known.
    pub(crate) fn at(&self) -> String {
        self.line
            .map(|l| format!(" (mapping line {l})"))
            .unwrap_or_default()
    }

    /// Problems with the rule itself (a transform that does not fit the type, a bad region).
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.transforms {
            if !t.fits(self.ty) {
                out.push(format!(
                    "transform `{}` does not fit type `{}`",
                    serde_name(t),
                    self.ty.map(|t| serde_name(&t)).unwrap_or_default()
                ));
            }
        }
        if let Some(r) = &self.phone_region
            && Region::parse(r).is_err()
        {
            out.push(format!("phone_region `{r}` is not a region code"));
        }
        if let Some(f) = &self.format {
            if !matches!(self.ty, Some(FieldType::Date | FieldType::Datetime)) {
                out.push("`format` needs type = \"date\" or \"datetime\"".to_owned());
            } else if chrono::format::StrftimeItems::new(f)
                .any(|i| matches!(i, chrono::format::Item::Error))
            {
                out.push(format!("`format` `{f}` is not a valid strftime format"));
            }
        }
        if self.required && self.direction == Direction::Read {
            out.push("a required field cannot be read-only".to_owned());
        }
        if self.required && !self.send {
            out.push("a required field cannot have send = false".to_owned());
        }
        if let (Some(d), Some(ty)) = (&self.default, self.ty)
            && typed(FieldValue::Text(d.clone()), ty).is_err()
        {
            out.push(format!("default `{d}` is not a {}", serde_name(&ty)));
        }
        out
    }

    /// Applies transforms and checks type and length, for a write of `field`.
    pub(crate) fn prepare(&self, kind: &str, field: &str, value: FieldValue) -> Result<FieldValue> {
        let fail = |what: String| Error::mapping(format!("{kind}.{field}: {what}{}", self.at()));
        let mut value = value;
        for t in &self.transforms {
            value = match (t, value) {
                (Transform::Trim, FieldValue::Text(s)) => FieldValue::Text(s.trim().to_owned()),
                (Transform::Lowercase, FieldValue::Text(s)) => FieldValue::Text(s.to_lowercase()),
                (Transform::Uppercase, FieldValue::Text(s)) => FieldValue::Text(s.to_uppercase()),
                (Transform::E164, FieldValue::Text(s)) => {
                    let region = match &self.phone_region {
                        Some(r) => Region::parse(r).map_err(|e| fail(e.message().to_owned()))?,
                        None => Region::us(),
                    };
                    let phone = Phone::parse(&s, region)
                        .map_err(|_| fail("the phone number does not parse".to_owned()))?;
                    FieldValue::Text(phone.for_vendor().to_owned())
                }
                (_, v) => v,
            };
        }
        if let Some(ty) = self.ty
            && !value.is_null()
        {
            value = typed(value, ty)
                .map_err(|got| fail(format!("expected {}, got {got}", serde_name(&ty))))?;
        }
        if let Some(f) = &self.format {
            value = match value {
                FieldValue::Date(d) => FieldValue::Text(d.format(f).to_string()),
                FieldValue::DateTime(dt) => FieldValue::Text(dt.format(f).to_string()),
                other => other,
            };
        }
        if let (Some(max), FieldValue::Text(s)) = (self.max_length, &value)
            && s.chars().count() > max
        {
            return Err(fail(format!(
                "{} characters, more than the {max} allowed",
                s.chars().count()
            )));
        }
        Ok(value)
    }
}

/// Converts `value` to `ty` where that is lossless; `Err` names what it was.
fn typed(value: FieldValue, ty: FieldType) -> std::result::Result<FieldValue, &'static str> {
    let name = value.type_name();
    match (ty, value) {
        (FieldType::Text, v @ FieldValue::Text(_)) => Ok(v),
        (FieldType::Text, FieldValue::Number(n)) => Ok(FieldValue::Text(n.to_string())),
        (FieldType::Email, FieldValue::Text(s)) => {
            crate::model::Email::parse(&s).map_err(|_| "text that is not an email")?;
            Ok(FieldValue::Text(s))
        }
        (FieldType::Phone, v @ FieldValue::Text(_)) => Ok(v),
        (FieldType::Number, v @ FieldValue::Number(_)) => Ok(v),
        (FieldType::Number, FieldValue::Text(s)) => Number::parse(&s)
            .map(FieldValue::Number)
            .map_err(|_| "text that is not a number"),
        (FieldType::Bool, v @ FieldValue::Bool(_)) => Ok(v),
        (FieldType::Bool, FieldValue::Text(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(FieldValue::Bool(true)),
            "false" => Ok(FieldValue::Bool(false)),
            _ => Err("text that is not true or false"),
        },
        (FieldType::Date, v @ FieldValue::Date(_)) => Ok(v),
        (FieldType::Date, FieldValue::DateTime(d)) => Ok(FieldValue::Date(d.date_naive())),
        (FieldType::Date, FieldValue::Text(s)) => parse_date(&s)
            .map(FieldValue::Date)
            .ok_or("text that is not a date"),
        (FieldType::Datetime, v @ FieldValue::DateTime(_)) => Ok(v),
        (FieldType::Datetime, FieldValue::Text(s)) => parse_datetime(&s)
            .map(FieldValue::DateTime)
            .ok_or("text that is not a datetime"),
        (FieldType::List, v @ FieldValue::List(_)) => Ok(v),
        (FieldType::List, FieldValue::Text(s)) => Ok(FieldValue::List(
            s.split(';')
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
        )),
        (_, v) if v.is_null() => Ok(v),
        _ => Err(name),
    }
}

/// The snake_case name serde uses for a unit variant.
fn serde_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A value read from the vendor in the rule's `format`, back to a typed date or datetime.
pub(crate) fn read_formatted(rule: &FieldRule, value: FieldValue) -> FieldValue {
    let (Some(f), FieldValue::Text(s)) = (&rule.format, &value) else {
        return value;
    };
    match rule.ty {
        Some(FieldType::Date) => chrono::NaiveDate::parse_from_str(s.trim(), f)
            .map(FieldValue::Date)
            .unwrap_or(value),
        Some(FieldType::Datetime) => chrono::NaiveDateTime::parse_from_str(s.trim(), f)
            .map(|dt| FieldValue::DateTime(dt.and_utc()))
            .or_else(|_| {
                chrono::DateTime::parse_from_str(s.trim(), f)
                    .map(|dt| FieldValue::DateTime(dt.with_timezone(&chrono::Utc)))
            })
            .unwrap_or(value),
        _ => value,
    }
}

/// The typed default of a rule, for reads that miss the field.
pub(crate) fn default_value(rule: &FieldRule) -> Option<FieldValue> {
    let d = rule.default.clone()?;
    match rule.ty {
        None => Some(FieldValue::Text(d)),
        Some(ty) => typed(FieldValue::Text(d), ty).ok(),
    }
}
