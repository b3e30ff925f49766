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
//! Lost and duplicates are counted by a per-record marker of this run (`<run>~<workload>~<i>~`,
//! in each contact's last name and each ticket's subject), a field no CRM keeps unique: an
//! email would not do, since the CRMs refuse a second contact with the same email, so a
//! duplicate could never show. On an embedded fake the markers are read from the fake's own
//! store; against a connection file, through the API.
//!
//! Requests are counted by a [`Counter`] the connection's builder puts in front of the
//! vendor's own limiter (`with_request_observer`): the bench paces exactly as any other
//! connection does, and counts every attempt, retries and token requests included.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crm_core::outbox::{Outbox, OutboxConfig, PendingWrite};
use crm_core::reexports::futures::StreamExt;
use crm_core::{
    Activity, ActivityKind, Actor, Contact, Crm, Email, IdempotencyKey, ListQuery, ObjectKind,
    Personal, RecordId, RecordRef, Result, Ticket, UpsertKey, WriteContext,
};
use serde_json::{Value, json};

use crm_connect::testkit::{FaultPlan, RunningFake};

use crate::counter::Counter;
use crate::output::outln;

mod fakes;
mod report;

pub(crate) use report::{HEADER, Row, Workload, workloads};
use report::{marker, marker_in, tally};

/// Everything a run needs.
pub(crate) struct Bench<'a> {
    pub(crate) crm: &'a dyn Crm,
    pub(crate) counter: Arc<Counter>,
    pub(crate) faults: Option<&'a RunningFake>,
    pub(crate) count: usize,
    pub(crate) run: String,
    pub(crate) outbox_dir: std::path::PathBuf,
    /// The running workload's failed writes and the first error.
    pub(crate) failures: std::sync::Mutex<(usize, Option<String>)>,
}

