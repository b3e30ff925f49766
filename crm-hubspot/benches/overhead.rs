//! The SDK's own cost: per record mapped (typed model ↔ vendor fields, both ways) and per call,
//! next to a bare client on the same server.
//!
//! The comparison: a bare `reqwest` + `serde_json::Value` client and crm-connect's HubSpot
//! adapter read from the same in-process HubSpot-shaped server (canned bodies, so the server
//! costs both sides the same and as little as possible):
//!
//! - `get, transport only`: the same request through crm-core's `HttpClient` alone, decoded into
//!   `serde_json::Value` like the bare client's (what the transport adds, without an adapter);
//! - `get`: one contact, `GET /crm/v3/objects/contacts/{id}`;
//! - `page`: one page of 100 contacts, `GET /crm/v3/objects/contacts?limit=100`;
//! - `stream`: 10,000 contacts, 100 pages followed through their cursors;
//! - `360° lookup`: the customer view of the demo customer by email against crm-testkit's
//!   HubSpot fake (in process, limits lifted, pipelines already cached), the bare client sending
//!   the same requests in the same two rounds (the contact with its associations; then the
//!   company, the deal and ticket searches and the activity batch reads, concurrently).
//!
//! Each runs as a criterion benchmark, and then in a paired run that alternates the two clients
//! in blocks (bare, SDK, SDK, bare, ...), so that a machine whose speed drifts during the run
//! moves both alike; the ratio printed is the median of the blocks' ratios. Last, a stream of
//! 1,000,000 contacts through the SDK prints the process's resident memory every 100,000 records
//! (it should stay flat: pages are fetched as the stream is polled; the server makes the pages
//! past the first 10,000 records as they are asked for, so it holds none of them).
//!
//! ```text
//! cargo bench -p crm-hubspot --bench overhead
//! cargo bench -p crm-hubspot --bench overhead -- --warm-up-time 1 --measurement-time 3
//! ```
//! `OVERHEAD_BLOCKS` (default 15) sets the number of paired blocks and `OVERHEAD_BLOCK_RUNS` the runs
//! of each side in a block (default: about 30 ms of work); `OVERHEAD_PAIRED=get,transport`
//! pairs only those works and skips the memory check (with a criterion filter that matches
//! nothing, `cargo bench -p crm-hubspot --bench overhead -- nothing`, only the paired run
//! runs). `OVERHEAD_RUN=get:sdk:2000`
//! (`transport`, `get`, `page`, `stream` or `lookup`; `bare` or `sdk`; a count) runs only that,
//! so that `perf stat -e instructions` or `perf record` see one side alone (the phone library's
//! metadata is then loaded before the run, so a count for the whole process holds it once).
//! `OVERHEAD_POOLS=4` first sends four gets at once on each client, so both connection pools
//! hold the same idle connections (see `Clients::fill_pools`).
//!
//! Where the calls run: by default the paired run awaits them on the bench's main thread
//! (`block_on`), outside the runtime's worker threads, so every call hands the request to a
//! worker and waits to be woken with the answer; on a small VM those wake-ups are most of a
//! loopback call's time and vary from process to process with which thread runs which task.
//! `OVERHEAD_CALLER=task` runs each block as a task on the runtime (as a bot's request handler
//! would), and `OVERHEAD_RUNTIME=current_thread` puts clients and server on one thread, which
//! leaves each client's own work and little else.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Response, Uri, header};
use bytes::Bytes;
use criterion::Criterion;
use crm_core::credential::StaticCredential;
use crm_core::limits::Unlimited;
use crm_core::mapping::ObjectMapping;
use crm_core::raw::http::{HttpClient, HttpClientBuilder, Request};
use crm_core::{
    Contact, Crm, Email, Entity, FieldValue, ListQuery, Lookup, ObjectKind, Phone, RecordId,
    Region, ViewOptions,
};
use crm_hubspot::HubSpot;
use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, Limits, demo};
use futures::StreamExt;
use secrecy::SecretString;

