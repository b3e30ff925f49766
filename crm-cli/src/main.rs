//! `crm-connect`: the command-line tool of crm-connect.
//!
//! - `crm-connect demo`: play the support conversation against the embedded sandbox.
//! - `crm-connect sandbox [--port 8080] [--vendor hubspot]`: serve the sandbox CRM (or any
//!   vendor's fake) until stopped.
//! - `crm-connect lookup --config conn.toml --email a@b.com [--json]`: the 360° view of a
//!   customer, from any CRM a connection file describes.
//! - `crm-connect outbox status|list|retry|pause|resume|drain --outbox file.sqlite`: operate a
//!   durable outbox.
//!
//! Every command writes through [`output::Stdout`], so a closed pipe ends it quietly.

#[cfg(feature = "sandbox")]
mod bench;
mod config;
mod counter;
#[cfg(feature = "sandbox")]
mod demo;
mod doctor;
mod mapping_cmd;
mod outbox_cmd;
mod output;
mod webhook;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use crm_core::{Email, Lookup, Phone, Region, ViewOptions};

use crate::output::outln;

/// How to turn logging on, shown at the end of `--help`.
const LOGGING_HELP: &str = "\
Logging:
  Off unless RUST_LOG is set; CRM_LOG, when set, takes precedence over RUST_LOG. Both take
  tracing filter directives and log to stderr, one line per CRM call (span `crm.call`, with
  vendor, operation, status and attempts) and per retry:
    RUST_LOG=crm_core=debug crm-connect lookup --config conn.toml --email a@b.com
  `RUST_LOG=debug` adds the HTTP and TLS libraries' own logs. Colour only when stderr is a
  terminal and NO_COLOR is not set.";

