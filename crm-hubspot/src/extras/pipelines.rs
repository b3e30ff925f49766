//! Ticket and deal stages through the pipelines API (HubSpot's pipelines docs): records hold
//! stage ids (`"3"`, `"closedwon"`); the pipelines say what each means. Ticket stages carry
//! `metadata.ticketState` `OPEN`/`CLOSED`, deal stages `metadata.isClosed` and `probability`.
//!
//! Normalised states: a ticket stage is `closed` when `CLOSED`; among open stages the first of
//! its pipeline (by `displayOrder`) is `new`, one whose label mentions "waiting" is `waiting`,
//! the others `open`. A deal stage is `open` unless closed; closed with probability 1 is `won`,
//! otherwise `lost`. The cache is per connection, refreshed after its TTL, and once (at most
//! every 30 s) when a record names a stage it does not know.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_core::mapping::ObjectMapping;
use crm_core::raw::http::{HttpClient, Request};
use crm_core::reexports::serde_json::Value;
use crm_core::{Error, Result};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::extras::objects::{HubObject, Paths};

const MIN_REFRESH: Duration = Duration::from_secs(30);

#[derive(Debug, Deserialize)]
struct PipelinesBody {
    #[serde(default)]
    results: Vec<PipelineBody>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PipelineBody {
    id: String,
    #[serde(default)]
    display_order: i64,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    stages: Vec<StageBody>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StageBody {
    id: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    display_order: i64,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    metadata: BTreeMap<String, Value>,
}

/// One stage and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StageInfo {
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) pipeline: String,
    /// The normalised state name (`new`, `open`, `waiting`, `closed`; `open`, `won`, `lost`).
    pub(crate) state: &'static str,
    order: i64,
}

/// The pipelines of one object.
#[derive(Debug, Clone, Default)]
pub(crate) struct PipelineSet {
    /// Pipeline ids by display order.
    pipelines: Vec<String>,
    stages: Vec<StageInfo>,
}