const PAGE: usize = 100;
/// Records the paired stream reads (and the server holds canned).
const STREAM_RECORDS: usize = 10_000;
/// Records the memory check streams (the server makes the pages past `STREAM_RECORDS` as they
/// are asked for).
const MEMORY_RECORDS: usize = 1_000_000;
/// Records between two resident-memory readings of the memory check.
const MEMORY_MARK: usize = 100_000;
const TOKEN: &str = "bench-token";

fn mapping(c: &mut Criterion) {
    let mapping: ObjectMapping = toml::from_str(
        "[fields]\nemail = \"Email\"\nphone = \"Phone\"\nfirst_name = \"FirstName\"\nlast_name = \"LastName\"\ntitle = \"Title\"\naccount_id = \"AccountId\"\n",
    )
    .unwrap();
    let mut contact = Contact {
        email: Some(Email::parse("jane.doe@example.com").unwrap()),
        phone: Some(Phone::parse("(415) 555-0100", Region::us()).unwrap()),
        first_name: Some("Jane".into()),
        last_name: Some("Doe".into()),
        title: Some("Operations Manager".into()),
        ..Contact::default()
    };
    contact
        .custom
        .insert("loyalty_tier".into(), FieldValue::from("gold"));
    c.bench_function("map one contact to vendor fields and back", |b| {
        b.iter(|| {
            let vendor = mapping
                .to_vendor(ObjectKind::Contact, &black_box(&contact).to_fields())
                .unwrap();
            let common = mapping.from_vendor(ObjectKind::Contact, vendor);
            black_box(Contact::from_fields(common, Region::us()).unwrap())
        })
    });
}

/// A contact as HubSpot's CRM API returns it (object id, properties, timestamps, archived).
fn contact_json(i: usize) -> serde_json::Value {
    serde_json::json!({
        "id": (1000 + i).to_string(),
        "properties": {
            "email": format!("customer{i}@example.com"),
            "phone": format!("+1 415 555 {:04}", i % 10_000),
            "mobilephone": null,
            "firstname": "Jane",
            "lastname": format!("Doe {i}"),
            "jobtitle": "Operations Manager",
            "associatedcompanyid": null,
            "hs_object_id": (1000 + i).to_string(),
            "createdate": "2024-03-01T10:00:00.000Z",
            "lastmodifieddate": "2024-05-01T10:00:00.000Z"
        },
        "createdAt": "2024-03-01T10:00:00.000Z",
        "updatedAt": "2024-05-01T10:00:00.000Z",
        "archived": false
    })
}

/// The page of the listing of `records` contacts that starts at `start`.
fn page_body(start: usize, records: usize) -> Bytes {
    let end = (start + PAGE).min(records);
    let results: Vec<_> = (start..end).map(contact_json).collect();
    let mut body = serde_json::json!({ "results": results });
    if end < records {
        body["paging"] = serde_json::json!({
            "next": {
                "after": end.to_string(),
                "link": format!("?after={end}")
            }
        });
    }
    Bytes::from(serde_json::to_vec(&body).unwrap())
}

/// The canned bodies: one contact, and the pages of the listing's first `STREAM_RECORDS`
/// records; the pages after those are made when asked for.
struct Canned {
    contact: Bytes,
    pages: Vec<Bytes>,
    records: usize,
}

impl Canned {
    fn new(records: usize) -> Self {
        let canned = records.min(STREAM_RECORDS);
        let pages = (0..canned.div_ceil(PAGE))
            .map(|p| page_body(p * PAGE, records))
            .collect();
        Self {
            contact: Bytes::from(serde_json::to_vec(&contact_json(0)).unwrap()),
            pages,
            records,
        }
    }

