//! Connection files (`ConnectionFile`): secrets from the environment or a file and never shown,
//! malformed files located without echoing a value, per-vendor settings checked at build.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use crm_connect::{ConnectionFile, ErrorKind};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn secrets_come_from_env_or_file_and_stay_out_of_debug() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tok", "s3cr3t-from-file\n");
    let p = write(
        dir.path(),
        "c.toml",
        "vendor = \"generic-rest\"\nbase_url = \"http://127.0.0.1:9/api\"\n[auth]\nkind = \"bearer\"\ntoken_file = \"tok\"\n",
    );
    let conn = ConnectionFile::load(&p).unwrap();
    let crm = conn.build().unwrap();
    assert!(!format!("{conn:?} {crm:?}").contains("s3cr3t"));

    let p = write(
        dir.path(),
        "e.toml",
        "vendor = \"generic-rest\"\n[auth]\nkind = \"bearer\"\ntoken = \"${CRM_CLI_TEST_UNSET_VAR}\"\n",
    );
    let conn = ConnectionFile::load(&p).unwrap();
    let err = conn.build().unwrap_err();
    assert!(err.message().contains("CRM_CLI_TEST_UNSET_VAR"), "{err}");
}

#[test]
fn bad_files_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "u.toml",
        "vendor = \"generic-rest\"\nbase_ulr = \"x\"\n",
    );
    let err = ConnectionFile::load(&p).unwrap_err();
    assert!(err.message().contains("base_ulr"), "{err}");
    assert!(err.message().contains("u.toml:2:1: base_ulr:"), "{err}");

    let p = write(
        dir.path(),
        "h.toml",
        "vendor = \"generic-rest\"\nbase_url = \"http://crm.example.com\"\n[auth]\nkind = \"none\"\n",
    );
    let conn = ConnectionFile::load(&p).unwrap();
    let err = conn.build().unwrap_err();
    assert!(err.message().contains("https"), "{err}");

    let p = write(dir.path(), "v.toml", "vendor = \"zoho\"\n");
    let conn = ConnectionFile::load(&p).unwrap();
    assert!(conn.build().unwrap_err().message().contains("zoho"));
}

#[test]
fn malformed_connection_files_name_the_place_and_mask_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "vendor = \"hubspot\"\n[auth]\nkind = \"bearer\"\ntoken = \"sk-live-SECRET\n",
            "sk-live-SECRET",
            "t.toml:4:",
            "auth.token",
        ),
        (
            "vendor = \"hubspot\"\ntimeout_secs = \"abc\"\n[auth]\nkind = \"bearer\"\ntoken = \"sk-live-SECRET\"\n",
            "abc",
            "t.toml:2:16:",
            "timeout_secs",
        ),
    ];
    for (text, value, place, key) in cases {
        let p = write(dir.path(), "t.toml", text);
        let err = ConnectionFile::load(&p).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert_eq!(err.kind(), &ErrorKind::Config);
        assert!(err.message().contains(place), "{err}");
        assert!(err.message().contains(key), "{err}");
        assert!(!shown.contains(value), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}

fn hubspot_file(dir: &Path, base_url: &str, token: &str, settings: &str) -> PathBuf {
    write(
        dir,
        "hub.toml",
        &format!(
            "vendor = \"hubspot\"\nbase_url = \"{base_url}\"\n[settings]\n{settings}\n[auth]\nkind = \"bearer\"\ntoken = \"{token}\"\n"
        ),
    )
}

/// Issue 14: the HubSpot rate is settable per connection file, as text or a number.
#[test]
fn item14_the_hubspot_rate_is_set_in_the_connection_file() {
    let dir = tempfile::tempdir().unwrap();
    for settings in [
        "rate_limit = \"100/1s\"",
        "requests_per_10s = 190",
        "app = \"private_starter\"",
    ] {
        let p = hubspot_file(dir.path(), "http://127.0.0.1:9", "pat-na1-x", settings);
        let conn = ConnectionFile::load(&p).unwrap();
        conn.build().unwrap();
    }
    let p = hubspot_file(
        dir.path(),
        "http://127.0.0.1:9",
        "pat-na1-x",
        "rate_limit = \"fast\"",
    );
    let conn = ConnectionFile::load(&p).unwrap();
    let err = conn.build().unwrap_err();
    assert!(err.message().contains("rate_limit"), "{err}");
    let p = hubspot_file(
        dir.path(),
        "http://127.0.0.1:9",
        "pat-na1-x",
        "rate_limit = [1]",
    );
    let err = ConnectionFile::load(&p).unwrap_err();
    assert!(err.message().contains("rate_limit"), "{err}");
}

#[test]
fn an_inline_secret_is_a_warning_without_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "w.toml",
        "vendor = \"generic-rest\"\nbase_url = \"http://127.0.0.1:9/api\"\n[auth]\nkind = \"bearer\"\ntoken = \"inline-s3cr3t\"\n",
    );
    let conn = ConnectionFile::load(&p).unwrap();
    assert_eq!(conn.warnings().len(), 1, "{:?}", conn.warnings());
    assert!(
        conn.warnings()[0].contains("token"),
        "{:?}",
        conn.warnings()
    );
    assert!(!conn.warnings()[0].contains("inline-s3cr3t"));
    conn.build().unwrap();

    let p = write(
        dir.path(),
        "e.toml",
        "vendor = \"generic-rest\"\nbase_url = \"http://127.0.0.1:9/api\"\n[auth]\nkind = \"bearer\"\ntoken = \"${SOME_VAR}\"\n",
    );
    assert!(ConnectionFile::load(&p).unwrap().warnings().is_empty());
}

#[test]
fn every_adapter_of_this_build_is_a_connector() {
    let names: Vec<&str> = crm_connect::connectors().iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        ["generic-rest", "hubspot", "salesforce", "pipedrive"]
    );
}