#[derive(Parser)]
#[command(
    name = "crm-connect",
    version,
    about = "Look up and write back CRM data for support bots",
    after_help = LOGGING_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[cfg(feature = "sandbox")]
    /// Play the scripted support conversation against an embedded fake CRM.
    Demo {
        /// Which fake to talk to: generic-rest (the sandbox), hubspot or salesforce (a fake
        /// that keeps tickets).
        #[arg(long, default_value = "generic-rest")]
        vendor: String,
    },
    #[cfg(feature = "sandbox")]
    /// Serve the sandbox CRM (or another vendor's fake) on 127.0.0.1 until stopped (Ctrl-C).
    Sandbox {
        /// Port to listen on.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The bearer token the sandbox accepts (the other fakes take their own, printed).
        #[arg(long, default_value = "sandbox-token")]
        token: String,
        /// Which fake to serve, by vendor: generic-rest (the sandbox CRM), hubspot,
        /// salesforce or pipedrive, each with its demo records.
        #[arg(long, default_value = "generic-rest")]
        vendor: String,
    },
    /// Print the 360° view of a customer.
    Lookup(LookupArgs),
    #[cfg(feature = "sandbox")]
    /// Run the workloads W1–W4b and print requests, 429s, lost and duplicates.
    Bench(BenchArgs),
    /// Mapping files: check one, or show the effective mapping.
    Mapping {
        #[command(subcommand)]
        command: MappingCommand,
    },
    /// Webhook tools.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// Operate a durable outbox file: status, list, retry, pause, resume, drain.
    Outbox(outbox_cmd::OutboxArgs),
    /// Check what a connection's credential can do and whether creates can be idempotent.
    Doctor {
        /// The connection file.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum MappingCommand {
    /// Validate the connection's mapping file (and its fit with the adapter); exit 1 on errors.
    Check {
        /// The connection file (its `mapping` key names the mapping file).
        #[arg(long)]
        config: PathBuf,
        /// Print a JSON report.
        #[arg(long)]
        json: bool,
        /// Also check every mapped field against the CRM's live schema (HubSpot properties
        /// API, Salesforce describe): fields that do not exist, are not writable, or whose
        /// picklist lacks a mapped value.
        #[arg(long)]
        live: bool,
    },
    /// Print the effective mapping: the adapter's default with the file laid over it.
    Show {
        /// The connection file.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Tell whether a captured request verifies with the connection's webhook secret, and why not.
    Verify {
        /// The connection file (its `[webhook]` table holds the secret).
        #[arg(long)]
        config: PathBuf,
        /// The captured raw HTTP request (request line, headers, blank line, body).
        #[arg(long)]
        request: PathBuf,
    },
}

#[cfg(feature = "sandbox")]
#[derive(Args)]
struct BenchArgs {
    /// Workloads to run (W1, W2, W3, W4, W4b); all by default.
    #[arg(long = "workload", value_delimiter = ',')]
    workloads: Vec<String>,
    /// Records per workload (at least 1).
    #[arg(long, default_value_t = 5000, value_parser = parse_count)]
    count: usize,
    /// A connection file: run against that server instead of an embedded fake (W4 and W4b
    /// then run without injected faults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Which embedded fake to run against without --config: generic-rest, hubspot,
    /// salesforce or pipedrive (which has no tickets: W3 and W4b are skipped).
    #[arg(long, default_value = "generic-rest")]
    vendor: String,
    /// Print one JSON document (every workload's counts, requests per 1,000 records and the
    /// share of the rate limit used) instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("key").required(true).multiple(false)))]
struct LookupArgs {
    /// The connection file (see the README).
    #[arg(long)]
    config: PathBuf,
    /// Look up by email.
    #[arg(long, group = "key")]
    email: Option<String>,
    /// Look up by phone (any format; national numbers are read in --region).
    #[arg(long, group = "key")]
    phone: Option<String>,
    /// Look up by external id.
    #[arg(long, group = "key")]
    external_id: Option<String>,
    /// Region for national phone numbers.
    #[arg(long, default_value = "US")]
    region: String,
    /// Print JSON (with unmasked values) instead of a masked table.
    #[arg(long)]
    json: bool,
    /// How many recent activities to show.
    #[arg(long, default_value_t = 5)]
    activities: usize,
    /// Print the number of HTTP requests the lookup sent (every attempt) to stderr.
    #[arg(long)]
    count_requests: bool,
}

#[cfg(feature = "sandbox")]
/// `--count`: a whole number of records, at least one (a run of none measures nothing).
fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("--count must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number of records")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    output::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        #[cfg(feature = "sandbox")]
        Command::Demo { vendor } => demo::run(&vendor).await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox {
            port,
            token,
            vendor,
        } => run_sandbox(&vendor, port, token).await,
        Command::Lookup(args) => run_lookup(args).await,
        #[cfg(feature = "sandbox")]
        Command::Bench(args) => run_bench(args).await,
        Command::Doctor { config } => run_doctor(config).await,
        Command::Outbox(args) => outbox_cmd::run(args).await,
        Command::Webhook {
            command: WebhookCommand::Verify { config, request },
        } => run_webhook_verify(config, request),
        Command::Mapping {
            command: MappingCommand::Check { config, json, live },
        } => Ok(mapping_cmd::run_mapping_check(&config, json, live).await),
        Command::Mapping {
            command: MappingCommand::Show { config },
        } => mapping_cmd::run_mapping_show(&config),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Not `eprintln!`, which panics when stderr is closed too.
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(feature = "sandbox")]
/// Serves the fake of `vendor` (any of `crm_connect::fakes()`, with its demo records) on
/// `port` until Ctrl-C, and prints the connection file that reaches it.
async fn run_sandbox(vendor: &str, port: u16, token: String) -> crm_core::Result<ExitCode> {
    let fake = crm_connect::fake(vendor)?;
    let options = crm_connect::testkit::FakeOptions::demo()
        .with_port(port)
        .with_token(token);
    let running = fake.start(&options).await?;
    outln!("{}", running.summary());
    outln!("connection file for it:\n");
    outln!(
        "{}",
        crm_connect::ConnectionFile::render(vendor, running.config(), running.env_prefix())
    );
    outln!("Ctrl-C stops it.");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| crm_core::Error::config(format!("cannot wait for Ctrl-C: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_lookup(args: LookupArgs) -> crm_core::Result<ExitCode> {
    let conn = config::load(&args.config)?;
    let (crm, counter) = if args.count_requests {
        let (crm, counter) = config::build_counted(&conn)?;
        (crm, Some(counter))
    } else {
        (conn.build()?, None)
    };
    let code = lookup(crm.as_ref(), &args).await;
    if let Some(counter) = counter {
        // On stderr, so that stdout stays the view (or its JSON) alone.
        let _ = writeln!(std::io::stderr(), "requests: {}", counter.requests());
    }
    code
}

async fn lookup(crm: &dyn crm_core::Crm, args: &LookupArgs) -> crm_core::Result<ExitCode> {
    let lookup = if let Some(e) = &args.email {
        Lookup::Email(Email::parse(e)?)
    } else if let Some(p) = &args.phone {
        Lookup::Phone(Phone::parse(p, Region::parse(&args.region)?)?)
    } else if let Some(x) = &args.external_id {
        Lookup::ExternalId(x.clone())
    } else {
        return Err(crm_core::Error::invalid_input(
            "give --email, --phone or --external-id",
        ));
    };
    let options = ViewOptions {
        activities: args.activities,
        ..ViewOptions::default()
    };
    match crm.customer_view(&lookup, &options).await? {
        None => {
            outln!("no contact matches that {}", lookup.by());
            Ok(ExitCode::from(1))
        }
        Some(view) if args.json => {
            let json = serde_json::to_string_pretty(&view)
                .map_err(|e| crm_core::Error::decode(format!("cannot print JSON: {e}")))?;
            outln!("{json}");
            Ok(ExitCode::SUCCESS)
        }
        Some(view) => {
            outln!("{}", view.masked().to_string().trim_end());
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(feature = "sandbox")]
async fn run_bench(args: BenchArgs) -> crm_core::Result<ExitCode> {
    bench::run(bench::Options {
        workloads: args.workloads,
        count: args.count,
        config: args.config,
        vendor: args.vendor,
        json: args.json,
    })
    .await
}

async fn run_doctor(config: PathBuf) -> crm_core::Result<ExitCode> {
    let conn = config::load(&config)?;
    let (vendor, checks) = doctor::run(&conn).await?;
    {
        use std::io::Write as _;
        // `Stdout` ends the process itself on a write error (a closed pipe quietly).
        let _ = write!(output::Stdout, "{}", doctor::render(&vendor, &checks));
    }
    let failed = checks.iter().any(|c| c.level == doctor::Level::Fail);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_webhook_verify(config: PathBuf, request: PathBuf) -> crm_core::Result<ExitCode> {
    let conn = config::load(&config)?;
    let (source, base) = conn.webhook_source()?;
    let raw = std::fs::read(&request).map_err(|e| {
        crm_core::Error::invalid_input(format!("cannot read `{}`: {e}", request.display()))
    })?;
    let capture = webhook::parse(&raw)?;
    match webhook::verify(source.as_ref(), &base, &capture) {
        Ok(events) => {
            outln!("verified: {} event(s)", events.len());
            for e in events {
                outln!("  {e}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err((status, e)) => {
            outln!("rejected: a receiver answers {status}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
