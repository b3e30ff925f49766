//! The outbox against a scripted in-memory CRM: rate limits with far-future waits, creates in
//! doubt on connections without idempotent create (parked, or resolved by a look-up on the
//! key), corrupt rows, full disks and the schema update of older files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{Outbox, OutboxConfig, PendingWrite, WriteStatus, store};
use crate::api::{
    Accounts, Activities, Actor, BatchResult, Capabilities, Contacts, Crm, Filter, IdempotencyKey,
    Leads, ListQuery, Lookup, ObjectCapabilities, Opportunities, PageStream, Records, Tickets,
    UpsertKey, Upserted, WriteContext,
};
use crate::error::{Error, ErrorKind, LimitScope, Result};
use crate::model::{
    Account, Activity, Contact, Entity, Lead, ObjectKind, Opportunity, Personal, Record, RecordId,
    RecordRef, Ticket,
};

/// What the next create does instead of succeeding.
#[derive(Debug, Clone)]
struct Scripted {
    error: Error,
    /// The record is created before the error is returned (a lost answer).
    committed: bool,
}

/// What the next batch call does instead of succeeding.
#[derive(Debug, Clone)]
enum BatchScript {
    /// The whole call fails; with `committed`, every item was written first (a lost answer).
    Whole { error: Error, committed: bool },
    /// Item `index` of the call fails on its own; the others are written.
    Item { index: usize, error: Error },
}

#[derive(Debug, Default)]
struct State {
    /// Records created: id and the idempotency key stored with it.
    records: Vec<(RecordId, Option<String>)>,
    creates: usize,
    finds: usize,
    script: VecDeque<Scripted>,
    /// Batch calls made, with the keys each item carried (`None`: sent without one).
    batches: Vec<Vec<Option<String>>>,
    /// The largest batch the fake accepts (its `max_batch`).
    max_batch: usize,
    batch_script: VecDeque<BatchScript>,
    /// What each single create sent: the kind and the entity as JSON.
    sent: Vec<(ObjectKind, serde_json::Value)>,
    /// Single creates of this kind are refused with this error (a validation rule on notes).
    refuse: Option<(ObjectKind, Error)>,
}

impl State {
    /// One batch call: items keyed by an already stored key give back that record (the
    /// vendor's unique field), the others are created.
    fn batch(&mut self, keys: Vec<Option<String>>) -> Vec<Result<RecordId>> {
        assert!(
            keys.len() <= self.max_batch,
            "a batch of {} items exceeds the fake's {}",
            keys.len(),
            self.max_batch
        );
        self.batches.push(keys.clone());
        let mut script = Vec::new();
        while let Some(BatchScript::Item { .. }) = self.batch_script.front() {
            script.extend(self.batch_script.pop_front());
        }
        let whole = if script.is_empty() {
            match self.batch_script.pop_front() {
                Some(BatchScript::Whole { error, committed }) => Some((error, committed)),
                Some(item) => {
                    script.push(item);
                    None
                }
                None => None,
            }
        } else {
            None
        };
        let n = keys.len();
        let mut out = Vec::new();
        for (i, key) in keys.into_iter().enumerate() {
            let item_error = script.iter().find_map(|s| match s {
                BatchScript::Item { index, error } if *index == i => Some(error.clone()),
                _ => None,
            });
            if let Some(e) = item_error {
                out.push(Err(e));
                continue;
            }
            if whole.as_ref().is_some_and(|(_, committed)| !committed) {
                continue;
            }
            let existing = self
                .records
                .iter()
                .find(|(_, k)| key.is_some() && *k == key)
                .map(|(id, _)| id.clone());
            let id = existing.unwrap_or_else(|| {
                let id = RecordId::new(format!("b-{}", self.records.len() + 1)).unwrap();
                self.records.push((id.clone(), key.clone()));
                id
            });
            out.push(Ok(id));
        }
        match whole {
            Some((error, _)) => (0..n).map(|_| Err(error.clone())).collect(),
            None => out,
        }
    }
}

type Shared = Arc<Mutex<State>>;

#[derive(Debug)]
struct FakeRecords<T> {
    state: Shared,
    _kind: PhantomData<fn() -> T>,
}

fn record<T: Default>(id: RecordId) -> Record<T> {
    Record {
        id,
        created_at: None,
        updated_at: None,
        data: T::default(),
    }
}

fn unsupported<X>(what: &str) -> Result<X> {
    Err(Error::unsupported(what, "not in this fake"))
}

#[async_trait]
impl<T: Entity> Records<T> for FakeRecords<T> {
    async fn get(&self, _id: &RecordId) -> Result<Record<T>> {
        unsupported("get")
    }

    async fn find(&self, filter: &Filter, limit: usize) -> Result<Vec<Record<T>>> {
        let mut s = self.state.lock().unwrap();
        s.finds += 1;
        let [cond] = filter.all.as_slice() else {
            return unsupported("find");
        };
        assert_eq!(cond.field, "idempotency_key");
        let want = cond.value.as_text().map(str::to_owned);
        Ok(s.records
            .iter()
            .filter(|(_, key)| key.is_some() && *key == want)
            .take(limit)
            .map(|(id, _)| Record {
                id: id.clone(),
                created_at: None,
                updated_at: None,
                data: T::default(),
            })
            .collect())
    }

    async fn create(&self, input: &T, ctx: &WriteContext) -> Result<Record<T>> {
        let mut s = self.state.lock().unwrap();
        s.creates += 1;
        s.sent.push((T::KIND, serde_json::to_value(input).unwrap()));
        if let Some((kind, error)) = &s.refuse
            && *kind == T::KIND
        {
            return Err(error.clone());
        }
        let step = s.script.pop_front();
        let id = RecordId::new(format!("r-{}", s.creates)).unwrap();
        if step.as_ref().is_none_or(|step| step.committed) {
            let key = ctx.idempotency_key.as_ref().map(|k| k.as_str().to_owned());
            s.records.push((id.clone(), key));
        }
        match step {
            Some(step) => Err(step.error),
            None => Ok(Record {
                id,
                created_at: None,
                updated_at: None,
                data: T::default(),
            }),
        }
    }

    async fn update(&self, _id: &RecordId, _patch: &T, _ctx: &WriteContext) -> Result<Record<T>> {
        unsupported("update")
    }

    async fn upsert(&self, _k: &UpsertKey, _i: &T, _c: &WriteContext) -> Result<Upserted<T>> {
        unsupported("upsert")
    }

    async fn create_batch(&self, inputs: &[T], ctx: &WriteContext) -> BatchResult<Record<T>> {
        let keys = inputs
            .iter()
            .map(|_| ctx.idempotency_key.as_ref().map(|k| k.as_str().to_owned()))
            .collect();
        let ids = self.state.lock().unwrap().batch(keys);
        ids.into_iter().map(|r| r.map(record)).collect()
    }

    async fn create_batch_keyed(
        &self,
        items: &[(IdempotencyKey, T)],
        _ctx: &WriteContext,
    ) -> BatchResult<Record<T>> {
        let keys = items
            .iter()
            .map(|(k, _)| Some(k.as_str().to_owned()))
            .collect();
        let ids = self.state.lock().unwrap().batch(keys);
        ids.into_iter().map(|r| r.map(record)).collect()
    }

