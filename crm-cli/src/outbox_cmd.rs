//! `crm-connect outbox …`: the operator's commands for a durable outbox file.
//!
//! - `status`: per connection, pending / waiting / in flight / failed / parked / delivered
//!   counts, the oldest pending write's age and whether delivery is paused;
//! - `list --state pending|failed|parked|delivered [--connection C] [--limit N]`: the writes,
//!   with their payloads masked (field names and record ids shown, personal values never);
//! - `retry ID` / `retry --all-failed [--connection C]`: send failed writes again;
//! - `pause C` / `resume C`: the kill switch, stored in the outbox file so that every worker
//!   process sharing it obeys it;
//! - `drain --config FILE [--connection C]`: deliver until nothing is pending, with a progress
//!   bar on a terminal, and stop with an error when nothing moves for `--stall-secs`.
//!
//! Every command takes `--outbox PATH` (or `CRM_OUTBOX`) and `--json`. Exit codes: 0 done,
//! 1 a drain that could not finish, 2 bad input (an unknown write id, a missing file).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use crm_core::outbox::{
    ConnectionStatus, DeliveryReport, ListState, ListedWrite, Outbox, OutboxConfig, WriteId,
};
use crm_core::{Error, Result};
use serde_json::{Value, json};

use crate::output::outln;

/// `crm-connect outbox …`.
#[derive(Args)]
pub(crate) struct OutboxArgs {
    /// The outbox file (SQLite) the bot's workers share.
    #[arg(long, env = "CRM_OUTBOX", global = true)]
    outbox: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: OutboxCommand,
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Per connection: pending, waiting, in flight, failed, parked, delivered, oldest pending
    /// age, paused.
    Status,
    /// List writes in one state, payloads masked.
    List {
        /// pending (includes in flight), failed, parked or delivered.
        #[arg(long)]
        state: ListState,
        /// Only this connection's writes.
        #[arg(long)]
        connection: Option<String>,
        /// At most this many writes, oldest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Send a failed write again (with the writes that failed because it failed), or every
    /// failed write.
    #[command(group(clap::ArgGroup::new("which").required(true).multiple(false)))]
    Retry {
        /// The write's id (from `outbox list`).
        #[arg(group = "which")]
        id: Option<WriteId>,
        /// Every failed write (of --connection, or of all).
        #[arg(long, group = "which")]
        all_failed: bool,
        /// With --all-failed: only this connection's writes.
        #[arg(long, requires = "all_failed")]
        connection: Option<String>,
    },
    /// Stop delivery for a connection (every worker sharing the file); writes keep queueing.
    Pause {
        /// The connection's name, as the writes were enqueued under.
        connection: String,
    },
    /// Resume delivery for a connection.
    Resume {
        /// The connection's name.
        connection: String,
    },
    /// Deliver a connection's writes until none is pending.
    Drain {
        /// The connection file describing the CRM to deliver to.
        #[arg(long)]
        config: PathBuf,
        /// The connection's name in the outbox; by default the connection file's name without
        /// its extension (`acme.toml` → `acme`).
        #[arg(long)]
        connection: Option<String>,
        /// Writes claimed per round (fills vendor batches: 200 on Salesforce, 100 on HubSpot).
        #[arg(long, default_value_t = 200, value_parser = parse_positive)]
        batch: usize,
        /// Stop with an error when no write was delivered, failed or parked for this long.
        #[arg(long, default_value_t = 60, value_parser = parse_positive)]
        stall_secs: usize,
    },
}

fn parse_positive(text: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) | Err(_) => Err(format!("`{text}` is not a whole number of at least 1")),
        Ok(n) => Ok(n),
    }
}

impl std::fmt::Debug for OutboxArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxArgs").finish_non_exhaustive()
    }
}

/// Runs one `outbox` command.
pub(crate) async fn run(args: OutboxArgs) -> Result<ExitCode> {
    let Some(path) = args.outbox else {
        return Err(Error::invalid_input(
            "give the outbox file with --outbox PATH (or set CRM_OUTBOX)",
        ));
    };
    let outbox = open(&path)?;
    let json = args.json;
    match args.command {
        OutboxCommand::Status => status(&outbox, json),
        OutboxCommand::List {
            state,
            connection,
            limit,
        } => list(&outbox, state, connection.as_deref(), limit, json),
        OutboxCommand::Retry {
            id,
            all_failed,
            connection,
        } => retry(&outbox, id, all_failed, connection.as_deref(), json),
        OutboxCommand::Pause { connection } => pause(&outbox, &connection, true, json),
        OutboxCommand::Resume { connection } => pause(&outbox, &connection, false, json),
        OutboxCommand::Drain {
            config,
            connection,
            batch,
            stall_secs,
        } => {
            let stall = Duration::from_secs(u64::try_from(stall_secs).unwrap_or(u64::MAX));
            drain(&outbox, &config, connection, batch, stall, json).await
        }
    }
}

/// Opens an existing outbox file: a mistyped path must not create an empty outbox and report
/// that nothing is pending.
fn open(path: &Path) -> Result<Outbox> {
    if !path.is_file() {
        return Err(Error::invalid_input(format!(
            "no outbox file at `{}`",
            path.display()
        )));
    }
    Outbox::open(path, OutboxConfig::default())
}