    fn answer(&self, uri: &Uri) -> Response<Body> {
        let path = uri.path();
        let body = if path.ends_with("/contacts") {
            // A listing: where `after` says, capped at the listing's end (the paired stream
            // reads its first 10,000 records).
            let after: usize = uri
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("after="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            match self.pages.get(after / PAGE) {
                Some(page) => page.clone(),
                None if after < self.records => page_body(after, self.records),
                None => Bytes::from_static(b"{\"results\":[]}"),
            }
        } else {
            self.contact.clone()
        };
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json;charset=utf-8")
            .body(Body::from(body))
            .unwrap()
    }
}

/// Serves the canned bodies on a loopback port; the listing holds `records` contacts (the
/// paired stream's clients both stop by count at `STREAM_RECORDS`).
async fn serve(rt: &tokio::runtime::Runtime, records: usize) -> String {
    let canned = Arc::new(Canned::new(records));
    let listener = rt
        .spawn(async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() })
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(move |uri: Uri| {
        let canned = canned.clone();
        async move { canned.answer(&uri) }
    });
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[derive(Clone, Copy, Debug)]
enum Work {
    /// The transport alone: crm-core's `HttpClient` decoding into `serde_json::Value`, as the
    /// bare client does (no adapter, no mapping).
    Transport,
    Get,
    Page,
    Stream,
    /// The 360° view of the demo customer against the HubSpot fake.
    Lookup,
}

impl Work {
    const ALL: [Work; 5] = [
        Work::Transport,
        Work::Get,
        Work::Page,
        Work::Stream,
        Work::Lookup,
    ];

    fn name(self) -> &'static str {
        match self {
            Work::Transport => "get, transport only",
            Work::Get => "get one contact",
            Work::Page => "one page of 100 contacts",
            Work::Stream => "stream 10,000 contacts",
            Work::Lookup => "360° lookup by email (6 requests, 2 rounds)",
        }
    }

    fn parse(text: &str) -> Option<Work> {
        Some(match text {
            "transport" => Work::Transport,
            "get" => Work::Get,
            "page" => Work::Page,
            "stream" => Work::Stream,
            "lookup" => Work::Lookup,
            _ => return None,
        })
    }

    /// Records one run reads (for a lookup: one view).
    fn records(self) -> usize {
        match self {
            Work::Transport | Work::Get | Work::Lookup => 1,
            Work::Page => PAGE,
            Work::Stream => STREAM_RECORDS,
        }
    }
}

struct Clients {
    base: String,
    /// The properties the adapter asks for, so both clients send the same query.
    properties: String,
    bare: reqwest::Client,
    sdk: HubSpot,
    transport: HttpClient,
    /// The HubSpot fake the lookups read, and the SDK connected to it.
    fake: HubSpotFake,
    fake_sdk: HubSpot,
}

/// The properties the adapter reads of each object the view reads (its default mapping).
const CONTACT_PROPS: &str =
    "associatedcompanyid,email,firstname,jobtitle,lastmodifieddate,lastname,mobilephone,phone";
const COMPANY_PROPS: &[&str] = &["domain", "hs_lastmodifieddate", "industry", "name", "phone"];
const DEAL_PROPS: &[&str] = &[
    "amount",
    "closedate",
    "dealname",
    "dealstage",
    "deal_currency_code",
    "hs_lastmodifieddate",
    "pipeline",
];
const TICKET_PROPS: &[&str] = &[
    "content",
    "hs_lastmodifieddate",
    "hs_pipeline",
    "hs_pipeline_stage",
    "hs_ticket_priority",
    "subject",
];
const NOTE_PROPS: &[&str] = &["hs_lastmodifieddate", "hs_note_body", "hs_timestamp"];
const CALL_PROPS: &[&str] = &[
    "hs_call_body",
    "hs_call_title",
    "hs_lastmodifieddate",
    "hs_timestamp",
];
const TASK_PROPS: &[&str] = &[
    "hs_lastmodifieddate",
    "hs_task_body",
    "hs_task_status",
    "hs_task_subject",
    "hs_timestamp",
];