    async fn update_batch(
        &self,
        _inputs: &[(RecordId, T)],
        _ctx: &WriteContext,
    ) -> BatchResult<Record<T>> {
        Vec::new()
    }

    async fn upsert_batch(
        &self,
        _inputs: &[(UpsertKey, T)],
        _ctx: &WriteContext,
    ) -> BatchResult<Upserted<T>> {
        Vec::new()
    }

    fn list(&self, _query: ListQuery) -> PageStream<T> {
        Box::pin(futures::stream::empty())
    }
}

#[async_trait]
impl Contacts for FakeRecords<Contact> {
    async fn find_by(&self, _lookup: &Lookup) -> Result<Vec<Record<Contact>>> {
        Ok(Vec::new())
    }
}
#[async_trait]
impl Accounts for FakeRecords<Account> {}
#[async_trait]
impl Leads for FakeRecords<Lead> {
    async fn find_by(&self, _lookup: &Lookup) -> Result<Vec<Record<Lead>>> {
        Ok(Vec::new())
    }
}
#[async_trait]
impl Opportunities for FakeRecords<Opportunity> {
    async fn open_for(&self, _o: &RecordRef, _l: usize) -> Result<Vec<Record<Opportunity>>> {
        Ok(Vec::new())
    }
}
#[async_trait]
impl Tickets for FakeRecords<Ticket> {
    async fn open_for(&self, _o: &RecordRef, _l: usize) -> Result<Vec<Record<Ticket>>> {
        Ok(Vec::new())
    }
}
#[async_trait]
impl Activities for FakeRecords<Activity> {
    async fn latest_for(&self, _r: &RecordRef, _l: usize) -> Result<Vec<Record<Activity>>> {
        Ok(Vec::new())
    }
}

fn records<T>(state: &Shared) -> FakeRecords<T> {
    FakeRecords {
        state: state.clone(),
        _kind: PhantomData,
    }
}

/// A CRM whose tickets are created without idempotency (unless `idempotent`), optionally
/// findable by their idempotency key.
#[derive(Debug)]
struct Fake {
    caps: Capabilities,
    state: Shared,
    contacts: FakeRecords<Contact>,
    accounts: FakeRecords<Account>,
    leads: FakeRecords<Lead>,
    opportunities: FakeRecords<Opportunity>,
    tickets: FakeRecords<Ticket>,
    activities: FakeRecords<Activity>,
}

impl Fake {
    fn new(idempotent: bool, findable: bool) -> Self {
        Self::with_batch(idempotent, findable, None)
    }

    /// A CRM whose tickets have a batch endpoint of `max_batch` items.
    fn batching(idempotent: bool, max_batch: usize) -> Self {
        Self::with_batch(idempotent, false, Some(max_batch))
    }

    fn with_batch(idempotent: bool, findable: bool, max_batch: Option<usize>) -> Self {
        let state = Shared::default();
        state.lock().unwrap().max_batch = max_batch.unwrap_or(0);
        let mut ticket = ObjectCapabilities::read_write();
        ticket.idempotent_create = idempotent;
        ticket.find_by_idempotency_key = findable;
        ticket.max_batch = max_batch;
        let mut caps = Capabilities::default();
        // Notes are created one by one, with the same idempotency as tickets.
        let mut activity = ticket.clone();
        activity.max_batch = None;
        caps.objects.insert(ObjectKind::Activity, activity);
        caps.objects.insert(ObjectKind::Ticket, ticket);
        Self {
            caps,
            contacts: records(&state),
            accounts: records(&state),
            leads: records(&state),
            opportunities: records(&state),
            tickets: records(&state),
            activities: records(&state),
            state,
        }
    }

    fn script(&self, error: Error, committed: bool) {
        let mut s = self.state.lock().unwrap();
        s.script.push_back(Scripted { error, committed });
    }

    fn creates(&self) -> usize {
        self.state.lock().unwrap().creates
    }

    fn records(&self) -> usize {
        self.state.lock().unwrap().records.len()
    }

    fn finds(&self) -> usize {
        self.state.lock().unwrap().finds
    }

    fn script_batch(&self, step: BatchScript) {
        self.state.lock().unwrap().batch_script.push_back(step);
    }

    /// The batch calls made so far, with the keys their items carried.
    fn batches(&self) -> Vec<Vec<Option<String>>> {
        self.state.lock().unwrap().batches.clone()
    }

    /// The record holding `key`, if any, and how many hold it.
    fn holding(&self, key: &IdempotencyKey) -> Vec<RecordId> {
        let s = self.state.lock().unwrap();
        s.records
            .iter()
            .filter(|(_, k)| k.as_deref() == Some(key.as_str()))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// A record the CRM holds already, as an earlier attempt left it.
    fn holds(&self, id: &str, key: &IdempotencyKey) {
        let mut s = self.state.lock().unwrap();
        s.records
            .push((RecordId::new(id).unwrap(), Some(key.as_str().to_owned())));
    }
}

#[async_trait]
impl Crm for Fake {
    fn vendor(&self) -> &str {
        "fake"
    }
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }
    fn contacts(&self) -> &dyn Contacts {
        &self.contacts
    }
    fn accounts(&self) -> &dyn Accounts {
        &self.accounts
    }
    fn leads(&self) -> &dyn Leads {
        &self.leads
    }
    fn opportunities(&self) -> &dyn Opportunities {
        &self.opportunities
    }
    fn tickets(&self) -> &dyn Tickets {
        &self.tickets
    }
    fn activities(&self) -> &dyn Activities {
        &self.activities
    }
    async fn link(&self, _from: &RecordRef, _to: &RecordRef, _ctx: &WriteContext) -> Result<()> {
        Ok(())
    }
}

/// Leases that expire at once, so that a "crashed" claim is claimed again by the next run.
fn config() -> OutboxConfig {
    OutboxConfig {
        lease: Duration::ZERO,
        base_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        ..OutboxConfig::default()
    }
}

fn open(dir: &tempfile::TempDir) -> Outbox {
    Outbox::open(dir.path().join("outbox.sqlite"), config()).unwrap()
}

fn key(i: usize) -> IdempotencyKey {
    IdempotencyKey::derive("acme", &format!("conv-{i}"), "ticket")
}

fn enqueue(outbox: &Outbox, i: usize) -> super::WriteId {
    let ticket = Ticket {
        subject: Some(Personal::new(format!("ticket {i}"))),
        ..Ticket::default()
    };
    outbox
        .enqueue(
            "acme",
            &PendingWrite::create(&ticket, key(i), Actor::Bot).unwrap(),
        )
        .unwrap()
}

/// What a worker killed while its request was out leaves behind: the claim is committed (the
/// attempt counted, the write in doubt), the outcome never recorded.
fn crash_mid_delivery(outbox: &Outbox) -> usize {
    store::claim(&outbox.db(), "acme", 100, Duration::ZERO)
        .unwrap()
        .len()
}

fn rate_limited(wait: Duration) -> Error {
    Error::new(
        ErrorKind::RateLimited {
            retry_after: Some(wait),
            scope: LimitScope::Burst,
        },
        "rate limited",
    )
}

