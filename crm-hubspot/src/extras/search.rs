//! Search: phone forms and search's caps (HubSpot's CRM API docs, "Search"); the pages
//! themselves are fetched in `lister.rs`.

use crm_core::reexports::serde_json::{Value, json};
use crm_core::{Error, FieldList, FieldValue, Phone, Region, Result};

/// Search allows 6 filters per group (HubSpot's CRM API docs, "Search").
const MAX_FILTERS_PER_GROUP: usize = 6;

/// One search filter: `{propertyName, operator, value}`.
pub(crate) fn filter(property: &str, operator: &str, value: impl Into<Value>) -> Value {
    json!({"propertyName": property, "operator": operator, "value": value.into()})
}

/// Whether a record's `phone` or `mobile_phone` is the number `e164`, compared in E.164.
pub(crate) fn same_number(fields: &FieldList, e164: &str, region: Region) -> bool {
    ["phone", "mobile_phone"].iter().any(|f| {
        matches!(fields.get(f), Some(FieldValue::Text(t))
            if Phone::from_vendor(t, region).e164() == Some(e164))
    })
}

/// Filter groups matching a phone number: `phone` and `mobilephone` IN the usual written forms
/// of the number (search compares text; HubSpot's search docs), and optionally HubSpot's
/// calculated digits-only properties. Results are then compared by E.164.
pub(crate) fn phone_groups(calculated: bool, e164: &str) -> Vec<Vec<Value>> {
    let forms = phone_forms(e164);
    let mut groups = vec![
        vec![json!({"propertyName": "phone", "operator": "IN", "values": forms})],
        vec![json!({"propertyName": "mobilephone", "operator": "IN", "values": forms})],
    ];
    if calculated && let Some(national) = national_digits(e164) {
        for p in [
            "hs_searchable_calculated_phone_number",
            "hs_searchable_calculated_mobile_number",
        ] {
            groups.push(vec![filter(p, "EQ", national.as_str())]);
        }
    }
    groups
}

fn national_digits(e164: &str) -> Option<String> {
    let parsed = phonenumber::parse(None, e164).ok()?;
    Some(parsed.national().value().to_string())
}

/// The written forms of a number people and forms commonly store: E.164, international,
/// national, RFC 3966, digits with and without the country code, and US-style separators.
pub(crate) fn phone_forms(e164: &str) -> Vec<String> {
    use phonenumber::Mode;
    let mut forms = vec![e164.to_owned()];
    if let Ok(p) = phonenumber::parse(None, e164) {
        for mode in [Mode::International, Mode::National, Mode::Rfc3966] {
            forms.push(p.format().mode(mode).to_string());
        }
        let national = p.national().value().to_string();
        let code = p.code().value().to_string();
        forms.push(national.clone());
        forms.push(format!("{code}{national}"));
        // North American numbers: 3-3-4 groups.
        if let (10, Some(a), Some(b), Some(c)) = (
            national.len(),
            national.get(..3),
            national.get(3..6),
            national.get(6..),
        ) {
            forms.push(format!("{a}-{b}-{c}"));
            forms.push(format!("{a}.{b}.{c}"));
            forms.push(format!("{a} {b} {c}"));
            forms.push(format!("+{code} ({a}) {b}-{c}"));
            forms.push(format!("{code}-{a}-{b}-{c}"));
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Search's caps (HubSpot's CRM API docs, "Search"), checked before a request: 5 groups,
/// 6 filters per group, 18 in all.
pub(crate) fn check_search_caps(groups: &[Vec<Value>]) -> Result<()> {
    let total: usize = groups.iter().map(Vec::len).sum();
    if groups.len() > 5 {
        return Err(Error::invalid_input(format!(
            "HubSpot search takes at most 5 filter groups; this one has {}",
            groups.len()
        )));
    }
    if let Some(g) = groups.iter().find(|g| g.len() > MAX_FILTERS_PER_GROUP) {
        return Err(Error::invalid_input(format!(
            "HubSpot search takes at most {MAX_FILTERS_PER_GROUP} filters per group; one has {}",
            g.len()
        )));
    }
    if total > 18 {
        return Err(Error::invalid_input(format!(
            "HubSpot search takes at most 18 filters in all; this one has {total}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_forms_cover_the_usual_spellings() {
        let forms = phone_forms("+14155550100");
        for f in [
            "+14155550100",
            "+1 415-555-0100",
            "(415) 555-0100",
            "tel:+1-415-555-0100",
            "4155550100",
            "14155550100",
            "415-555-0100",
            "415.555.0100",
        ] {
            assert!(forms.contains(&f.to_owned()), "{f} missing from {forms:?}");
        }
        let uk = phone_forms("+442079460958");
        assert!(uk.contains(&"+44 20 7946 0958".to_owned()), "{uk:?}");
        assert_eq!(phone_forms("not a number"), ["not a number"]);
    }

    #[test]
    fn search_caps() {
        let f = json!({"propertyName": "email", "operator": "EQ", "value": "x"});
        assert!(check_search_caps(&vec![vec![f.clone(); 6]; 3]).is_ok());
        assert!(check_search_caps(&[vec![f.clone(); 7]]).is_err());
        assert!(check_search_caps(&vec![vec![f.clone(); 1]; 6]).is_err());
        assert!(check_search_caps(&vec![vec![f.clone(); 5]; 4]).is_err());
    }
}
