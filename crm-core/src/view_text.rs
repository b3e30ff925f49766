//! A readable rendering of the 360° view with every personal value masked, for terminals,
//! logs and a model's tool results: ids, stages, statuses and amounts as they are; names,
//! emails, phones and subjects masked.

use std::fmt;

use crate::model::{Email, Personal, Phone};
use crate::view::CustomerView;

/// [`CustomerView::masked`]: the view as lines of text, personal values masked.
#[derive(Debug, Clone, Copy)]
pub struct MaskedView<'a>(&'a CustomerView);

impl CustomerView {
    /// The view as readable lines with names, emails, phones and subjects masked
    /// (`Display`); safe to print or log.
    pub fn masked(&self) -> MaskedView<'_> {
        MaskedView(self)
    }
}

fn masked(p: Option<&Personal<String>>) -> String {
    p.map(Personal::masked).unwrap_or_else(|| "-".into())
}

impl fmt::Display for MaskedView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let view = self.0;
        let c = &view.contact;
        writeln!(
            f,
            "  contact      {}  {}",
            c.id,
            masked(c.full_name().as_ref())
        )?;
        writeln!(
            f,
            "               email {}  phone {}  title {}",
            c.email
                .as_ref()
                .map(Email::masked)
                .unwrap_or_else(|| "-".into()),
            c.phone
                .as_ref()
                .map(Phone::masked)
                .unwrap_or_else(|| "-".into()),
            c.title.as_deref().unwrap_or("-")
        )?;
        match &view.account {
            Some(a) => writeln!(
                f,
                "  account      {}  {} ({})",
                a.id,
                a.name.as_deref().unwrap_or("-"),
                a.industry.as_deref().unwrap_or("-")
            )?,
            None => writeln!(f, "  account      -")?,
        }
        writeln!(
            f,
            "  opportunities ({} open)",
            view.open_opportunities.len()
        )?;
        for o in &view.open_opportunities {
            writeln!(
                f,
                "    {}  {}  stage \"{}\"  amount {}{}",
                o.id,
                // Orgs often name deals after the person ("Jane Doe - training seats"): masked
                // like a subject.
                o.name
                    .as_deref()
                    .map(|n| Personal::new(n.to_owned()).masked())
                    .unwrap_or_else(|| "-".into()),
                o.stage.as_ref().map(|s| s.display()).unwrap_or("-"),
                o.amount
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "-".into()),
                // A single-currency org states none: no trailing space then.
                o.currency
                    .as_deref()
                    .map(|c| format!(" {c}"))
                    .unwrap_or_default()
            )?;
        }
        writeln!(f, "  tickets ({} open)", view.open_tickets.len())?;
        for t in &view.open_tickets {
            writeln!(
                f,
                "    {}  \"{}\"  subject {}",
                t.id,
                t.status.as_ref().map(|s| s.display()).unwrap_or("-"),
                masked(t.subject.as_ref())
            )?;
        }
        writeln!(f, "  recent activities ({})", view.recent_activities.len())?;
        for a in &view.recent_activities {
            writeln!(
                f,
                "    {}  {:<16} {}  subject {}",
                a.id,
                a.kind.as_str(),
                a.timestamp
                    .or(a.created_at)
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| "-".into()),
                masked(a.subject.as_ref())
            )?;
        }
        if !view.other_matches.is_empty() {
            writeln!(
                f,
                "  (also matched: {} other contact(s))",
                view.other_matches.len()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Contact, Number, Opportunity, Record, RecordId};
    use crate::view::CustomerView;

    fn record<T>(id: &str, data: T) -> Record<T> {
        Record {
            id: RecordId::new(id).unwrap(),
            created_at: None,
            updated_at: None,
            data,
        }
    }

    /// An amount without a currency (a single-currency org states none) ends its line; one
    /// with a currency names it after a space.
    #[test]
    fn amounts_print_their_currency_only_when_there_is_one() {
        let deal = |id: &str, currency: Option<&str>| {
            record(
                id,
                Opportunity {
                    amount: Some(Number::from(1500)),
                    currency: currency.map(str::to_owned),
                    ..Opportunity::default()
                },
            )
        };
        let view = CustomerView {
            contact: record("1", Contact::default()),
            other_matches: Vec::new(),
            account: None,
            open_opportunities: vec![deal("7", None), deal("8", Some("USD"))],
            open_tickets: Vec::new(),
            recent_activities: Vec::new(),
        };
        let text = view.masked().to_string();
        assert!(
            text.contains("    7  -  stage \"-\"  amount 1500\n"),
            "{text}"
        );
        assert!(
            text.contains("    8  -  stage \"-\"  amount 1500 USD\n"),
            "{text}"
        );
    }
}