fn next_attempt(outbox: &Outbox, id: super::WriteId) -> SystemTime {
    match outbox.status(id).unwrap() {
        WriteStatus::Pending {
            next_attempt_at: Some(at),
            ..
        } => at,
        other => panic!("expected a pending write with a due time, got {other:?}"),
    }
}

// --- item 1: a long Retry-After reschedules the write --------------------------------------

#[tokio::test]
async fn item1_a_retry_after_of_an_hour_reschedules_the_write_for_then() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(true, false);
    let id = enqueue(&outbox, 1);
    crm.script(rate_limited(Duration::from_secs(3600)), false);
    let before = SystemTime::now();
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.retried, 1);
    let at = next_attempt(&outbox, id);
    let wait = at.duration_since(before).unwrap();
    assert!(
        wait >= Duration::from_secs(3599) && wait <= Duration::from_secs(3700),
        "next attempt in {wait:?}"
    );
    // Not due: another run sends nothing.
    assert_eq!(outbox.deliver("acme", &crm, 10).await.unwrap().retried, 0);
    assert_eq!(crm.creates(), 1);
}

#[tokio::test]
async fn item2_a_retry_after_of_duration_max_or_u64_max_seconds_saturates() {
    for wait in [Duration::MAX, Duration::from_secs(u64::MAX)] {
        let dir = tempfile::tempdir().unwrap();
        let outbox = open(&dir);
        let crm = Fake::new(true, false);
        let id = enqueue(&outbox, 1);
        crm.script(rate_limited(wait), false);
        let report = outbox.deliver("acme", &crm, 10).await.unwrap();
        assert_eq!(report.retried, 1);
        let at = next_attempt(&outbox, id);
        let years = at.duration_since(SystemTime::now()).unwrap().as_secs() / (365 * 86_400);
        assert!(years > 1000, "next attempt only {years} years away");
        assert_eq!(outbox.depth("acme").unwrap().pending, 1);
    }
}

#[test]
fn item2_stored_time_arithmetic_saturates() {
    assert_eq!(store::after(i64::MAX - 5, Duration::MAX), i64::MAX);
    assert_eq!(store::after(10, Duration::from_secs(u64::MAX)), i64::MAX);
    assert_eq!(store::ms(Duration::MAX), i64::MAX);
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(
        dir.path().join("o.sqlite"),
        OutboxConfig {
            lease: Duration::MAX,
            ..config()
        },
    )
    .unwrap();
    enqueue(&outbox, 1);
    assert_eq!(crash_mid_delivery(&outbox), 1);
    // A corrupt creation time far in the past does not overflow the age either.
    outbox
        .db()
        .execute("UPDATE outbox_writes SET created_at = ?1", [i64::MIN])
        .unwrap();
    assert!(outbox.depth("acme").unwrap().oldest_pending.is_some());
}

// --- item 10: creates in doubt on connections without idempotent create --------------------

#[tokio::test]
async fn item10_claiming_counts_the_attempt_before_the_request_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let id = enqueue(&outbox, 1);
    assert_eq!(crash_mid_delivery(&outbox), 1);
    // A new process on the same file sees the attempt.
    drop(outbox);
    let outbox = open(&dir);
    assert!(matches!(
        outbox.status(id).unwrap(),
        WriteStatus::Pending { attempts: 1, .. }
    ));
}

#[tokio::test]
async fn item10_a_create_in_doubt_is_parked_not_sent_again_and_an_operator_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(false, false);
    let found = enqueue(&outbox, 1);
    let absent = enqueue(&outbox, 2);
    assert_eq!(crash_mid_delivery(&outbox), 2);
    // The first create reached the CRM before the crash; the second did not.
    crm.holds("r-found", &key(1));

    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.parked, 2);
    assert_eq!(crm.creates(), 0, "a create in doubt was sent again");
    for id in [found, absent] {
        let WriteStatus::Parked { reason } = outbox.status(id).unwrap() else {
            panic!("expected parked");
        };
        assert!(reason.contains("may have reached the CRM"), "{reason}");
    }
    let parked = outbox.parked("acme").unwrap();
    assert_eq!(
        parked.iter().map(|p| p.id).collect::<Vec<_>>(),
        [found, absent]
    );
    assert_eq!(parked[0].idempotency_key.as_ref(), Some(&key(1)));
    assert_eq!(parked[0].kind, Some(ObjectKind::Ticket));
    assert_eq!(outbox.depth("acme").unwrap().parked, 2);
    assert_eq!(outbox.depth("acme").unwrap().pending, 0);
    // Parked writes stay parked.
    assert_eq!(
        outbox.deliver("acme", &crm, 10).await.unwrap(),
        Default::default()
    );

    // The operator found the first in the CRM and not the second.
    let record = RecordId::new("r-found").unwrap();
    outbox.resolve(found, &record).unwrap();
    outbox.redrive(absent).unwrap();
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(
        outbox.status(found).unwrap(),
        WriteStatus::Delivered { record_id: record }
    );
    assert!(matches!(
        outbox.status(absent).unwrap(),
        WriteStatus::Delivered { .. }
    ));
    assert_eq!(crm.creates(), 1);
    assert_eq!(crm.records(), 2);
    assert!(outbox.parked("acme").unwrap().is_empty());
    assert!(outbox.resolve(found, &RecordId::new("x").unwrap()).is_err());
}

#[tokio::test]
async fn item10_a_create_in_doubt_is_looked_up_by_its_key_where_the_adapter_can() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(false, true);
    let found = enqueue(&outbox, 1);
    let absent = enqueue(&outbox, 2);
    let twice = enqueue(&outbox, 3);
    assert_eq!(crash_mid_delivery(&outbox), 3);
    crm.holds("r-found", &key(1));
    crm.holds("r-dup-a", &key(3));
    crm.holds("r-dup-b", &key(3));

    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(crm.finds(), 3);
    assert_eq!(report.delivered, 2);
    assert_eq!(report.parked, 1);
    assert_eq!(
        outbox.status(found).unwrap(),
        WriteStatus::Delivered {
            record_id: RecordId::new("r-found").unwrap()
        }
    );
    // Not found: the earlier attempt did not create it, so it is created once now.
    assert!(matches!(
        outbox.status(absent).unwrap(),
        WriteStatus::Delivered { .. }
    ));
    assert_eq!(crm.creates(), 1);
    let WriteStatus::Parked { reason } = outbox.status(twice).unwrap() else {
        panic!("expected parked");
    };
    assert!(reason.contains("several"), "{reason}");
}

#[tokio::test]
async fn item10_a_create_whose_answer_was_lost_is_parked_and_a_rate_limit_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(false, false);
    let lost = enqueue(&outbox, 1);
    let limited = enqueue(&outbox, 2);
    // The first create committed and the answer was a 502; the second was refused by a 429.
    crm.script(
        Error::new(ErrorKind::Unavailable, "bad gateway after commit"),
        true,
    );
    crm.script(rate_limited(Duration::ZERO), false);
    let report = outbox.deliver("acme", &crm, 1).await.unwrap();
    assert_eq!(report.parked, 1);
    assert!(matches!(
        outbox.status(lost).unwrap(),
        WriteStatus::Parked { .. }
    ));
    let report = outbox.deliver("acme", &crm, 1).await.unwrap();
    assert_eq!(report.retried, 1);
    // A 429 proves the CRM did not create it: it is sent again, not parked.
    let report = outbox.deliver("acme", &crm, 1).await.unwrap();
    assert_eq!(report.delivered, 1);
    assert!(matches!(
        outbox.status(limited).unwrap(),
        WriteStatus::Delivered { .. }
    ));
    assert_eq!(crm.records(), 2);
}

