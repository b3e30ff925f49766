//! `crm-connect bench`: workloads through the SDK, with what they cost and whether anything was
//! lost or duplicated. Figures are measured, never asserted.
//!
//! | workload | what |
//! |---|---|
//! | W1 | upsert N contacts with unique emails (the vendor's fastest correct way: batch upsert by email where there is one) |
//! | W2 | read every contact back, page by page at the largest page size |
//! | W3 | N/5 tickets each linked to a W1 contact, plus one note per ticket linked to the contact and the ticket |
//! | W4 | W1 with 5 % injected 502/503 faults, half of them after the write committed; seeds 1–5, N/5 contacts each |
//! | W4b | N ticket creates (no natural unique key) through the durable outbox, with the same faults |
//!
//! Lost and duplicates are counted by reading back through the API: every record carries a
//! unique marker (its email or subject) of this run.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crm_core::limits::{Bucket, RateLimiter};
use crm_core::outbox::{Outbox, OutboxConfig, PendingWrite};
use crm_core::reexports::async_trait;
use crm_core::reexports::futures::StreamExt;
use crm_core::reexports::http::HeaderMap;
use crm_core::{
    Activity, ActivityKind, Actor, Contact, Crm, Email, IdempotencyKey, ListQuery, ObjectKind,
    Personal, RecordId, RecordRef, Result, Ticket, UpsertKey, WriteContext,
};

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

    fn name(self) -> &'static str {
        match self {
            Self::W1 => "W1",
            Self::W2 => "W2",
            Self::W3 => "W3",
            Self::W4 => "W4",
            Self::W4b => "W4b",
        }
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

/// Counts every attempt the transport makes and every limit response it sees, for any server.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    inner: Option<Arc<dyn RateLimiter>>,
    requests: AtomicUsize,
    limited: AtomicUsize,
    client_errors: AtomicUsize,
}

impl Counter {
    pub(crate) fn wrapping(inner: Option<Arc<dyn RateLimiter>>) -> Self {
        Self {
            inner,
            ..Self::default()
        }
    }