/// The ids of `object` the contact's read names.
fn associated(contact: &serde_json::Value, object: &str) -> Vec<String> {
    let mut ids: Vec<String> = contact["associations"][object]["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|a| a["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids.dedup();
    ids
}

impl Clients {
    fn new(rt: &tokio::runtime::Runtime, base: String) -> Self {
        let sdk = HubSpot::builder()
            .with_base_url(base.clone())
            .with_token(SecretString::from(TOKEN))
            // The bench measures the SDK's cost, not HubSpot's rate limits.
            .with_limiter(Arc::new(Unlimited))
            .build()
            .unwrap();
        let transport = HttpClientBuilder::new("bench", base.clone())
            .with_credentials(Arc::new(StaticCredential::bearer(SecretString::from(
                TOKEN,
            ))))
            .build()
            .unwrap();
        // Limits lifted: the bench measures the clients, not the fake's pacing.
        let config = HubSpotFakeConfig {
            limits: Limits {
                ten_second_max: u32::MAX,
                daily_max: u64::MAX,
                search_per_second: u32::MAX,
                ..Limits::default()
            },
            ..HubSpotFakeConfig::with_demo_properties()
        }
        .without_search_lag();
        let fake = rt.block_on(HubSpotFake::start(config));
        let fake_sdk = HubSpot::builder()
            .with_base_url(fake.base_url())
            .with_token(SecretString::from(fake.token().to_owned()))
            .with_limiter(Arc::new(Unlimited))
            .build()
            .unwrap();
        Self {
            base,
            transport,
            properties: "associatedcompanyid,email,firstname,jobtitle,lastname,mobilephone,phone"
                .into(),
            bare: reqwest::Client::new(),
            sdk,
            fake,
            fake_sdk,
        }
    }

    /// `n` gets at once on each client, so that both connection pools hold the same idle
    /// connections to the canned server (`OVERHEAD_POOLS=n`). With exactly one idle connection
    /// hyper's pool removes and re-creates its list for the host on every call (two hashed map
    /// operations, ~1.7k instructions), and whether a client ends up with one or several
    /// depends on timing, not on the client.
    fn fill_pools(&self, rt: &tokio::runtime::Runtime, n: usize) {
        rt.block_on(async {
            for work in [Work::Transport, Work::Get] {
                futures::future::join_all((0..n).map(|_| self.bare(work))).await;
                futures::future::join_all((0..n).map(|_| self.sdk(work))).await;
            }
        });
    }

    async fn bare_post_json(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.bare
            .post(format!("{}{path}", self.fake.base_url()))
            .bearer_auth(self.fake.token())
            .json(&body)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A batch read of `ids` (none: no request).
    async fn bare_batch(&self, object: &str, ids: &[String], props: &[&str]) -> usize {
        if ids.is_empty() {
            return 0;
        }
        let inputs: Vec<_> = ids.iter().map(|id| serde_json::json!({"id": id})).collect();
        let body = serde_json::json!({"inputs": inputs, "properties": props});
        let v = self
            .bare_post_json(&format!("/crm/v3/objects/{object}/batch/read"), body)
            .await;
        v["results"].as_array().map_or(0, Vec::len)
    }

    /// The view's search for the deals or tickets of the contact or of its company.
    async fn bare_search(
        &self,
        object: &str,
        contact: &str,
        company: &str,
        stage: (&str, &[&str]),
        props: &[&str],
    ) -> usize {
        let body = serde_json::json!({
            "filterGroups": [
                {"filters": [{"propertyName": "associations.contact", "operator": "EQ", "value": contact}]},
                {"filters": [
                    {"propertyName": "associations.company", "operator": "EQ", "value": company},
                    {"propertyName": stage.0, "operator": "NOT_IN", "values": stage.1}
                ]}
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}],
            "properties": props,
            "limit": 200,
        });
        let v = self
            .bare_post_json(&format!("/crm/v3/objects/{object}/search"), body)
            .await;
        v["results"].as_array().map_or(0, Vec::len)
    }

    /// The bare client's view: the same requests as the SDK's, in the same two rounds.
    async fn bare_lookup(&self) -> usize {
        let url = format!(
            "{}/crm/v3/objects/contacts/{}?properties={CONTACT_PROPS}&associations=companies,deals,tickets,notes,tasks,calls&idProperty=email",
            self.fake.base_url(),
            demo::CUSTOMER_EMAIL.replace('@', "%40")
        );
        let contact: serde_json::Value = self
            .bare
            .get(url)
            .bearer_auth(self.fake.token())
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = contact["id"].as_str().unwrap().to_owned();
        let company = contact["properties"]["associatedcompanyid"]
            .as_str()
            .unwrap()
            .to_owned();
        let (notes, tasks, calls) = (
            associated(&contact, "notes"),
            associated(&contact, "tasks"),
            associated(&contact, "calls"),
        );
        let companies = [company.clone()];
        let (account, deals, tickets, n, t, c) = futures::join!(
            self.bare_batch("companies", &companies, COMPANY_PROPS),
            self.bare_search(
                "deals",
                &id,
                &company,
                ("dealstage", &["closedlost", "closedwon"]),
                DEAL_PROPS
            ),
            self.bare_search(
                "tickets",
                &id,
                &company,
                ("hs_pipeline_stage", &["4"]),
                TICKET_PROPS
            ),
            self.bare_batch("notes", &notes, NOTE_PROPS),
            self.bare_batch("tasks", &tasks, TASK_PROPS),
            self.bare_batch("calls", &calls, CALL_PROPS),
        );
        usize::from(account == 1 && deals + tickets + n + t + c > 0)
    }

    async fn sdk_lookup(&self) -> usize {
        let lookup = Lookup::Email(Email::parse(demo::CUSTOMER_EMAIL).unwrap());
        let view = self
            .fake_sdk
            .customer_view(&lookup, &ViewOptions::default())
            .await
            .unwrap()
            .unwrap();
        usize::from(view.account.is_some() && !view.open_opportunities.is_empty())
    }

    /// Each client's lookup once, checking they sent the same requests (method and path) in
    /// the same number: a view whose requests drifted from the bare client's would compare
    /// unlike work. The SDK's first view also reads the pipelines into its cache.
    fn check_lookups(&self, rt: &tokio::runtime::Runtime) {
        rt.block_on(self.sdk_lookup());
        let requests = |f: &dyn Fn()| {
            let before = self.fake.requests().log.len();
            f();
            let mut log: Vec<String> = self.fake.requests().log.split_off(before);
            log.sort();
            log
        };
        let sdk = requests(&|| {
            rt.block_on(self.sdk_lookup());
        });
        let bare = requests(&|| {
            rt.block_on(self.bare_lookup());
        });
        assert_eq!(sdk, bare, "the bare lookup must send the SDK's requests");
    }

    async fn bare_get_json(&self, url: &str) -> serde_json::Value {
        self.bare
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The bare client: the same requests, bodies decoded into `serde_json::Value`.
    async fn bare(&self, work: Work) -> usize {
        match work {
            Work::Lookup => self.bare_lookup().await,
            Work::Transport | Work::Get => {
                let url = format!(
                    "{}/crm/v3/objects/contacts/1000?properties={}&associations=companies",
                    self.base, self.properties
                );
                let v = self.bare_get_json(&url).await;
                usize::from(v["id"].is_string())
            }
            Work::Page | Work::Stream => {
                let mut seen = 0;
                let mut after: Option<String> = None;
                loop {
                    let mut url = format!(
                        "{}/crm/v3/objects/contacts?limit=100&properties={}&associations=companies",
                        self.base, self.properties
                    );
                    if let Some(a) = &after {
                        url.push_str("&after=");
                        url.push_str(a);
                    }
                    let v = self.bare_get_json(&url).await;
                    seen += v["results"].as_array().map_or(0, Vec::len);
                    after = v["paging"]["next"]["after"].as_str().map(str::to_owned);
                    if after.is_none() || seen >= work.records() {
                        break;
                    }
                }
                seen
            }
        }
    }

    /// The SDK: typed records through the HubSpot adapter.
    async fn sdk(&self, work: Work) -> usize {
        match work {
            Work::Lookup => self.sdk_lookup().await,
            Work::Transport => {
                let resp = self
                    .transport
                    .send(
                        Request::get("/crm/v3/objects/contacts/1000", "contact.get")
                            .addresses_record()
                            .query("properties", self.properties.as_str())
                            .query("associations", "companies"),
                    )
                    .await
                    .unwrap();
                let v: serde_json::Value = resp.json().unwrap();
                usize::from(v["id"].is_string())
            }
            Work::Get => {
                let id = RecordId::new("1000").unwrap();
                let c = self.sdk.contacts().get(&id).await.unwrap();
                usize::from(c.email.is_some())
            }
            Work::Page | Work::Stream => {
                let mut stream = self.sdk.contacts().list(ListQuery {
                    page_size: NonZeroU32::new(PAGE as u32),
                    max_pages: NonZeroU32::new(u32::MAX),
                    ..ListQuery::default()
                });
                let mut seen = 0;
                while let Some(page) = stream.next().await {
                    seen += black_box(page.unwrap().items).len();
                    if seen >= work.records() {
                        break;
                    }
                }
                seen
            }
        }
    }
}

fn criterion_benches(c: &mut Criterion, rt: &tokio::runtime::Runtime, clients: &Clients) {
    for work in Work::ALL {
        let mut group = c.benchmark_group(work.name());
        if matches!(work, Work::Stream) {
            group.sample_size(10);
        }
        group.bench_function("bare reqwest + serde_json::Value", |b| {
            b.to_async(rt).iter(|| clients.bare(work))
        });
        let sdk = if matches!(work, Work::Transport) {
            "crm-core transport"
        } else {
            "crm-connect (HubSpot adapter)"
        };
        group.bench_function(sdk, |b| b.to_async(rt).iter(|| clients.sdk(work)));
        group.finish();
    }
}

/// The whole number in environment variable `name`, if set and one.
fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Runs `work` on both clients in alternating blocks; returns the medians of the per-run
/// times (bare, SDK) and of the blocks' SDK/bare ratios.
fn paired(
    rt: &tokio::runtime::Runtime,
    clients: &Arc<Clients>,
    work: Work,
    blocks: usize,
) -> (Duration, Duration, f64) {
    // About 30 ms of work per side and block, or `OVERHEAD_BLOCK_RUNS` runs.
    let runs = env_number("OVERHEAD_BLOCK_RUNS").unwrap_or(match work {
        Work::Transport | Work::Get => 300,
        Work::Page | Work::Lookup => 30,
        Work::Stream => 1,
    });
    let in_task = std::env::var("OVERHEAD_CALLER").is_ok_and(|v| v == "task");
    let time = |sdk: bool| {
        let clients = clients.clone();
        let run = async move {
            let start = Instant::now();
            for _ in 0..runs {
                let n = if sdk {
                    clients.sdk(work).await
                } else {
                    clients.bare(work).await
                };
                assert_eq!(n, work.records(), "{work:?}");
            }
            start.elapsed() / runs
        };
        if in_task {
            rt.block_on(rt.spawn(run)).unwrap()
        } else {
            rt.block_on(run)
        }
    };
    // One warm-up of each (connections, the adapter's first-use state).
    time(false);
    time(true);
    let (mut bare, mut sdk, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for block in 0..blocks {
        let (b, s) = if block.is_multiple_of(2) {
            let b = time(false);
            (b, time(true))
        } else {
            let s = time(true);
            (time(false), s)
        };
        bare.push(b.as_secs_f64());
        sdk.push(s.as_secs_f64());
        ratio.push(s.as_secs_f64() / b.as_secs_f64());
    }
    (
        Duration::from_secs_f64(median(&mut bare)),
        Duration::from_secs_f64(median(&mut sdk)),
        median(&mut ratio),
    )
}

/// The process's resident memory, from `/proc/self/status` (Linux), in MiB.
fn resident_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn memory_check(rt: &tokio::runtime::Runtime, clients: &Clients) {
    rt.block_on(async {
        let mut stream = clients.sdk.contacts().list(ListQuery {
            page_size: NonZeroU32::new(PAGE as u32),
            ..ListQuery::default()
        });
        let mut seen = 0;
        let mut marks = Vec::new();
        let start = Instant::now();
        while let Some(page) = stream.next().await {
            seen += black_box(page.unwrap().items).len();
            if seen.is_multiple_of(MEMORY_MARK) {
                marks.push(resident_mib().map_or("?".to_owned(), |m| format!("{m:.1}")));
            }
        }
        assert_eq!(seen, MEMORY_RECORDS);
        let per_record = start.elapsed() / MEMORY_RECORDS as u32;
        println!(
            "\nstreamed {seen} contacts through the SDK ({per_record:?}/record, the server making \
             the pages); resident MiB every {MEMORY_MARK}: {}",
            marks.join(" ")
        );
    });
}

fn main() {
    if std::env::var("OVERHEAD_RUN").is_ok() {
        // The phone library's metadata, loaded here rather than by the SDK's background
        // warm-up: a count of instructions for the whole process then holds it once, whether
        // or not the warm-up thread has finished when the run ends.
        black_box(Phone::from_vendor("+1 415 555 0100", Region::us()).e164());
    }
    // `OVERHEAD_RUNTIME=current_thread`: clients and server on the bench's one thread, so no
    // call waits for another thread to be woken (which thread runs a connection's task varies
    // from run to run, and moves a loopback call's time more than the SDK's share of it).
    let rt = if std::env::var("OVERHEAD_RUNTIME").is_ok_and(|v| v == "current_thread") {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
    .unwrap();
    // `cargo test --benches` runs each benchmark once as a test; the paired run and the memory
    // check are for `cargo bench` (which passes `--bench`), and `OVERHEAD_PAIRED=0` skips them.
    let full = std::env::args().any(|a| a == "--bench")
        && !std::env::var("OVERHEAD_PAIRED").is_ok_and(|v| v == "0");
    let records = if full { MEMORY_RECORDS } else { STREAM_RECORDS };
    let base = rt.block_on(serve(&rt, records));
    let clients = Arc::new(Clients::new(&rt, base));
    clients.check_lookups(&rt);
    if let Some(n) = env_number("OVERHEAD_POOLS") {
        clients.fill_pools(&rt, n);
    }

    // One side of one work alone, for `perf stat` / `perf record`.
    if let Ok(spec) = std::env::var("OVERHEAD_RUN") {
        let mut parts = spec.split(':');
        let work = parts
            .next()
            .and_then(Work::parse)
            .expect("OVERHEAD_RUN: which work");
        let sdk = parts.next() == Some("sdk");
        let runs: usize = parts.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
        rt.block_on(async {
            for _ in 0..runs {
                if sdk {
                    black_box(clients.sdk(work).await);
                } else {
                    black_box(clients.bare(work).await);
                }
            }
        });
        return;
    }

    let mut c = Criterion::default().configure_from_args();
    mapping(&mut c);
    criterion_benches(&mut c, &rt, &clients);
    c.final_summary();

    if !full {
        return;
    }
    let blocks = env_number("OVERHEAD_BLOCKS").unwrap_or(15);
    println!("\npaired run, {blocks} blocks alternating the clients (medians):\n");
    // `OVERHEAD_PAIRED=get,transport`: only those works, and no memory check.
    let only: Option<Vec<Work>> = std::env::var("OVERHEAD_PAIRED")
        .ok()
        .map(|v| v.split(',').filter_map(Work::parse).collect());
    println!("| what | bare client | crm-connect | ratio |");
    println!("|---|---:|---:|---:|");
    for work in Work::ALL {
        if only
            .as_ref()
            .is_some_and(|w| !w.iter().any(|o| o.name() == work.name()))
        {
            continue;
        }
        let (bare, sdk, ratio) = paired(&rt, &clients, work, blocks);
        let per = |d: Duration| {
            let us = d.as_secs_f64() * 1e6;
            if work.records() > 1 {
                format!("{us:.0} µs ({:.2} µs/record)", us / work.records() as f64)
            } else {
                format!("{us:.1} µs")
            }
        };
        println!(
            "| {} | {} | {} | {ratio:.2}× |",
            work.name(),
            per(bare),
            per(sdk)
        );
    }
    if only.is_none() {
        memory_check(&rt, &clients);
    }
}