#[tokio::test]
async fn item10_an_idempotent_connection_sends_a_create_in_doubt_again_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(true, false);
    let id = enqueue(&outbox, 1);
    assert_eq!(crash_mid_delivery(&outbox), 1);
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 1);
    assert!(matches!(
        outbox.status(id).unwrap(),
        WriteStatus::Delivered { .. }
    ));
}

#[tokio::test]
async fn item10_an_outbox_file_of_schema_1_is_updated_and_its_in_flight_creates_are_in_doubt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite");
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "CREATE TABLE outbox_writes (
                id INTEGER PRIMARY KEY AUTOINCREMENT, connection TEXT NOT NULL,
                idempotency_key TEXT NOT NULL, kind TEXT NOT NULL, operation TEXT NOT NULL,
                payload TEXT NOT NULL, actor TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'delivering', 'delivered', 'failed')),
                attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL,
                lease_until INTEGER, record_id TEXT, error TEXT,
                created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                UNIQUE (connection, idempotency_key));
             CREATE INDEX outbox_due ON outbox_writes (connection, state, next_attempt_at);
             CREATE TABLE outbox_paused (connection TEXT PRIMARY KEY, since INTEGER NOT NULL);",
        )
        .unwrap();
        let payload = serde_json::to_string(&Ticket::default()).unwrap();
        for (i, state) in [(1, "delivering"), (2, "pending")] {
            db.execute(
                "INSERT INTO outbox_writes (connection, idempotency_key, kind, operation, payload,
                   actor, state, next_attempt_at, lease_until, created_at, updated_at)
                 VALUES ('acme', ?1, 'ticket', '{\"op\":\"create\"}', ?3, '{\"type\":\"bot\"}',
                   ?2, 0, 0, 0, 0)",
                rusqlite::params![key(i).as_str(), state, payload],
            )
            .unwrap();
        }
    }
    let outbox = Outbox::open(&path, config()).unwrap();
    let crm = Fake::new(false, false);
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.parked, 1);
    assert_eq!(report.delivered, 1);
    assert_eq!(crm.creates(), 1);
    // Opening it again leaves it as it is.
    drop(outbox);
    let outbox = Outbox::open(&path, config()).unwrap();
    assert_eq!(outbox.parked("acme").unwrap().len(), 1);
}

// --- item 11: corrupt rows and a full disk ---------------------------------------------------

#[tokio::test]
async fn item11_a_row_with_an_unreadable_column_is_failed_and_the_others_are_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(true, false);
    let ids: Vec<_> = (0..5).map(|i| enqueue(&outbox, i)).collect();
    {
        let db = outbox.db();
        // A blob where the payload's text belongs, invalid UTF-8, text where a number belongs,
        // a payload of the wrong shape.
        db.execute(
            "UPDATE outbox_writes SET payload = X'FFFE00' WHERE id = ?1",
            [ids[0]],
        )
        .unwrap();
        db.execute(
            "UPDATE outbox_writes SET payload = CAST(X'7B22FF22' AS TEXT) WHERE id = ?1",
            [ids[1]],
        )
        .unwrap();
        db.execute(
            "UPDATE outbox_writes SET attempts = 'many' WHERE id = ?1",
            [ids[2]],
        )
        .unwrap();
        db.execute(
            "UPDATE outbox_writes SET payload = '{\"subject\": 5}' WHERE id = ?1",
            [ids[3]],
        )
        .unwrap();
    }
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 1);
    assert!(matches!(
        outbox.status(ids[4]).unwrap(),
        WriteStatus::Delivered { .. }
    ));
    for &id in &ids[..4] {
        let WriteStatus::Failed { error } = outbox.status(id).unwrap() else {
            panic!("write {id} is not failed");
        };
        assert!(error.contains("corrupt outbox row"), "{error}");
    }
    assert_eq!(outbox.depth("acme").unwrap().failed, 4);
    assert_eq!(crm.creates(), 1);
}

#[test]
fn item11_a_full_disk_says_the_write_was_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(
        dir.path().join("o.sqlite"),
        OutboxConfig {
            max_size_bytes: Some(64 * 1024),
            ..config()
        },
    )
    .unwrap();
    let big = "x".repeat(8 * 1024);
    let err = (0..100)
        .find_map(|i| {
            let t = Ticket {
                description: Some(Personal::new(big.clone())),
                ..Ticket::default()
            };
            let w = PendingWrite::create(&t, key(i), Actor::Bot).unwrap();
            outbox.enqueue("acme", &w).err()
        })
        .expect("the capped outbox accepted everything");
    assert_eq!(err.kind(), &ErrorKind::Storage);
    let msg = err.to_string();
    assert!(
        msg.contains("disk holding the outbox file is full"),
        "{msg}"
    );
    assert!(msg.contains("the write was not stored"), "{msg}");
}

#[test]
fn item11_a_disk_io_error_is_named_as_such_not_as_a_bare_sqlite_error() {
    let io = rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_SHMSIZE),
        None,
    );
    let err = store::storage_error("store the write", None, "", io);
    assert_eq!(err.kind(), &ErrorKind::Storage);
    assert!(err.message().contains("out of space"), "{err}");
    let full =
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
    let err = store::storage_error("store the write", None, "", full);
    assert!(err.message().contains("is full"), "{err}");
    // The free-space check behind a disk I/O error finds room on a disk that has it, and
    // leaves nothing behind.
    let dir = tempfile::tempdir().unwrap();
    assert!(!store::disk_is_full(&dir.path().join("o.sqlite")));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

// --- issue 14: delivery in vendor batches ---------------------------------------------------

fn delivered_id(outbox: &Outbox, id: super::WriteId) -> RecordId {
    match outbox.status(id).unwrap() {
        WriteStatus::Delivered { record_id } => record_id,
        other => panic!("write {id} is not delivered: {other:?}"),
    }
}

#[tokio::test]
async fn batch_500_creates_on_an_idempotent_connection_go_in_5_batch_calls_of_100() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::batching(true, 100);
    let ids: Vec<_> = (0..500).map(|i| enqueue(&outbox, i)).collect();
    let report = outbox.deliver("acme", &crm, 500).await.unwrap();
    assert_eq!(report.delivered, 500);
    let batches = crm.batches();
    assert_eq!(batches.len(), 500usize.div_ceil(100));
    assert!(batches.iter().all(|b| b.len() == 100));
    assert_eq!(crm.creates(), 0, "a create went one by one");
    // Every item carried its write's own stored key, and every write got the record made for
    // its key.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(crm.holding(&key(i)), [delivered_id(&outbox, *id)]);
    }
    assert_eq!(crm.records(), 500);
}