fn print_json(value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::decode(format!("cannot print JSON: {e}")))?;
    outln!("{text}");
    Ok(())
}

fn unix_secs(at: Option<SystemTime>) -> Value {
    at.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(Value::Null, |d| json!(d.as_secs()))
}

/// `95 s`, `12 min`, `3 h`, `2 d`: an age an operator reads at a glance.
fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

fn status_json(c: &ConnectionStatus) -> Value {
    json!({
        "connection": c.connection,
        "pending": c.pending,
        "waiting": c.waiting,
        "in_flight": c.in_flight,
        "failed": c.failed,
        "parked": c.parked,
        "delivered": c.delivered,
        "oldest_pending_secs": c.oldest_pending.map(|d| d.as_secs()),
        "paused": c.paused,
        "paused_since": unix_secs(c.paused_since),
    })
}

fn status(outbox: &Outbox, json: bool) -> Result<ExitCode> {
    let all = outbox.overview()?;
    if json {
        print_json(&json!({ "connections": all.iter().map(status_json).collect::<Vec<_>>() }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        outln!("the outbox is empty");
        return Ok(ExitCode::SUCCESS);
    }
    let width = all
        .iter()
        .map(|c| c.connection.chars().count())
        .max()
        .unwrap_or(0)
        .max("CONNECTION".len());
    outln!(
        "{:<width$}  {:>7}  {:>7}  {:>9}  {:>6}  {:>6}  {:>9}  {:>14}  PAUSED",
        "CONNECTION",
        "PENDING",
        "WAITING",
        "IN FLIGHT",
        "FAILED",
        "PARKED",
        "DELIVERED",
        "OLDEST PENDING"
    );
    for c in &all {
        outln!(
            "{:<width$}  {:>7}  {:>7}  {:>9}  {:>6}  {:>6}  {:>9}  {:>14}  {}",
            c.connection,
            c.pending,
            c.waiting,
            c.in_flight,
            c.failed,
            c.parked,
            c.delivered,
            c.oldest_pending.map_or_else(|| "-".to_owned(), age),
            if c.paused { "yes" } else { "no" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn listed_json(w: &ListedWrite) -> Value {
    json!({
        "id": w.id,
        "connection": w.connection,
        "kind": w.kind.map(|k| k.as_str()),
        "operation": w.operation,
        "target": w.target,
        "idempotency_key": w.idempotency_key,
        "state": w.state,
        "attempts": w.attempts,
        "error": w.error,
        "depends_on": w.depends_on,
        "created_at": unix_secs(w.created_at),
        "next_attempt_at": unix_secs(w.next_attempt_at),
        "record_id": w.record_id,
        "payload": w.payload,
    })
}

/// The fields a masked payload sets, without the unset ones: what a text listing shows.
fn set_fields(payload: &Value) -> Value {
    match payload {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| {
                    !v.is_null() && !v.as_object().is_some_and(serde_json::Map::is_empty)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn list(
    outbox: &Outbox,
    state: ListState,
    connection: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<ExitCode> {
    let writes = outbox.list(state, connection, limit)?;
    if json {
        print_json(&json!({ "writes": writes.iter().map(listed_json).collect::<Vec<_>>() }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if writes.is_empty() {
        outln!("no writes");
        return Ok(ExitCode::SUCCESS);
    }
    for w in &writes {
        let kind = w.kind.map_or("?", |k| k.as_str());
        let op = w.operation.as_deref().unwrap_or("?");
        let target = w
            .target
            .as_deref()
            .map(|t| format!(" {t}"))
            .unwrap_or_default();
        outln!(
            "#{} {} {kind} {op}{target}: {} (attempts {})",
            w.id,
            w.connection,
            w.state,
            w.attempts
        );
        if let Some(key) = &w.idempotency_key {
            outln!("  key: {key}");
        }
        if let Some(parent) = w.depends_on {
            outln!("  depends on: #{parent}");
        }
        if let Some(record) = &w.record_id {
            outln!("  record: {record}");
        }
        if let Some(error) = &w.error {
            outln!("  error: {error}");
        }
        outln!("  payload: {}", set_fields(&w.payload));
    }
    Ok(ExitCode::SUCCESS)
}

fn retry(
    outbox: &Outbox,
    id: Option<WriteId>,
    all_failed: bool,
    connection: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let requeued = match (id, all_failed) {
        (Some(id), false) => outbox.retry(id)?,
        (None, true) => outbox.retry_all_failed(connection)?,
        _ => {
            return Err(Error::invalid_input(
                "give a write id or --all-failed, not both",
            ));
        }
    };
    if json {
        print_json(&json!({ "requeued": requeued }))?;
    } else {
        outln!("re-queued {requeued} write(s)");
    }
    Ok(ExitCode::SUCCESS)
}

fn pause(outbox: &Outbox, connection: &str, paused: bool, json: bool) -> Result<ExitCode> {
    if paused {
        outbox.pause(connection)?;
    } else {
        outbox.resume(connection)?;
    }
    if json {
        print_json(&json!({ "connection": connection, "paused": paused }))?;
    } else if paused {
        outln!(
            "paused `{connection}`: no worker delivers its writes until `outbox resume`; writes keep queueing"
        );
    } else {
        outln!("resumed `{connection}`");
    }
    Ok(ExitCode::SUCCESS)
}

/// The connection's name in the outbox when `--connection` is not given: the connection file's
/// name without its extension.
fn default_connection(config: &Path) -> Result<String> {
    config
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::invalid_input("cannot name the connection after the file: give --connection")
        })
}

/// What a drain did, and why it stopped if it could not finish.
#[derive(Default)]
struct Drained {
    total: DeliveryReport,
    rounds: usize,
    left: usize,
    stopped: Option<String>,
}

/// The writes still to deliver: pending or in flight.
fn remaining(outbox: &Outbox, connection: &str) -> Result<(usize, Option<ConnectionStatus>)> {
    let status = outbox
        .overview()?
        .into_iter()
        .find(|c| c.connection == connection);
    Ok((
        status.as_ref().map_or(0, |c| c.pending + c.in_flight),
        status,
    ))
}

async fn drain(
    outbox: &Outbox,
    config: &Path,
    connection: Option<String>,
    batch: usize,
    stall: Duration,
    json: bool,
) -> Result<ExitCode> {
    let connection = match connection {
        Some(c) => c,
        None => default_connection(config)?,
    };
    let (left, status) = remaining(outbox, &connection)?;
    let Some(status) = status else {
        let known: Vec<String> = outbox
            .overview()?
            .into_iter()
            .map(|c| c.connection)
            .collect();
        return Err(Error::invalid_input(format!(
            "the outbox holds no writes for connection `{connection}` (it holds: {}); name it with --connection",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )));
    };
    if status.paused {
        return Err(Error::invalid_input(format!(
            "connection `{connection}` is paused: `crm-connect outbox resume {connection}` first"
        )));
    }
    let conn = crate::config::load(config)?;
    let crm = conn.build()?;

    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(u64::try_from(left).unwrap_or(u64::MAX));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} writes, {per_sec}, eta {eta} {msg}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let mut done = Drained {
        left,
        ..Drained::default()
    };
    let mut last_progress = Instant::now();
    while done.left > 0 {
        if outbox.is_paused(&connection)? {
            done.stopped = Some(format!("connection `{connection}` was paused"));
            break;
        }
        let report = outbox.deliver(&connection, crm.as_ref(), batch).await?;
        done.rounds += 1;
        done.total.delivered += report.delivered;
        done.total.failed += report.failed;
        done.total.parked += report.parked;
        done.total.retried += report.retried;
        let moved = report.delivered + report.failed + report.parked;
        done.left = remaining(outbox, &connection)?.0;
        if let Some(bar) = &bar {
            bar.inc(u64::try_from(moved).unwrap_or(0));
            bar.set_message(format!(
                "({} failed, {} parked, {} retried)",
                done.total.failed, done.total.parked, done.total.retried
            ));
        } else if !json && moved + report.retried > 0 {
            outln!(
                "round {}: {} delivered, {} failed, {} parked, {} to retry; {} left",
                done.rounds,
                report.delivered,
                report.failed,
                report.parked,
                report.retried,
                done.left
            );
        }
        if done.left == 0 {
            break;
        }
        if moved > 0 {
            last_progress = Instant::now();
            continue;
        }
        // Nothing moved: wait for the next write to come due, within the stall budget.
        let budget = stall.saturating_sub(last_progress.elapsed());
        let Some(due) = outbox.next_due(&connection)? else {
            done.stopped = Some(format!(
                "{} write(s) wait for writes that are parked or not yet delivered elsewhere: resolve or redrive the parked writes (`crm-connect outbox list --state parked`)",
                done.left
            ));
            break;
        };
        let wait = due
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        if budget.is_zero() || wait > budget {
            done.stopped = Some(format!(
                "nothing was delivered for {} s; {} write(s) left, the next due in {} s (see `crm-connect outbox list --state pending` for their last errors)",
                stall.as_secs(),
                done.left,
                wait.as_secs()
            ));
            break;
        }
        // At least a little, so that a due time in the past does not spin.
        tokio::time::sleep(wait.max(Duration::from_millis(20))).await;
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let t = done.total;
    if json {
        print_json(&json!({
            "connection": connection,
            "delivered": t.delivered,
            "failed": t.failed,
            "parked": t.parked,
            "retried": t.retried,
            "rounds": done.rounds,
            "left": done.left,
            "stalled": done.stopped.is_some(),
            "error": done.stopped,
        }))?;
    } else {
        outln!(
            "{connection}: {} delivered, {} failed, {} parked; {} left",
            t.delivered,
            t.failed,
            t.parked,
            done.left
        );
        if t.failed + t.parked > 0 {
            outln!("see `crm-connect outbox list --state failed` and `--state parked`");
        }
    }
    match done.stopped {
        None => Ok(ExitCode::SUCCESS),
        Some(why) => {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "error: drain stopped: {why}");
            Ok(ExitCode::from(1))
        }
    }
}
