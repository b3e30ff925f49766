//! `crm-connect`: the command-line tool of crm-connect.
//!
//! - `crm-connect demo`: play the support conversation against the embedded sandbox.
//! - `crm-connect sandbox [--port 8080]`: serve the sandbox CRM until stopped.
//! - `crm-connect lookup --config conn.toml --email a@b.com [--json]`: the 360° view of a
//!   customer, from any CRM a connection file describes.

mod config;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use crm_core::{Email, Lookup, Phone, Region, ViewOptions};
use crm_testkit::sandbox::{Sandbox, SandboxConfig, demo};

use crate::config::Connection;

#[derive(Parser)]
#[command(
    name = "crm-connect",
    version,
    about = "Look up and write back CRM data for support bots"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Play the scripted support conversation against the embedded sandbox CRM.
    Demo,
    /// Serve the sandbox CRM on 127.0.0.1 until stopped (Ctrl-C).
    Sandbox {
        /// Port to listen on.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The bearer token the sandbox accepts.
        #[arg(long, default_value = "sandbox-token")]
        token: String,
    },
    /// Print the 360° view of a customer.
    Lookup(LookupArgs),
}

#[derive(Args)]
#[group(id = "key", required = true, multiple = false, args = ["email", "phone", "external_id"])]
struct LookupArgs {
    /// The connection file (see the README).
    #[arg(long)]
    config: PathBuf,
    /// Look up by email.
    #[arg(long)]
    email: Option<String>,
    /// Look up by phone (any format; national numbers are read in --region).
    #[arg(long)]
    phone: Option<String>,
    /// Look up by external id.
    #[arg(long)]
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
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("CRM_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo => run_demo().await,
        Command::Sandbox { port, token } => run_sandbox(port, token).await,
        Command::Lookup(args) => run_lookup(args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run_demo() -> crm_core::Result<ExitCode> {
    let sandbox = Sandbox::start(SandboxConfig::default()).await;
    let crm = crm_generic_rest::GenericRestBuilder::new()
        .with_base_url(sandbox.base_url())
        .with_token(sandbox.token().to_owned().into())
        .build()?;
    let script = crm_examples::conversation::Script {
        connection: "sandbox".into(),
        conversation_id: "cli-demo".into(),
        email: demo::CUSTOMER_EMAIL.into(),
        phone: "+1 415 555 0100".into(),
    };
    let mut out = std::io::stdout().lock();
    crm_examples::conversation::play(&crm, &script, &mut out, |_| async {}).await?;
    Ok(ExitCode::SUCCESS)
}

async fn run_sandbox(port: u16, token: String) -> crm_core::Result<ExitCode> {
    let config = SandboxConfig {
        token,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start_on(port, config)
        .await
        .map_err(|e| crm_core::Error::config(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    println!(
        "sandbox CRM at {} (token: {})",
        sandbox.base_url(),
        sandbox.token()
    );
    println!("connection file for it:\n");
    println!(
        "vendor = \"generic-rest\"\nbase_url = \"{}\"\n[auth]\nkind = \"bearer\"\ntoken = \"${{SANDBOX_TOKEN}}\"\n",
        sandbox.base_url()
    );
    println!("Ctrl-C stops it.");
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| crm_core::Error::config(format!("cannot wait for Ctrl-C: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_lookup(args: LookupArgs) -> crm_core::Result<ExitCode> {
    let (conn, dir) = Connection::load(&args.config)?;
    let crm = conn.build(&dir)?;
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
    let mut out = std::io::stdout().lock();
    match crm.customer_view(&lookup, &options).await? {
        None => {
            let _ = writeln!(out, "no contact matches that {}", lookup.by());
            Ok(ExitCode::from(1))
        }
        Some(view) if args.json => {
            let json = serde_json::to_string_pretty(&view)
                .map_err(|e| crm_core::Error::decode(format!("cannot print JSON: {e}")))?;
            let _ = writeln!(out, "{json}");
            Ok(ExitCode::SUCCESS)
        }
        Some(view) => {
            crm_examples::conversation::print_view(&mut out, &view);
            Ok(ExitCode::SUCCESS)
        }
    }
}