#[tokio::test]
async fn batch_lost_after_commit_is_sent_again_with_the_same_keys_regrouped_0_dups_0_lost() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::batching(true, 100);
    let ids: Vec<_> = (0..150).map(|i| enqueue(&outbox, i)).collect();
    // The first batch is written, then its answer is lost (a 502 after commit).
    crm.script_batch(BatchScript::Whole {
        error: Error::new(ErrorKind::Unavailable, "bad gateway after commit"),
        committed: true,
    });
    let report = outbox.deliver("acme", &crm, 150).await.unwrap();
    assert_eq!(report.retried, 100);
    assert_eq!(report.delivered, 50);
    // The next rounds group the writes differently (30 at a time); each keeps its own key.
    for _ in 0..10 {
        outbox.deliver("acme", &crm, 30).await.unwrap();
    }
    assert_eq!(outbox.depth("acme").unwrap().pending, 0);
    let first: Vec<_> = crm.batches()[0].clone();
    let resent: Vec<Option<String>> = crm.batches()[2..].iter().flatten().cloned().collect();
    assert_eq!(first, resent, "the re-sent items carry the keys first sent");
    assert_eq!(crm.records(), 150, "a write was duplicated or lost");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(crm.holding(&key(i)), [delivered_id(&outbox, *id)]);
    }
}

#[tokio::test]
async fn batch_per_item_errors_land_on_their_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::batching(true, 100);
    let ids: Vec<_> = (0..10).map(|i| enqueue(&outbox, i)).collect();
    crm.script_batch(BatchScript::Item {
        index: 3,
        error: Error::new(ErrorKind::Validation { fields: vec![] }, "subject too long"),
    });
    crm.script_batch(BatchScript::Item {
        index: 7,
        error: rate_limited(Duration::ZERO),
    });
    let taken = RecordId::new("r-other").unwrap();
    crm.script_batch(BatchScript::Item {
        index: 8,
        error: Error::new(
            ErrorKind::Conflict {
                existing_id: Some(taken.clone()),
                candidates: vec![],
            },
            "the key is taken",
        ),
    });
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 8);
    assert_eq!(report.failed, 1);
    assert_eq!(report.retried, 1);
    let WriteStatus::Failed { error } = outbox.status(ids[3]).unwrap() else {
        panic!("write 3 is not failed");
    };
    assert!(error.contains("subject too long"), "{error}");
    assert!(matches!(
        outbox.status(ids[7]).unwrap(),
        WriteStatus::Pending { .. }
    ));
    // The record already holding write 8's key is its record.
    assert_eq!(delivered_id(&outbox, ids[8]), taken);
    for i in [0, 1, 2, 4, 5, 6, 9] {
        assert_eq!(crm.holding(&key(i)), [delivered_id(&outbox, ids[i])]);
    }
    // The rate-limited one goes again, alone, with its key.
    assert_eq!(outbox.deliver("acme", &crm, 10).await.unwrap().delivered, 1);
    assert_eq!(crm.batches()[1], [Some(key(7).as_str().to_owned())]);
}

#[tokio::test]
async fn batch_in_doubt_without_idempotent_creates_parks_its_items_and_sends_no_keys() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::batching(false, 100);
    let ids: Vec<_> = (0..20).map(|i| enqueue(&outbox, i)).collect();
    crm.script_batch(BatchScript::Whole {
        error: Error::new(ErrorKind::Unavailable, "bad gateway after commit"),
        committed: true,
    });
    let report = outbox.deliver("acme", &crm, 20).await.unwrap();
    assert_eq!(report.parked, 20);
    assert_eq!(crm.batches().len(), 1);
    // The connection cannot honour keys: the batch went without them.
    assert!(crm.batches()[0].iter().all(Option::is_none));
    for id in &ids {
        assert!(matches!(
            outbox.status(*id).unwrap(),
            WriteStatus::Parked { .. }
        ));
    }
    // Parked writes are never sent blindly again.
    assert_eq!(
        outbox.deliver("acme", &crm, 20).await.unwrap(),
        Default::default()
    );
    assert_eq!(crm.batches().len(), 1);
    assert_eq!(crm.records(), 20);
}

#[tokio::test]
async fn batch_a_rate_limited_batch_without_idempotent_creates_is_retried_not_parked() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::batching(false, 100);
    for i in 0..20 {
        enqueue(&outbox, i);
    }
    crm.script_batch(BatchScript::Whole {
        error: rate_limited(Duration::ZERO),
        committed: false,
    });
    assert_eq!(outbox.deliver("acme", &crm, 20).await.unwrap().retried, 20);
    assert_eq!(
        outbox.deliver("acme", &crm, 20).await.unwrap().delivered,
        20
    );
    assert_eq!(crm.records(), 20);
}

#[tokio::test]
async fn batch_creates_in_doubt_after_a_crash_go_alone_where_creates_are_not_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::batching(false, 100);
    for i in 0..3 {
        enqueue(&outbox, i);
    }
    assert_eq!(crash_mid_delivery(&outbox), 3);
    let fresh = enqueue(&outbox, 3);
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    // The three in doubt are parked without a request; the fresh one is batched.
    assert_eq!(report.parked, 3);
    assert_eq!(report.delivered, 1);
    assert_eq!(crm.batches(), [vec![None]]);
    assert!(matches!(
        outbox.status(fresh).unwrap(),
        WriteStatus::Delivered { .. }
    ));
}

#[tokio::test]
async fn batch_creates_in_doubt_after_a_crash_are_resent_in_a_batch_with_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::batching(true, 100);
    let ids: Vec<_> = (0..4).map(|i| enqueue(&outbox, i)).collect();
    assert_eq!(crash_mid_delivery(&outbox), 4);
    // Two of them reached the CRM before the crash.
    crm.holds("r-early-0", &key(0));
    crm.holds("r-early-2", &key(2));
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 4);
    assert_eq!(crm.batches().len(), 1);
    assert_eq!(crm.records(), 4);
    assert_eq!(delivered_id(&outbox, ids[0]).as_str(), "r-early-0");
    assert_eq!(delivered_id(&outbox, ids[2]).as_str(), "r-early-2");
}

// --- issue 14: writes that follow another -----------------------------------------------------

fn note_key(i: usize) -> IdempotencyKey {
    IdempotencyKey::derive("acme", &format!("conv-{i}"), "note")
}

/// A note on the ticket of conversation `i`, to follow write `parent`.
fn enqueue_note(outbox: &Outbox, i: usize, parent: super::WriteId) -> super::WriteId {
    let note = Activity {
        body: Some(Personal::new(format!("note on ticket {i}"))),
        ..Activity::default()
    };
    outbox
        .enqueue(
            "acme",
            &PendingWrite::create(&note, note_key(i), Actor::Bot)
                .unwrap()
                .depends_on(parent),
        )
        .unwrap()
}