    /// Requests sent so far (every attempt counts).
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn snapshot(&self) -> (usize, usize, usize) {
        (
            self.requests.load(Ordering::SeqCst),
            self.limited.load(Ordering::SeqCst),
            self.client_errors.load(Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl RateLimiter for Counter {
    async fn acquire(&self, bucket: Bucket, max_wait: Duration) -> Result<()> {
        if let Some(inner) = &self.inner {
            inner.acquire(bucket, max_wait).await?;
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn observe(&self, bucket: Bucket, status: u16, headers: &HeaderMap) {
        if status == 429 {
            self.limited.fetch_add(1, Ordering::SeqCst);
        } else if (400..500).contains(&status) && status != 404 && status != 409 {
            self.client_errors.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(inner) = &self.inner {
            inner.observe(bucket, status, headers);
        }
    }
}

/// How to inject faults into the server, when it is one of ours.
pub(crate) trait FaultControl: Send + Sync {
    /// Fails `fail_rate` of requests with 502/503, `after_commit` of those after the write.
    fn set(&self, fail_rate: f64, after_commit: f64, seed: u64);
    /// No more faults.
    fn clear(&self);
}

/// One row of the results table.
#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    workload: &'static str,
    requests: usize,
    limited: usize,
    client_errors: usize,
    expected: usize,
    found: usize,
    lost: usize,
    duplicates: usize,
    wall: Duration,
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

/// Everything a run needs.
pub(crate) struct Bench<'a> {
    pub(crate) crm: &'a dyn Crm,
    pub(crate) counter: Arc<Counter>,
    pub(crate) faults: Option<&'a dyn FaultControl>,
    pub(crate) count: usize,
    pub(crate) run: String,
    pub(crate) outbox_dir: std::path::PathBuf,
}

impl Bench<'_> {
    fn email(&self, tag: &str, i: usize) -> String {
        format!("{}-{tag}-{i}@bench.example", self.run)
    }

    /// Runs `work`, counting its requests and time, then `verify` (whose reads are not counted)
    /// for `(found, duplicates)`.
    async fn measure<W, WF, V, VF>(
        &self,
        workload: &'static str,
        expected: usize,
        work: W,
        verify: V,
    ) -> Result<Row>
    where
        W: FnOnce() -> WF,
        WF: std::future::Future<Output = Result<()>>,
        V: FnOnce() -> VF,
        VF: std::future::Future<Output = Result<(usize, usize)>>,
    {
        let (r0, l0, c0) = self.counter.snapshot();
        let started = Instant::now();
        work().await?;
        let wall = started.elapsed();
        let (r1, l1, c1) = self.counter.snapshot();
        self.no_faults();
        let (found, duplicates) = verify().await?;
        Ok(Row {
            workload,
            requests: r1 - r0,
            limited: l1 - l0,
            client_errors: c1 - c0,
            expected,
            found,
            lost: expected.saturating_sub(found),
            duplicates,
            wall,
        })
    }

    /// W1 / W4: upsert contacts by email, in batches.
    async fn upsert_contacts(&self, tag: &str, n: usize) -> Result<Vec<RecordId>> {
        let inputs: Vec<(UpsertKey, Contact)> = (0..n)
            .map(|i| {
                let email = Email::from_vendor(&self.email(tag, i));
                let mut contact = Contact {
                    email: Some(email.clone()),
                    last_name: Some(Personal::new(format!("Bench {i}"))),
                    ..Contact::default()
                };
                let key = self.contact_key(&email, &mut contact);
                (key, contact)
            })
            .collect();
        let ctx = WriteContext::new(Actor::System("bench".into()));
        let mut ids = Vec::with_capacity(n);
        for chunk in inputs.chunks(500) {
            let results = self.crm.contacts().upsert_batch(chunk, &ctx).await;
            ids.extend(results.into_iter().flatten().map(|u| u.record.id));
        }
        Ok(ids)
    }

    /// Counts contacts whose email has this run's tag, by reading every page.
    async fn count_contacts(&self, tag: &str) -> Result<(usize, usize)> {
        let prefix = format!("{}-{tag}-", self.run);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut pages = self.crm.contacts().list(ListQuery {
            page_size: NonZeroU32::new(100),
            ..ListQuery::default()
        });
        while let Some(page) = pages.next().await {
            for c in page?.items {
                if let Some(e) = c.email.as_ref().map(|e| e.expose().to_owned())
                    && e.starts_with(&prefix)
                {
                    *seen.entry(e).or_default() += 1;
                }
            }
        }
        let dups = seen.values().map(|n| n - 1).sum();
        Ok((seen.len(), dups))
    }

    async fn count_tickets(&self, tag: &str) -> Result<(usize, usize)> {
        let prefix = format!("{}-{tag}-", self.run);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut pages = self.crm.tickets().list(ListQuery {
            page_size: NonZeroU32::new(100),
            ..ListQuery::default()
        });
        while let Some(page) = pages.next().await {
            for t in page?.items {
                if let Some(s) = t.subject.as_ref().map(|s| s.expose().clone())
                    && s.starts_with(&prefix)
                {
                    *seen.entry(s).or_default() += 1;
                }
            }
        }
        let dups = seen.values().map(|n| n - 1).sum();
        Ok((seen.len(), dups))
    }

    fn faults(&self, seed: u64) {
        if let Some(f) = self.faults {
            f.set(0.05, 0.5, seed);
        }
    }

    fn no_faults(&self) {
        if let Some(f) = self.faults {
            f.clear();
        }
    }

    /// The upsert key for contacts: email where the vendor upserts on it, else the external id
    /// (set to the email), the fastest correct way each vendor allows.
    fn contact_key(&self, email: &Email, contact: &mut Contact) -> UpsertKey {
        let by_email = self
            .crm
            .capabilities()
            .objects
            .get(&ObjectKind::Contact)
            .is_some_and(|c| c.upsert_keys.iter().any(|k| k == "email"));
        if by_email {
            UpsertKey::Email(email.clone())
        } else {
            contact.external_id = Some(email.expose().to_owned());
            UpsertKey::ExternalId(email.expose().to_owned())
        }
    }

    /// W1; also returns the contacts' ids for W3.
    pub(crate) async fn w1(&self) -> Result<(Row, Vec<RecordId>)> {
        let n = self.count;
        let ids = std::sync::Mutex::new(Vec::new());
        let row = self
            .measure(
                "W1",
                n,
                || async {
                    let written = self.upsert_contacts("w1", n).await?;
                    *ids.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = written;
                    Ok(())
                },
                || self.count_contacts("w1"),
            )
            .await?;
        Ok((
            row,
            ids.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        ))
    }

    pub(crate) async fn w2(&self, expected: usize) -> Result<Row> {
        let found = std::sync::Mutex::new((0, 0));
        self.measure(
            "W2",
            expected,
            || async {
                let counted = self.count_contacts("w1").await?;
                *found
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = counted;
                Ok(())
            },
            || async {
                Ok(*found
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner))
            },
        )
        .await
    }

    pub(crate) async fn w3(&self, contacts: &[RecordId]) -> Result<Row> {
        let n = (self.count / 5).max(1);
        let ctx = WriteContext::new(Actor::System("bench".into()));
        let notes_ok = AtomicUsize::new(0);
        self.measure(
            "W3",
            2 * n,
            || async {
                let tickets: Vec<Ticket> = (0..n)
                    .map(|i| Ticket {
                        subject: Some(Personal::new(format!("{}-w3-{i}", self.run))),
                        contact_id: contacts.get(i % contacts.len().max(1)).cloned(),
                        ..Ticket::default()
                    })
                    .collect();
                let created = self.crm.tickets().create_batch(&tickets, &ctx).await;
                let notes: Vec<Activity> = created
                    .iter()
                    .zip(&tickets)
                    .filter_map(|(r, t)| r.as_ref().ok().map(|r| (r, t)))
                    .map(|(r, t)| Activity {
                        kind: ActivityKind::Note,
                        subject: Some(Personal::new("bench note".to_owned())),
                        body: Some(Personal::new("noted".to_owned())),
                        who: t
                            .contact_id
                            .clone()
                            .map(|id| RecordRef::new(ObjectKind::Contact, id)),
                        what: Some(RecordRef::new(ObjectKind::Ticket, r.id.clone())),
                        ..Activity::default()
                    })
                    .collect();
                let ok = self
                    .crm
                    .activities()
                    .create_batch(&notes, &ctx)
                    .await
                    .iter()
                    .filter(|r| r.is_ok())
                    .count();
                notes_ok.store(ok, Ordering::SeqCst);
                Ok(())
            },
            || async {
                let (tickets_found, dups) = self.count_tickets("w3").await?;
                Ok((tickets_found + notes_ok.load(Ordering::SeqCst), dups))
            },
        )
        .await
    }

    pub(crate) async fn w4(&self) -> Result<Row> {
        let per_seed = (self.count / 5).max(1);
        let row = self
            .measure(
                "W4",
                per_seed * 5,
                || async {
                    for seed in 1..=5u64 {
                        self.faults(seed);
                        let tag = format!("w4s{seed}");
                        // Upserts are idempotent, so the transport retries faults, even after commit.
                        let mut missing: Vec<usize> = (0..per_seed).collect();
                        for _round in 0..5 {
                            let inputs: Vec<(UpsertKey, Contact)> = missing
                                .iter()
                                .map(|&i| {
                                    let email = Email::from_vendor(&self.email(&tag, i));
                                    let mut contact = Contact {
                                        email: Some(email.clone()),
                                        last_name: Some(Personal::new(format!("Bench {i}"))),
                                        ..Contact::default()
                                    };
                                    let key = self.contact_key(&email, &mut contact);
                                    (key, contact)
                                })
                                .collect();
                            let ctx = WriteContext::new(Actor::System("bench".into()));
                            let results = self.crm.contacts().upsert_batch(&inputs, &ctx).await;
                            missing = missing
                                .iter()
                                .zip(results)
                                .filter(|(_, r)| r.as_ref().is_err_and(|e| e.is_retryable()))
                                .map(|(i, _)| *i)
                                .collect();
                            if missing.is_empty() {
                                break;
                            }
                        }
                    }
                    Ok(())
                },
                || async {
                    let mut found = 0;
                    let mut dups = 0;
                    for seed in 1..=5u64 {
                        let (f, d) = self.count_contacts(&format!("w4s{seed}")).await?;
                        found += f;
                        dups += d;
                    }
                    Ok((found, dups))
                },
            )
            .await;
        self.no_faults();
        row
    }

    pub(crate) async fn w4b(&self) -> Result<Row> {
        let n = self.count;
        let path = self.outbox_dir.join(format!("{}-w4b.sqlite", self.run));
        let outbox = Outbox::open(
            &path,
            OutboxConfig {
                base_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(50),
                ..OutboxConfig::default()
            },
        )?;
        let row = self
            .measure(
                "W4b",
                n,
                || async {
                    for i in 0..n {
                        let ticket = Ticket {
                            subject: Some(Personal::new(format!("{}-w4b-{i}", self.run))),
                            ..Ticket::default()
                        };
                        let key = IdempotencyKey::derive(&self.run, &format!("w4b-{i}"), "ticket");
                        outbox
                            .enqueue("bench", &PendingWrite::create(&ticket, key, Actor::Bot)?)?;
                    }
                    for seed in 1..=5u64 {
                        self.faults(seed);
                        for _ in 0..(n / 5 / 100 + 1) {
                            outbox.deliver("bench", self.crm, 100).await?;
                        }
                    }
                    self.no_faults();
                    let mut rounds = 0;
                    while outbox.depth("bench")?.pending > 0 && rounds < 10_000 {
                        outbox.deliver("bench", self.crm, 200).await?;
                        rounds += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Ok(())
                },
                || self.count_tickets("w4b"),
            )
            .await;
        self.no_faults();
        let _ = std::fs::remove_file(&path);
        row
    }
}
