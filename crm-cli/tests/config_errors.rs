//! Malformed connection and mapping files through the `crm-connect` binary: the error names the
//! file, line, column and key, and never echoes a value from the file (an inline token on the
//! offending line included).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crm-connect"))
        .args(args)
        .output()
        .unwrap()
}

fn lookup_with(text: &str) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.display().to_string();
    let out = run(&["lookup", "--config", &path, "--email", "a@example.com"]);
    (out, path)
}

#[test]
fn an_unterminated_inline_token_is_located_and_not_echoed() {
    let (out, path) = lookup_with(
        "vendor = \"hubspot\"\nbase_url = \"http://127.0.0.1:9\"\n[auth]\nkind = \"bearer\"\ntoken = \"sk-live-SECRET\n",
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{path}:5:")), "{stderr}");
    assert!(stderr.contains("auth.token"), "{stderr}");
    assert!(
        !stderr.contains("SECRET") && !stdout.contains("SECRET"),
        "{stderr}"
    );
}

#[test]
fn a_value_of_the_wrong_type_names_the_key_not_the_value() {
    let (out, path) = lookup_with(
        "vendor = \"hubspot\"\ntimeout_secs = \"abc\"\n[auth]\nkind = \"bearer\"\ntoken = \"sk-live-SECRET\"\n",
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{path}:2:16: timeout_secs:")),
        "{stderr}"
    );
    assert!(stderr.contains("expected u64"), "{stderr}");
    assert!(!stderr.contains("abc"), "{stderr}");
    assert!(!stderr.contains("SECRET"), "{stderr}");
}

#[test]
fn a_malformed_mapping_file_is_located_and_not_echoed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("map.toml"),
        "version = \"v1\"\n[contact.fields]\nemail = \"private-value\n",
    )
    .unwrap();
    let conn = dir.path().join("conn.toml");
    std::fs::write(
        &conn,
        "vendor = \"generic-rest\"\nbase_url = \"http://127.0.0.1:9/api/v1\"\nmapping = \"map.toml\"\n[auth]\nkind = \"none\"\n",
    )
    .unwrap();
    let out = run(&[
        "lookup",
        "--config",
        &conn.display().to_string(),
        "--email",
        "a@example.com",
    ]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("map.toml:3:"), "{stderr}");
    assert!(stderr.contains("contact.fields.email"), "{stderr}");
    assert!(!stderr.contains("private-value"), "{stderr}");
}