impl Fake {
    /// What the single creates of `kind` sent, in order.
    fn sent(&self, kind: ObjectKind) -> Vec<serde_json::Value> {
        let s = self.state.lock().unwrap();
        s.sent
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

#[tokio::test]
async fn issue14_a_note_waits_for_its_ticket_then_follows_it_in_the_same_round_linked_to_its_record()
 {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(true, false);
    let ticket = enqueue(&outbox, 1);
    let note = enqueue_note(&outbox, 1, ticket);
    // The ticket's first attempt is refused: the note must not go out meanwhile.
    crm.script(rate_limited(Duration::ZERO), false);
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.retried, 1);
    assert_eq!(report.delivered, 0);
    assert!(
        crm.sent(ObjectKind::Activity).is_empty(),
        "the note was sent before its ticket"
    );
    let status = outbox.overview().unwrap();
    assert_eq!(status[0].pending, 2);
    assert_eq!(status[0].waiting, 1);

    // The note was put back as it was: not counted as an attempt.
    assert!(matches!(
        outbox.status(note).unwrap(),
        WriteStatus::Pending { attempts: 0, .. }
    ));

    // Once the ticket goes through, the note follows it in the same round.
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 2);
    let ticket_id = delivered_id(&outbox, ticket);
    delivered_id(&outbox, note);
    let sent = crm.sent(ObjectKind::Activity);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["what"]["kind"], "ticket");
    assert_eq!(sent[0]["what"]["id"], ticket_id.as_str());
    // The link is stored with the write.
    let listed = outbox
        .list(super::ListState::Delivered, Some("acme"), 10)
        .unwrap();
    let stored = listed.iter().find(|w| w.id == note).unwrap();
    assert_eq!(stored.depends_on, Some(ticket));
    assert_eq!(stored.payload["what"]["id"], ticket_id.as_str());
}

#[tokio::test]
async fn issue14_default_path_a_ticket_and_its_note_are_delivered_in_one_round_ticket_first() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    // Tickets and notes without a batch endpoint: the connection has no one-request path, so
    // `Crm::create_linked`'s default sends the ticket, then the note with its id.
    let crm = Fake::new(true, false);
    let ticket = enqueue(&outbox, 1);
    let note = enqueue_note(&outbox, 1, ticket);
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 2, "{report:?}");
    let ticket_id = delivered_id(&outbox, ticket);
    delivered_id(&outbox, note);
    let order: Vec<ObjectKind> = crm
        .state
        .lock()
        .unwrap()
        .sent
        .iter()
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(order, [ObjectKind::Ticket, ObjectKind::Activity]);
    assert_eq!(
        crm.sent(ObjectKind::Activity)[0]["what"]["id"],
        ticket_id.as_str()
    );
    // Each went with its own stored key.
    assert_eq!(crm.holding(&key(1)).len(), 1);
    assert_eq!(crm.holding(&note_key(1)).len(), 1);
    // The link the call set is stored with the delivered note.
    let listed = outbox
        .list(super::ListState::Delivered, Some("acme"), 10)
        .unwrap();
    let stored = listed.iter().find(|w| w.id == note).unwrap();
    assert_eq!(stored.payload["what"]["id"], ticket_id.as_str());
}

#[tokio::test]
async fn issue14_default_path_a_note_refused_on_its_own_fails_alone_and_its_ticket_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(true, false);
    crm.state.lock().unwrap().refuse = Some((
        ObjectKind::Activity,
        Error::new(
            ErrorKind::Validation { fields: Vec::new() },
            "body is too long",
        ),
    ));
    let ticket = enqueue(&outbox, 1);
    let note = enqueue_note(&outbox, 1, ticket);
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!((report.delivered, report.failed), (1, 1), "{report:?}");
    delivered_id(&outbox, ticket);
    let WriteStatus::Failed { error } = outbox.status(note).unwrap() else {
        panic!("the note is not failed");
    };
    assert!(error.contains("body is too long"), "its own error: {error}");
}

#[tokio::test]
async fn issue14_default_path_batched_tickets_leave_their_notes_to_the_next_rounds_batches() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    // Tickets go in batches: one group per ticket would cost more requests than a batch of
    // tickets and then the notes.
    let crm = Fake::batching(true, 10);
    let tickets: Vec<_> = (0..3).map(|i| enqueue(&outbox, i)).collect();
    let notes: Vec<_> = tickets
        .iter()
        .enumerate()
        .map(|(i, t)| enqueue_note(&outbox, i, *t))
        .collect();
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 3);
    assert_eq!(crm.batches().len(), 1);
    assert!(crm.sent(ObjectKind::Activity).is_empty());
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 3);
    for (t, n) in tickets.iter().zip(&notes) {
        let ticket_id = delivered_id(&outbox, *t);
        delivered_id(&outbox, *n);
        assert!(
            crm.sent(ObjectKind::Activity)
                .iter()
                .any(|s| s["what"]["id"] == ticket_id.as_str())
        );
    }
    // A lone ticket (a batch of one) takes its note along.
    let ticket = enqueue(&outbox, 7);
    let note = enqueue_note(&outbox, 7, ticket);
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 2);
    delivered_id(&outbox, note);
}

#[tokio::test]
async fn issue14_default_path_a_parked_ticket_keeps_its_note_waiting_until_an_operator_resolves_it()
{
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(false, false);
    let ticket = enqueue(&outbox, 1);
    let note = enqueue_note(&outbox, 1, ticket);
    // The ticket's answer is lost after the CRM created it: it is parked; the note waits.
    crm.script(Error::new(ErrorKind::Timeout, "no answer"), true);
    outbox.deliver("acme", &crm, 10).await.unwrap();
    assert!(matches!(
        outbox.status(ticket).unwrap(),
        WriteStatus::Parked { .. }
    ));
    assert!(crm.sent(ObjectKind::Activity).is_empty());
    assert!(matches!(
        outbox.status(note).unwrap(),
        WriteStatus::Pending { attempts: 0, .. }
    ));
    // The operator finds the ticket: the note follows in the next round.
    outbox
        .resolve(ticket, &RecordId::new("r-1").unwrap())
        .unwrap();
    outbox.deliver("acme", &crm, 10).await.unwrap();
    delivered_id(&outbox, note);
    assert_eq!(crm.sent(ObjectKind::Activity)[0]["what"]["id"], "r-1");
}

#[tokio::test]
async fn issue14_a_note_whose_ticket_fails_permanently_fails_naming_the_ticket_write() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(true, false);
    let ticket = enqueue(&outbox, 1);
    let note = enqueue_note(&outbox, 1, ticket);
    // A chain: a second note waits for the first.
    let reply = Activity::default();
    let reply = outbox
        .enqueue(
            "acme",
            &PendingWrite::create(&reply, note_key(2), Actor::Bot)
                .unwrap()
                .depends_on(ticket),
        )
        .unwrap();
    crm.script(
        Error::new(
            ErrorKind::Validation { fields: Vec::new() },
            "subject is required",
        ),
        false,
    );
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(
        report.failed, 3,
        "the ticket and the two writes that depend on it"
    );
    for id in [note, reply] {
        let WriteStatus::Failed { error } = outbox.status(id).unwrap() else {
            panic!("the dependent write {id} is not failed");
        };
        assert!(
            error.contains(&format!("outbox write {ticket}")),
            "the reason names the parent: {error}"
        );
    }
    assert!(crm.sent(ObjectKind::Activity).is_empty());
    // A note enqueued after its ticket failed fails at once.
    let late = enqueue_note(&outbox, 3, ticket);
    assert!(matches!(
        outbox.status(late).unwrap(),
        WriteStatus::Failed { .. }
    ));
    // Retrying the note alone would leave it waiting for ever: refused, naming the parent.
    let e = outbox.retry(note).unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.to_string().contains(&format!("retry write {ticket}")),
        "{e}"
    );

    // The operator fixed the cause: retrying the ticket re-queues its notes.
    assert_eq!(outbox.retry(ticket).unwrap(), 4);
    for _ in 0..3 {
        outbox.deliver("acme", &crm, 10).await.unwrap();
    }
    let ticket_id = delivered_id(&outbox, ticket);
    for id in [note, reply, late] {
        delivered_id(&outbox, id);
    }
    let sent = crm.sent(ObjectKind::Activity);
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|n| n["what"]["id"] == ticket_id.as_str()));
}

