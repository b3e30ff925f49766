//! What `crm-connect bench` measures and prints: the workloads, the per-record markers that
//! count what was lost or duplicated, and one result row per workload.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crm_core::{Crm, ObjectKind, Result};
use serde_json::{Value, json};

/// One workload of the table above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Workload {
    W1,
    W2,
    W3,
    W4,
    W4b,
}

impl Workload {
    const ALL: [Workload; 5] = [Self::W1, Self::W2, Self::W3, Self::W4, Self::W4b];

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::W1 => "W1",
            Self::W2 => "W2",
            Self::W3 => "W3",
            Self::W4 => "W4",
            Self::W4b => "W4b",
        }
    }

    /// The record kinds the workload writes: a connection that declares none of one (Pipedrive
    /// has no tickets) skips the workload rather than report every record lost.
    pub(super) fn kinds(self) -> &'static [ObjectKind] {
        match self {
            Self::W1 | Self::W2 | Self::W4 => &[ObjectKind::Contact],
            Self::W3 => &[ObjectKind::Ticket, ObjectKind::Activity],
            Self::W4b => &[ObjectKind::Ticket],
        }
    }

    /// Why `crm` cannot run the workload, if it cannot.
    pub(super) fn skip_reason(self, crm: &dyn Crm) -> Option<String> {
        let objects = &crm.capabilities().objects;
        let missing = self.kinds().iter().find(|k| !objects.contains_key(k))?;
        Some(format!("the connection declares no {missing} records"))
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The workloads `--workload` names (any case), or all of them when it names none. An unknown
/// name is an error listing the known ones.
pub(crate) fn workloads(names: &[String]) -> Result<Vec<Workload>> {
    if names.is_empty() {
        return Ok(Workload::ALL.to_vec());
    }
    names
        .iter()
        .map(|name| {
            Workload::ALL
                .into_iter()
                .find(|w| w.name().eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    crm_core::Error::invalid_input(format!(
                        "--workload: unknown workload `{}`; the workloads are W1, W2, W3, W4 and W4b",
                        name.trim()
                    ))
                })
        })
        .collect()
}

/// The marker of record `i` of workload `tag` in run `run`: unique per record, in a field no
/// CRM dedupes. The trailing `~` keeps `…~1~` from matching inside `…~10~`.
pub(super) fn marker(run: &str, tag: &str, i: usize) -> String {
    format!("{run}~{tag}~{i}~")
}

/// The markers of `run`'s workload `tag` found anywhere in `record` (at most one per record).
pub(super) fn marker_in(record: &Value, prefix: &str) -> Option<String> {
    match record {
        Value::String(s) => {
            let at = s.find(prefix)?;
            let rest = s.get(at + prefix.len()..)?;
            let digits = rest.find('~')?;
            let n = rest.get(..digits)?;
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| format!("{prefix}{n}~"))
        }
        Value::Array(items) => items.iter().find_map(|v| marker_in(v, prefix)),
        Value::Object(map) => map.values().find_map(|v| marker_in(v, prefix)),
        _ => None,
    }
}

/// `(distinct markers, duplicates)` of a list of markers, one per record found.
pub(super) fn tally(markers: impl IntoIterator<Item = String>) -> (usize, usize) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for m in markers {
        *seen.entry(m).or_default() += 1;
    }
    let dups = seen.values().map(|n| n - 1).sum();
    (seen.len(), dups)
}

/// One row of the results table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    pub(super) workload: &'static str,
    pub(super) requests: usize,
    pub(super) limited: usize,
    pub(super) client_errors: usize,
    pub(super) expected: usize,
    pub(super) found: usize,
    pub(super) lost: usize,
    pub(super) duplicates: usize,
    pub(super) wall: Duration,
    /// `(requests, limit refusals)` by the embedded fake's own counters.
    pub(super) served: Option<(usize, usize)>,
    /// Writes the CRM or the SDK refused, and the first error (never a personal value).
    pub(super) failed: usize,
    pub(super) first_error: Option<String>,
}

impl Row {
    /// Requests per 1,000 records written or read.
    pub(super) fn per_thousand(&self) -> Option<f64> {
        (self.expected > 0).then(|| self.requests as f64 * 1000.0 / self.expected as f64)
    }

    /// The share of the stated rate limit the workload used on average: its request rate over
    /// the limit's (`requests / window`).
    pub(super) fn limit_share(&self, stated: Option<(u64, Duration)>) -> Option<f64> {
        let (limit, window) = stated?;
        let wall = self.wall.as_secs_f64();
        if limit == 0 || window.is_zero() || wall <= 0.0 {
            return None;
        }
        Some((self.requests as f64 / wall) / (limit as f64 / window.as_secs_f64()))
    }

    pub(super) fn json(&self, stated: Option<(u64, Duration)>) -> Value {
        json!({
            "workload": self.workload,
            "requests": self.requests,
            "rate_limited": self.limited,
            "client_errors": self.client_errors,
            "expected": self.expected,
            "found": self.found,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "wall_secs": self.wall.as_secs_f64(),
            "requests_per_1000": self.per_thousand(),
            "server_requests": self.served.map(|s| s.0),
            "server_rate_limited": self.served.map(|s| s.1),
            "failed_writes": self.failed,
            "first_error": self.first_error,
            // Over W4b only: the other workloads are a few requests long, where a burst's
            // instantaneous rate says nothing about the share of the limit a load uses.
            "rate_limit_share": (self.workload == "W4b").then(|| self.limit_share(stated)).flatten(),
        })
    }
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "| {:<4} | {:>8} | {:>5} | {:>13} | {:>8} | {:>6} | {:>4} | {:>10} | {:>8.2} s |",
            self.workload,
            self.requests,
            self.limited,
            self.client_errors,
            self.expected,
            self.found,
            self.lost,
            self.duplicates,
            self.wall.as_secs_f64()
        )
    }
}

/// The table header matching [`Row`]'s `Display`.
pub(crate) const HEADER: &str = "| load | requests |  429s | client errors | expected |  found | lost | duplicates |    wall    |\n|------|----------|-------|---------------|----------|--------|------|------------|------------|";

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: duplicates are counted by a per-record marker, found wherever the record
    /// keeps it, and `~1~` never matches inside `~10~`.
    #[test]
    fn item16_markers_count_duplicates_that_emails_would_hide() {
        let prefix = "brun~w1~";
        let rec =
            |name: &str, email: &str| json!({"properties": {"lastname": name, "email": email}});
        let stored = [
            rec(&marker("brun", "w1", 1), "same@bench.example"),
            rec(&marker("brun", "w1", 1), "same@bench.example"),
            rec(&marker("brun", "w1", 10), "other@bench.example"),
            rec(&marker("other", "w1", 2), "x@bench.example"),
            rec("brun~w1~x~", "y@bench.example"),
        ];
        let (found, dups) = tally(stored.iter().filter_map(|r| marker_in(r, prefix)));
        assert_eq!((found, dups), (2, 1));
        assert_eq!(
            marker_in(&json!("ticket brun~w1~7~ (retry)"), prefix).as_deref(),
            Some("brun~w1~7~")
        );
    }
}