fn meta_text(meta: &BTreeMap<String, Value>, key: &str) -> Option<String> {
    match meta.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl PipelineSet {
    fn from_body(object: HubObject, body: PipelinesBody) -> Self {
        let mut pipelines: Vec<PipelineBody> =
            body.results.into_iter().filter(|p| !p.archived).collect();
        pipelines.sort_by_key(|p| p.display_order);
        let mut stages = Vec::new();
        for p in &pipelines {
            let mut live: Vec<&StageBody> = p.stages.iter().filter(|s| !s.archived).collect();
            live.sort_by_key(|s| s.display_order);
            let mut first_open = true;
            for s in live {
                let state = match object {
                    HubObject::Tickets => {
                        let label = s.label.to_ascii_lowercase();
                        let closed = meta_text(&s.metadata, "ticketState")
                            .map(|v| v.eq_ignore_ascii_case("CLOSED"))
                            .unwrap_or_else(|| label.contains("closed"));
                        // The first open stage of a pipeline is where new tickets start.
                        let first = !closed && std::mem::take(&mut first_open);
                        match (closed, first, label.contains("waiting")) {
                            (true, ..) => "closed",
                            (_, true, _) => "new",
                            (_, _, true) => "waiting",
                            _ => "open",
                        }
                    }
                    _ => {
                        let closed = meta_text(&s.metadata, "isClosed")
                            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                        let probability = meta_text(&s.metadata, "probability")
                            .and_then(|p| p.parse::<f64>().ok())
                            .unwrap_or(0.0);
                        match (closed, probability >= 1.0) {
                            (false, _) => "open",
                            (true, true) => "won",
                            (true, false) => "lost",
                        }
                    }
                };
                stages.push(StageInfo {
                    id: s.id.clone(),
                    label: s.label.clone(),
                    pipeline: p.id.clone(),
                    state,
                    order: s.display_order,
                });
            }
        }
        Self {
            pipelines: pipelines.into_iter().map(|p| p.id).collect(),
            stages,
        }
    }

    /// The stage with this id.
    pub(crate) fn stage(&self, id: &str) -> Option<&StageInfo> {
        self.stages.iter().find(|s| s.id == id)
    }

    /// The default pipeline: the first by display order.
    pub(crate) fn default_pipeline(&self) -> Option<&str> {
        self.pipelines.first().map(String::as_str)
    }

    /// How many pipelines there are.
    pub(crate) fn count(&self) -> usize {
        self.pipelines.len()
    }

    /// The stage a write of `state` goes to in `pipeline`: the first stage (by display order)
    /// with that state; `open` falls back to `new` and `waiting` to `open`.
    pub(crate) fn stage_for(&self, pipeline: &str, state: &str) -> Option<&StageInfo> {
        let first = |s: &str| {
            self.stages
                .iter()
                .filter(|st| st.pipeline == pipeline && st.state == s)
                .min_by_key(|st| st.order)
        };
        match state {
            "open" => first("open").or_else(|| first("new")),
            "waiting" => first("waiting")
                .or_else(|| first("open"))
                .or_else(|| first("new")),
            other => first(other),
        }
    }

    /// `mapping` with every stage's state and label added under `field` (entries the mapping
    /// already has win: a tenant's override beats the derived meaning).
    pub(crate) fn apply(&self, mapping: &ObjectMapping, field: &str) -> ObjectMapping {
        let mut m = mapping.clone();
        let states = m.states.entry(field.to_owned()).or_default();
        let labels = m.labels.entry(field.to_owned()).or_default();
        for s in &self.stages {
            states
                .entry(s.id.clone())
                .or_insert_with(|| s.state.to_owned());
            labels
                .entry(s.id.clone())
                .or_insert_with(|| s.label.clone());
        }
        m
    }
}

#[derive(Debug)]
struct Cached {
    fetched: Instant,
    set: Arc<PipelineSet>,
}

/// One object's slot: locked while its pipelines are fetched, so concurrent readers of the same
/// object wait for that one fetch instead of sending their own.
type Slot = Arc<Mutex<Option<Cached>>>;

/// The per-connection cache of pipelines, one entry per object, fetched single-flight per
/// object: the deal and ticket pipelines of a cold connection are read in parallel (the 360°
/// view reads them alongside the contact), each once.
#[derive(Debug)]
pub(crate) struct PipelineCache {
    ttl: Duration,
    slots: std::sync::Mutex<HashMap<HubObject, Slot>>,
}

impl PipelineCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slots: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, object: HubObject) -> Slot {
        // The map lock is held for a lookup only, never across an await; a poisoned lock still
        // holds a usable map (it is only ever inserted into).
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(object).or_default().clone()
    }

    /// The pipelines of `object`; refetched when older than the TTL, or when `stage` is given,
    /// unknown, and the cache is older than 30 s.
    pub(crate) async fn get(
        &self,
        http: &HttpClient,
        paths: &Paths,
        object: HubObject,
        stage: Option<&str>,
    ) -> Result<Arc<PipelineSet>> {
        let slot = self.slot(object);
        let mut entry = slot.lock().await;
        if let Some(c) = entry.as_ref() {
            let age = c.fetched.elapsed();
            let unknown = stage.is_some_and(|s| c.set.stage(s).is_none());
            if age < self.ttl && !(unknown && age >= MIN_REFRESH) {
                return Ok(c.set.clone());
            }
        }
        let op = format!("{}.pipelines", object.singular());
        let resp = http
            .send(Request::get(paths.pipelines(object), op.clone()).bucket(crate::limits::GENERAL))
            .await?;
        let body: PipelinesBody = resp.json()?;
        let set = Arc::new(PipelineSet::from_body(object, body));
        if set.count() == 0 {
            return Err(Error::decode(format!(
                "HubSpot returned no {} pipelines",
                object.singular()
            ))
            .with_operation(op));
        }
        *entry = Some(Cached {
            fetched: Instant::now(),
            set: set.clone(),
        });
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::reexports::serde_json::{self, json};

    fn tickets() -> PipelineSet {
        let body: PipelinesBody = serde_json::from_value(json!({"results": [
            {"id": "0", "label": "Support", "displayOrder": 0, "stages": [
                {"id": "4", "label": "Closed", "displayOrder": 3, "metadata": {"ticketState": "CLOSED"}},
                {"id": "1", "label": "New", "displayOrder": 0, "metadata": {"ticketState": "OPEN"}},
                {"id": "2", "label": "Waiting on contact", "displayOrder": 1, "metadata": {"ticketState": "OPEN"}},
                {"id": "3", "label": "Waiting on us", "displayOrder": 2, "metadata": {"ticketState": "OPEN"}}]},
            {"id": "9", "label": "Other", "displayOrder": 1, "stages": [
                {"id": "91", "label": "Triage", "displayOrder": 0, "metadata": {"ticketState": "OPEN"}},
                {"id": "92", "label": "Working", "displayOrder": 1, "metadata": {"ticketState": "OPEN"}},
                {"id": "93", "label": "Done", "displayOrder": 2, "metadata": {"ticketState": "CLOSED"}}]}]}))
        .unwrap();
        PipelineSet::from_body(HubObject::Tickets, body)
    }

    #[test]
    fn ticket_stages_normalise() {
        let t = tickets();
        let states: Vec<(&str, &str)> = ["1", "2", "3", "4", "91", "92", "93"]
            .iter()
            .map(|id| (*id, t.stage(id).unwrap().state))
            .collect();
        assert_eq!(
            states,
            [
                ("1", "new"),
                ("2", "waiting"),
                ("3", "waiting"),
                ("4", "closed"),
                ("91", "new"),
                ("92", "open"),
                ("93", "closed")
            ]
        );
        assert_eq!(t.default_pipeline(), Some("0"));
        assert_eq!(t.stage_for("0", "closed").unwrap().id, "4");
        assert_eq!(t.stage_for("0", "open").unwrap().id, "1");
        assert_eq!(t.stage_for("9", "waiting").unwrap().id, "92");
        assert!(t.stage_for("nope", "new").is_none());
    }

    #[test]
    fn deal_stages_normalise() {
        let body: PipelinesBody = serde_json::from_value(json!({"results": [
            {"id": "default", "stages": [
                {"id": "qualifiedtobuy", "metadata": {"isClosed": "false", "probability": "0.4"}},
                {"id": "closedwon", "metadata": {"isClosed": "true", "probability": "1.0"}},
                {"id": "closedlost", "metadata": {"isClosed": "true", "probability": "0.0"}}]}]}))
        .unwrap();
        let d = PipelineSet::from_body(HubObject::Deals, body);
        assert_eq!(d.stage("qualifiedtobuy").unwrap().state, "open");
        assert_eq!(d.stage("closedwon").unwrap().state, "won");
        assert_eq!(d.stage("closedlost").unwrap().state, "lost");
        let mut base = ObjectMapping::default();
        base.states
            .entry("stage".into())
            .or_default()
            .insert("closedlost".into(), "open".into());
        let m = d.apply(&base, "stage");
        assert_eq!(m.states["stage"]["closedlost"], "open");
        assert_eq!(m.states["stage"]["closedwon"], "won");
    }
}