#[tokio::test]
async fn issue14_a_dependency_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let crm = Fake::new(true, false);
    let (ticket, note) = {
        let outbox = open(&dir);
        let ticket = enqueue(&outbox, 1);
        let note = enqueue_note(&outbox, 1, ticket);
        // The worker dies with the ticket's request out.
        assert_eq!(crash_mid_delivery(&outbox), 1);
        (ticket, note)
    };
    let outbox = open(&dir);
    // The ticket in doubt is sent again with its key (the connection makes creates
    // idempotent), and the note follows it in the same round.
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.delivered, 2);
    let ticket_id = delivered_id(&outbox, ticket);
    delivered_id(&outbox, note);
    assert_eq!(
        crm.holding(&key(1)).len(),
        1,
        "the ticket was created twice"
    );
    assert_eq!(
        crm.sent(ObjectKind::Activity)[0]["what"]["id"],
        ticket_id.as_str()
    );
}

#[tokio::test]
async fn issue14_a_dependency_on_an_unknown_or_unlinkable_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let note = Activity::default();
    let e = outbox
        .enqueue(
            "acme",
            &PendingWrite::create(&note, note_key(1), Actor::Bot)
                .unwrap()
                .depends_on(999),
        )
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("999"), "{e}");
    // A ticket cannot be linked to a ticket.
    let first = enqueue(&outbox, 1);
    let e = outbox
        .enqueue(
            "acme",
            &PendingWrite::create(&Ticket::default(), key(2), Actor::Bot)
                .unwrap()
                .depends_on(first),
        )
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidInput);
    // Nor to a write of another connection.
    let e = outbox
        .enqueue(
            "other",
            &PendingWrite::create(&note, note_key(1), Actor::Bot)
                .unwrap()
                .depends_on(first),
        )
        .unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidInput);
    assert_eq!(outbox.overview().unwrap().len(), 1, "nothing was stored");
}

#[test]
fn issue14_links_go_into_the_field_of_the_parent_kind() {
    let id = RecordId::new("500").unwrap();
    let mut note = serde_json::to_value(Activity::default()).unwrap();
    super::link_into(ObjectKind::Activity, &mut note, ObjectKind::Contact, &id).unwrap();
    let note: Activity = serde_json::from_value(note).unwrap();
    assert_eq!(
        note.who,
        Some(RecordRef::new(ObjectKind::Contact, id.clone()))
    );
    let mut ticket = serde_json::to_value(Ticket::default()).unwrap();
    super::link_into(ObjectKind::Ticket, &mut ticket, ObjectKind::Account, &id).unwrap();
    let ticket: Ticket = serde_json::from_value(ticket).unwrap();
    assert_eq!(ticket.account_id, Some(id.clone()));
    let mut lead = serde_json::to_value(Lead::default()).unwrap();
    super::link_into(ObjectKind::Lead, &mut lead, ObjectKind::Contact, &id).unwrap();
    let lead: Lead = serde_json::from_value(lead).unwrap();
    assert_eq!(lead.contact_id, Some(id.clone()));
    assert!(super::link_slot(ObjectKind::Account, ObjectKind::Ticket).is_none());
}

// --- issue 14: operator APIs ------------------------------------------------------------------

#[tokio::test]
async fn issue14_overview_counts_each_state_per_connection_and_the_kill_switch() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(false, false);
    for i in 0..6 {
        enqueue(&outbox, i);
    }
    // 0: delivered; 1: failed; 2: parked (answer lost); 3 and 4: in flight; 5: pending.
    crm.script(
        Error::new(ErrorKind::Validation { fields: Vec::new() }, "rejected"),
        false,
    );
    outbox.deliver("acme", &crm, 1).await.unwrap();
    outbox.deliver("acme", &crm, 1).await.unwrap();
    crm.script(Error::new(ErrorKind::Unavailable, "bad gateway"), true);
    outbox.deliver("acme", &crm, 1).await.unwrap();
    store::claim(&outbox.db(), "acme", 2, Duration::from_secs(60)).unwrap();
    outbox.pause("acme").unwrap();
    outbox.pause("idle").unwrap();

    let status = outbox.overview().unwrap();
    assert_eq!(status.len(), 2, "{status:?}");
    let acme = &status[0];
    assert_eq!(acme.connection, "acme");
    assert_eq!(
        (
            acme.pending,
            acme.in_flight,
            acme.failed,
            acme.parked,
            acme.delivered
        ),
        (1, 2, 1, 1, 1),
        "{acme:?}"
    );
    assert!(acme.paused && acme.paused_since.is_some());
    assert!(acme.oldest_pending.is_some());
    let idle = &status[1];
    assert_eq!(idle.connection, "idle");
    assert!(idle.paused);
    assert_eq!(idle.pending, 0);
    outbox.resume("acme").unwrap();
    assert!(!outbox.overview().unwrap()[0].paused);
}

#[test]
fn issue14_a_listing_masks_every_personal_value_and_keeps_field_names_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let contact = Contact {
        email: Some(crate::model::Email::parse("jane.doe@example.com").unwrap()),
        phone: Some(
            crate::model::Phone::parse(
                "+1 415 555 0100",
                crate::model::Region::parse("US").unwrap(),
            )
            .unwrap(),
        ),
        first_name: Some(Personal::new("Jane".to_owned())),
        last_name: Some(Personal::new("Doe".to_owned())),
        title: Some("Head of Procurement".to_owned()),
        account_id: Some(RecordId::new("acc-42").unwrap()),
        external_id: Some("jane-ext-7".to_owned()),
        ..Contact::default()
    };
    outbox
        .enqueue(
            "acme",
            &PendingWrite::upsert(
                &UpsertKey::Email(contact.email.clone().unwrap()),
                &contact,
                key(1),
                Actor::Bot,
            )
            .unwrap(),
        )
        .unwrap();
    let listed = outbox.list(super::ListState::Pending, None, 10).unwrap();
    assert_eq!(listed.len(), 1);
    let w = &listed[0];
    let text = format!("{} {:?} {:?}", w.payload, w.target, w.error);
    for secret in [
        "jane.doe",
        "Jane",
        "Doe",
        "555",
        "0100",
        "Procurement",
        "jane-ext",
    ] {
        assert!(!text.contains(secret), "`{secret}` shown in {text}");
    }
    let payload = w.payload.as_object().unwrap();
    for field in [
        "email",
        "phone",
        "first_name",
        "last_name",
        "title",
        "account_id",
    ] {
        assert!(payload.contains_key(field), "{field} missing from {text}");
    }
    assert_eq!(w.payload["account_id"], "acc-42");
    assert_eq!(w.payload["first_name"], "J***");
    assert_eq!(w.operation.as_deref(), Some("upsert"));
    assert!(
        w.target.as_deref().unwrap().starts_with("email=j"),
        "{text}"
    );
    assert_eq!(w.idempotency_key.as_deref(), Some(key(1).as_str()));
    assert_eq!(w.state, "pending");
}