impl Bench<'_> {
    fn email(&self, tag: &str, i: usize) -> String {
        format!("{}-{tag}-{i}@bench.example", self.run)
    }

    fn marker(&self, tag: &str, i: usize) -> String {
        marker(&self.run, tag, i)
    }

    fn prefix(&self, tag: &str) -> String {
        format!("{}~{tag}~", self.run)
    }

    /// The contact of record `i` of workload `tag`, with its upsert key (none where the
    /// connection upserts contacts by neither email nor external id).
    fn contact(&self, tag: &str, i: usize) -> (Option<UpsertKey>, Contact) {
        let email = Email::from_vendor(&self.email(tag, i));
        let mut contact = Contact {
            email: Some(email.clone()),
            last_name: Some(Personal::new(self.marker(tag, i))),
            ..Contact::default()
        };
        let key = self.contact_key(&email, &mut contact);
        (key, contact)
    }

    /// The adapter's largest batch and page for `kind`, so the bench sends what the vendor
    /// allows per request rather than a size of its own.
    fn sizes(&self, kind: ObjectKind) -> (usize, NonZeroU32) {
        let caps = self.crm.capabilities();
        let caps = caps.objects.get(&kind);
        let batch = caps.and_then(|c| c.max_batch).unwrap_or(100).max(1);
        let page = caps
            .and_then(|c| c.max_page_size)
            .and_then(NonZeroU32::new)
            .unwrap_or(NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN));
        (batch, page)
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
        let s0 = self.faults.map(served);
        let take_failures = || {
            std::mem::take(
                &mut *self
                    .failures
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            )
        };
        take_failures();
        let started = Instant::now();
        work().await?;
        let wall = started.elapsed();
        let (r1, l1, c1) = self.counter.snapshot();
        let served = self
            .faults
            .map(served)
            .zip(s0)
            .map(|((t1, l1), (t0, l0))| (t1.saturating_sub(t0), l1.saturating_sub(l0)));
        self.no_faults();
        let (failed, first_error) = take_failures();
        let (found, duplicates) = verify().await?;
        Ok(Row {
            failed,
            first_error,
            workload,
            requests: r1 - r0,
            limited: l1 - l0,
            client_errors: c1 - c0,
            expected,
            found,
            lost: expected.saturating_sub(found),
            duplicates,
            wall,
            served,
        })
    }

    /// W1 / W4: upsert contacts by email (or create them where the connection cannot
    /// upsert), in batches.
    async fn upsert_contacts(&self, tag: &str, n: usize) -> Result<Vec<RecordId>> {
        let inputs: Vec<(Option<UpsertKey>, Contact)> =
            (0..n).map(|i| self.contact(tag, i)).collect();
        let ctx = WriteContext::new(Actor::System("bench".into()));
        let mut ids = Vec::with_capacity(n);
        let (batch, _) = self.sizes(ObjectKind::Contact);
        for chunk in inputs.chunks(batch) {
            let results = self.write_contacts(chunk.to_vec(), &ctx).await;
            ids.extend(results.into_iter().flatten());
        }
        Ok(ids)
    }

    /// Reads every contact page by page at the adapter's largest page size; returns the
    /// markers of workload `tag` found.
    async fn list_contacts(&self, tag: &str) -> Result<Vec<String>> {
        let prefix = self.prefix(tag);
        let (_, page_size) = self.sizes(ObjectKind::Contact);
        let mut found = Vec::new();
        let mut pages = self.crm.contacts().list(ListQuery {
            page_size: Some(page_size),
            ..ListQuery::default()
        });
        while let Some(page) = pages.next().await {
            for c in page?.items {
                // The marker is written as the last name; a CRM that keeps one name field
                // (Pipedrive splits `name` at its first space) may read it back as the first.
                let names = [c.last_name.as_ref(), c.first_name.as_ref()];
                if let Some(m) = names
                    .into_iter()
                    .flatten()
                    .find_map(|n| marker_in(&Value::String(n.expose().clone()), &prefix))
                {
                    found.push(m);
                }
            }
        }
        Ok(found)
    }

    /// `(found, duplicates)` of workload `tag`'s contacts: from the fake's store when the
    /// server is one, else through the API.
    async fn count_contacts(&self, tag: &str) -> Result<(usize, usize)> {
        if let Some(fake) = self.faults {
            let prefix = self.prefix(tag);
            let stored = fake.stored(ObjectKind::Contact);
            return Ok(tally(stored.iter().filter_map(|r| marker_in(r, &prefix))));
        }
        Ok(tally(self.list_contacts(tag).await?))
    }

    async fn count_tickets(&self, tag: &str) -> Result<(usize, usize)> {
        let prefix = self.prefix(tag);
        if let Some(fake) = self.faults {
            let stored = fake.stored(ObjectKind::Ticket);
            return Ok(tally(stored.iter().filter_map(|r| marker_in(r, &prefix))));
        }
        let (_, page_size) = self.sizes(ObjectKind::Ticket);
        let mut found = Vec::new();
        let mut pages = self.crm.tickets().list(ListQuery {
            page_size: Some(page_size),
            ..ListQuery::default()
        });
        while let Some(page) = pages.next().await {
            for t in page?.items {
                if let Some(s) = t.subject.as_ref()
                    && let Some(m) = marker_in(&Value::String(s.expose().clone()), &prefix)
                {
                    found.push(m);
                }
            }
        }
        Ok(tally(found))
    }

    fn faults(&self, seed: u64) {
        if let Some(f) = self.faults {
            f.set_faults(FaultPlan::new(0.05, 0.5, seed));
        }
    }

    fn no_faults(&self) {
        if let Some(f) = self.faults {
            f.clear_faults();
        }
    }

    /// The upsert key for contacts: email where the vendor upserts on it, else the external id
    /// (set to the email), the fastest correct way each vendor allows.
    fn contact_key(&self, email: &Email, contact: &mut Contact) -> Option<UpsertKey> {
        let caps = self.crm.capabilities();
        let keys = caps
            .objects
            .get(&ObjectKind::Contact)
            .map(|c| c.upsert_keys.as_slice())
            .unwrap_or_default();
        if keys.iter().any(|k| k == "email") {
            Some(UpsertKey::Email(email.clone()))
        } else if keys.iter().any(|k| k == "external_id") {
            contact.external_id = Some(email.expose().to_owned());
            Some(UpsertKey::ExternalId(email.expose().to_owned()))
        } else {
            None
        }
    }

    /// Writes `inputs` in one vendor batch: an upsert where every input has a key, else
    /// creates (Pipedrive has no upsert); one result per input, failures noted for the row.
    async fn write_contacts(
        &self,
        inputs: Vec<(Option<UpsertKey>, Contact)>,
        ctx: &WriteContext,
    ) -> Vec<Result<RecordId>> {
        let keyed: Option<Vec<(UpsertKey, Contact)>> = inputs
            .iter()
            .map(|(k, c)| Some((k.clone()?, c.clone())))
            .collect();
        let results: Vec<Result<RecordId>> = match keyed {
            Some(keyed) => self
                .crm
                .contacts()
                .upsert_batch(&keyed, ctx)
                .await
                .into_iter()
                .map(|r| r.map(|u| u.record.id))
                .collect(),
            None => {
                let plain: Vec<Contact> = inputs.into_iter().map(|(_, c)| c).collect();
                let created = self.crm.contacts().create_batch(&plain, ctx).await;
                created.into_iter().map(|r| r.map(|r| r.id)).collect()
            }
        };
        self.note_failures(&results);
        results
    }

    /// Counts the failed writes of the running workload and keeps the first error, printed
    /// under the table: a record that was lost because the vendor refused it says why.
    fn note_failures<T>(&self, results: &[Result<T>]) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            failures.0 += 1;
            failures.1.get_or_insert_with(|| e.to_string());
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
                let counted = tally(self.list_contacts("w1").await?);
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
                        subject: Some(Personal::new(self.marker("w3", i))),
                        contact_id: contacts.get(i % contacts.len().max(1)).cloned(),
                        ..Ticket::default()
                    })
                    .collect();
                let created = self.crm.tickets().create_batch(&tickets, &ctx).await;
                self.note_failures(&created);
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
                let written = self.crm.activities().create_batch(&notes, &ctx).await;
                self.note_failures(&written);
                let ok = written.iter().filter(|r| r.is_ok()).count();
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
                        // Upserts are idempotent, so the transport retries faults, even after
                        // commit, and so does this loop; a create without a key is sent once
                        // (sending it again after a fault could duplicate it).
                        let mut missing: Vec<usize> = (0..per_seed).collect();
                        for _round in 0..5 {
                            let inputs: Vec<(Option<UpsertKey>, Contact)> =
                                missing.iter().map(|&i| self.contact(&tag, i)).collect();
                            let keyed = inputs.iter().all(|(k, _)| k.is_some());
                            let ctx = WriteContext::new(Actor::System("bench".into()));
                            let results = self.write_contacts(inputs, &ctx).await;
                            missing = missing
                                .iter()
                                .zip(results)
                                .filter(|(_, r)| r.as_ref().is_err_and(|e| e.is_retryable()))
                                .map(|(i, _)| *i)
                                .collect();
                            if missing.is_empty() || !keyed {
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
                            subject: Some(Personal::new(self.marker("w4b", i))),
                            ..Ticket::default()
                        };
                        let key = IdempotencyKey::derive(&self.run, &format!("w4b-{i}"), "ticket");
                        outbox
                            .enqueue("bench", &PendingWrite::create(&ticket, key, Actor::Bot)?)?;
                    }
                    // A delivery round sends what it claims, so it claims a whole vendor batch.
                    let (batch, _) = self.sizes(ObjectKind::Ticket);
                    for seed in 1..=5u64 {
                        self.faults(seed);
                        for _ in 0..(n / 5 / batch + 1) {
                            outbox.deliver("bench", self.crm, batch).await?;
                        }
                    }
                    self.no_faults();
                    let mut rounds = 0;
                    while outbox.depth("bench")?.pending > 0 && rounds < 10_000 {
                        outbox.deliver("bench", self.crm, batch).await?;
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

/// What `crm-connect bench` was asked to do.
pub(crate) struct Options {
    /// `--workload` names (all when empty).
    pub(crate) workloads: Vec<String>,
    /// `--count`.
    pub(crate) count: usize,
    /// `--config`: a connection file instead of an embedded fake.
    pub(crate) config: Option<PathBuf>,
    /// `--vendor`: which embedded fake.
    pub(crate) vendor: String,
    /// `--json`: one JSON document instead of the table.
    pub(crate) json: bool,
}

/// `crm-connect bench`: runs the workloads and prints the table (or JSON).
pub(crate) async fn run(opts: Options) -> Result<ExitCode> {
    // Every argument is checked before anything runs or prints: an error never follows a
    // half-printed table.
    let wanted = workloads(&opts.workloads)?;
    if let Some(path) = &opts.config {
        let conn = crate::config::load(path)?;
        let (crm, counter) = crate::config::build_counted(&conn)?;
        return run_workloads(&opts, &wanted, crm.as_ref(), counter, None).await;
    }
    let counter = Arc::new(Counter::default());
    let (fake, crm) = fakes::start(&opts.vendor, counter.clone()).await?;
    run_workloads(&opts, &wanted, crm.as_ref(), counter, Some(&fake)).await
}

async fn run_workloads(
    opts: &Options,
    wanted: &[Workload],
    crm: &dyn Crm,
    counter: Arc<Counter>,
    faults: Option<&RunningFake>,
) -> Result<ExitCode> {
    let run = format!("b{:06x}", std::process::id());
    let b = Bench {
        crm,
        counter,
        faults,
        count: opts.count,
        run,
        outbox_dir: std::env::temp_dir(),
        failures: std::sync::Mutex::default(),
    };
    if !opts.json {
        outln!(
            "crm-connect bench: vendor {}, {} records per workload",
            crm.vendor(),
            opts.count
        );
        outln!("{HEADER}");
    }
    let mut w1_ids = Vec::new();
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for w in wanted {
        if let Some(why) = w.skip_reason(crm) {
            if !opts.json {
                outln!("| {:<4} | skipped: {why}", w.name());
            }
            skipped.push(json!({"workload": w.name(), "skipped": why}));
            continue;
        }
        // A spinner on stderr with the requests sent so far (hidden when stderr is not a TTY).
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!("{w}: starting"));
        bar.enable_steady_tick(Duration::from_millis(200));
        let ticker = {
            let bar = bar.clone();
            let counter = b.counter.clone();
            let w = *w;
            let start = counter.requests();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    bar.set_message(format!("{w}: {} requests", counter.requests() - start));
                }
            })
        };
        let row = match w {
            Workload::W1 => {
                let (row, ids) = b.w1().await?;
                w1_ids = ids;
                row
            }
            Workload::W2 => b.w2(opts.count).await?,
            Workload::W3 => b.w3(&w1_ids).await?,
            Workload::W4 => b.w4().await?,
            Workload::W4b => b.w4b().await?,
        };
        ticker.abort();
        bar.finish_and_clear();
        if !opts.json {
            outln!("{row}");
        }
        rows.push(row);
    }
    // The short-window limit the server states in its headers: an embedded fake's own (a
    // connection file's server is not asked; its share of the limit is not shown).
    let stated = faults.and_then(RunningFake::stated_limit);
    if opts.json {
        let doc = json!({
            "vendor": crm.vendor(),
            "count": opts.count,
            "rate_limit": stated.map(|(n, w)| json!({"requests": n, "window_ms": w.as_millis() as u64})),
            "workloads": rows.iter().map(|r| r.json(stated)).collect::<Vec<_>>(),
            "skipped": skipped,
        });
        let text = serde_json::to_string_pretty(&doc)
            .map_err(|e| crm_core::Error::decode(format!("cannot print JSON: {e}")))?;
        outln!("{text}");
    } else {
        for r in rows.iter().filter(|r| r.failed > 0) {
            let first = r.first_error.as_deref().unwrap_or_default();
            outln!(
                "\n{}: {} writes failed; the first: {first}",
                r.workload,
                r.failed
            );
        }
    }
    if !opts.json
        && let Some(w4b) = rows.iter().find(|r| r.workload == "W4b")
    {
        let per = w4b.per_thousand().unwrap_or_default();
        match (w4b.limit_share(stated), stated) {
            (Some(share), Some((n, window))) => outln!(
                "\nW4b: {per:.0} requests per 1,000 records; {:.0} % of the rate limit ({n} per {} ms)",
                share * 100.0,
                window.as_millis()
            ),
            _ => outln!(
                "\nW4b: {per:.0} requests per 1,000 records; the server stated no rate limit"
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `(requests, refused for a limit)` the fake has served so far, by its own counters: every
/// request, token requests included.
fn served(fake: &RunningFake) -> (usize, usize) {
    let s = fake.served();
    (s.requests + s.token_requests, s.limited)
}