#[test]
fn issue14_custom_fields_keep_their_types_and_lose_their_values() {
    let payload = serde_json::json!({
        "subject": "Refund for Jane",
        "custom": {"loyalty_id": {"type": "text", "value": "JD-991"}, "age": {"type": "number", "value": "41"}},
        "status": {"state": "open", "raw": "1", "label": "Open"},
        "amount": "120.50",
    });
    let masked = super::mask_payload(&payload);
    let text = masked.to_string();
    assert!(
        !text.contains("Jane") && !text.contains("JD-991") && !text.contains("41"),
        "{text}"
    );
    assert_eq!(masked["custom"]["loyalty_id"]["type"], "text");
    assert_eq!(masked["status"]["state"], "open");
    assert_eq!(masked["amount"], "120.50");
}

#[tokio::test]
async fn issue14_retry_sends_a_failed_write_again_and_refuses_unknown_or_other_writes() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(false, false);
    let a = enqueue(&outbox, 1);
    let b = enqueue(&outbox, 2);
    let parked = enqueue(&outbox, 3);
    let pending = enqueue(&outbox, 4);
    for _ in 0..2 {
        crm.script(
            Error::new(ErrorKind::Validation { fields: Vec::new() }, "rejected"),
            false,
        );
    }
    crm.script(Error::new(ErrorKind::Unavailable, "bad gateway"), true);
    outbox.deliver("acme", &crm, 3).await.unwrap();
    assert!(matches!(
        outbox.status(a).unwrap(),
        WriteStatus::Failed { .. }
    ));
    assert!(matches!(
        outbox.status(parked).unwrap(),
        WriteStatus::Parked { .. }
    ));

    let e = outbox.retry(12345).unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("12345"), "{e}");
    assert_eq!(
        *outbox.retry(pending).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let e = outbox.retry(parked).unwrap_err();
    assert_eq!(*e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("parked"), "{e}");

    assert_eq!(outbox.retry(a).unwrap(), 1);
    assert!(matches!(
        outbox.status(a).unwrap(),
        WriteStatus::Pending { attempts: 0, .. }
    ));
    assert_eq!(outbox.retry_all_failed(Some("other")).unwrap(), 0);
    assert_eq!(outbox.retry_all_failed(Some("acme")).unwrap(), 1);
    assert_eq!(outbox.retry_all_failed(None).unwrap(), 0);
    outbox.deliver("acme", &crm, 10).await.unwrap();
    for id in [a, b, pending] {
        delivered_id(&outbox, id);
    }
    assert!(matches!(
        outbox.status(parked).unwrap(),
        WriteStatus::Parked { .. }
    ));
}

#[tokio::test]
async fn issue14_next_due_is_the_earliest_backoff_end() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(true, false);
    assert_eq!(outbox.next_due("acme").unwrap(), None);
    let id = enqueue(&outbox, 1);
    assert!(outbox.next_due("acme").unwrap().is_some());
    crm.script(rate_limited(Duration::from_secs(3600)), false);
    outbox.deliver("acme", &crm, 10).await.unwrap();
    let due = outbox.next_due("acme").unwrap().unwrap();
    assert_eq!(due, next_attempt(&outbox, id));
    assert!(due > SystemTime::now() + Duration::from_secs(3000));
}

#[tokio::test]
async fn issue14_an_outbox_file_of_schema_2_gains_dependencies_and_keeps_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.sqlite");
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "CREATE TABLE outbox_writes (
                id INTEGER PRIMARY KEY AUTOINCREMENT, connection TEXT NOT NULL,
                idempotency_key TEXT NOT NULL, kind TEXT NOT NULL, operation TEXT NOT NULL,
                payload TEXT NOT NULL, actor TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'delivering', 'delivered', 'failed', 'parked')),
                attempts INTEGER NOT NULL DEFAULT 0, in_doubt INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER NOT NULL, lease_until INTEGER, record_id TEXT, error TEXT,
                created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                UNIQUE (connection, idempotency_key));
             CREATE INDEX outbox_due ON outbox_writes (connection, state, next_attempt_at);
             CREATE TABLE outbox_paused (connection TEXT PRIMARY KEY, since INTEGER NOT NULL);
             PRAGMA user_version = 2;",
        )
        .unwrap();
        let payload = serde_json::to_string(&Ticket::default()).unwrap();
        db.execute(
            "INSERT INTO outbox_writes (connection, idempotency_key, kind, operation, payload,
               actor, state, next_attempt_at, created_at, updated_at)
             VALUES ('acme', ?1, 'ticket', '{\"op\":\"create\"}', ?2, '{\"type\":\"bot\"}',
               'pending', 0, 0, 0)",
            rusqlite::params![key(1).as_str(), payload],
        )
        .unwrap();
    }
    let outbox = Outbox::open(&path, config()).unwrap();
    let note = enqueue_note(&outbox, 1, 1);
    let crm = Fake::new(true, false);
    for _ in 0..2 {
        outbox.deliver("acme", &crm, 10).await.unwrap();
    }
    let ticket_id = delivered_id(&outbox, 1);
    delivered_id(&outbox, note);
    assert_eq!(
        crm.sent(ObjectKind::Activity)[0]["what"]["id"],
        ticket_id.as_str()
    );
}

#[tokio::test]
async fn issue14_a_chain_of_dependent_writes_fails_link_by_link_and_is_retried_from_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open(&dir);
    let crm = Fake::new(true, false);
    let contact = outbox
        .enqueue(
            "acme",
            &PendingWrite::create(
                &Contact::default(),
                IdempotencyKey::derive("acme", "conv-9", "contact"),
                Actor::Bot,
            )
            .unwrap(),
        )
        .unwrap();
    let ticket = outbox
        .enqueue(
            "acme",
            &PendingWrite::create(&Ticket::default(), key(9), Actor::Bot)
                .unwrap()
                .depends_on(contact),
        )
        .unwrap();
    let note = enqueue_note(&outbox, 9, ticket);
    crm.script(
        Error::new(ErrorKind::Validation { fields: Vec::new() }, "rejected"),
        false,
    );
    let report = outbox.deliver("acme", &crm, 10).await.unwrap();
    assert_eq!(report.failed, 3);
    let reason = |id| match outbox.status(id).unwrap() {
        WriteStatus::Failed { error } => error,
        other => panic!("{other:?}"),
    };
    assert!(reason(ticket).contains(&format!("outbox write {contact})")));
    assert!(reason(note).contains(&format!("outbox write {ticket})")));

    assert_eq!(outbox.retry(contact).unwrap(), 3);
    for _ in 0..3 {
        outbox.deliver("acme", &crm, 10).await.unwrap();
    }
    let contact_id = delivered_id(&outbox, contact);
    let ticket_id = delivered_id(&outbox, ticket);
    delivered_id(&outbox, note);
    assert_eq!(
        crm.sent(ObjectKind::Ticket)[0]["contact_id"],
        contact_id.as_str()
    );
    assert_eq!(
        crm.sent(ObjectKind::Activity)[0]["what"]["id"],
        ticket_id.as_str()
    );
}
