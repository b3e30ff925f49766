//! Many tenants in one process: one connection file per tenant, built on first use and shared,
//! reloaded after a credential rotation, taken out at once; one broken file breaks only its own
//! tenant.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use crm_connect::{Email, ErrorKind, Lookup, Tenants, ViewOptions};
use crm_testkit::sandbox::{Sandbox, SandboxConfig};

fn tenant_file(dir: &Path, id: &str, base_url: &str, token: &str) {
    std::fs::write(dir.join(format!("{id}.token")), token).unwrap();
    std::fs::write(
        dir.join(format!("{id}.toml")),
        format!(
            "vendor = \"generic-rest\"\nbase_url = \"{base_url}\"\n[auth]\nkind = \"bearer\"\ntoken_file = \"{id}.token\"\n"
        ),
    )
    .unwrap();
}

fn jane() -> Lookup {
    Lookup::Email(Email::parse("jane.doe@example.com").unwrap())
}

#[tokio::test]
async fn each_tenant_gets_its_own_crm_built_once_and_shared() {
    let acme = Sandbox::start(SandboxConfig::default().with_token("acme-token")).await;
    let globex = Sandbox::start(SandboxConfig::default().with_token("globex-token")).await;
    let dir = tempfile::tempdir().unwrap();
    tenant_file(dir.path(), "acme", &acme.base_url(), "acme-token");
    tenant_file(dir.path(), "globex", &globex.base_url(), "globex-token");
    std::fs::write(dir.path().join("notes.txt"), "not a tenant").unwrap();

    let tenants = Tenants::from_dir(dir.path()).unwrap();
    assert_eq!(tenants.ids(), ["acme", "globex"]);

    let first = tenants.get("acme").unwrap();
    let again = tenants.get("acme").unwrap();
    assert!(Arc::ptr_eq(&first, &again), "one connection per tenant");
    assert!(
        first
            .customer_view(&jane(), &ViewOptions::default())
            .await
            .unwrap()
            .is_some()
    );
    let other = tenants.get("globex").unwrap();
    other
        .customer_view(&jane(), &ViewOptions::default())
        .await
        .unwrap();
    assert!(acme.requests().total > 0 && globex.requests().total > 0);
    let before = acme.requests().total;
    other
        .customer_view(&jane(), &ViewOptions::default())
        .await
        .unwrap();
    assert_eq!(acme.requests().total, before, "globex's calls go to globex");
}

#[tokio::test]
async fn a_broken_file_fails_only_its_tenant_and_is_read_again_once_fixed() {
    let acme = Sandbox::start(SandboxConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    tenant_file(dir.path(), "acme", &acme.base_url(), acme.token());
    std::fs::write(
        dir.path().join("broken.toml"),
        "vendor = \"generic-rest\"\nbase_ulr = \"x\"\n",
    )
    .unwrap();
    let tenants = Tenants::from_dir(dir.path()).unwrap();
    let err = tenants.get("broken").map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(err.message().contains("base_ulr"), "{err}");
    tenants.get("acme").unwrap();

    tenant_file(dir.path(), "broken", &acme.base_url(), acme.token());
    tenants.get("broken").unwrap();
}

#[tokio::test]
async fn reload_picks_up_a_rotated_token_and_remove_cuts_a_tenant_out() {
    let crm_side = Sandbox::start(SandboxConfig::default().with_token("new-token")).await;
    let dir = tempfile::tempdir().unwrap();
    tenant_file(dir.path(), "acme", &crm_side.base_url(), "old-token");
    let tenants = Tenants::from_dir(dir.path()).unwrap();
    let old = tenants.get("acme").unwrap();
    let err = old
        .customer_view(&jane(), &ViewOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthorized, "{err}");

    // The operator rotates the token in the tenant's file; a failed reload keeps the old one.
    std::fs::write(dir.path().join("acme.toml"), "vendor = \"zoho\"\n").unwrap();
    assert!(tenants.reload("acme").is_err());
    assert!(Arc::ptr_eq(&tenants.get("acme").unwrap(), &old));
    tenant_file(dir.path(), "acme", &crm_side.base_url(), "new-token");
    let new = tenants.reload("acme").unwrap();
    assert!(Arc::ptr_eq(&tenants.get("acme").unwrap(), &new));
    assert!(
        new.customer_view(&jane(), &ViewOptions::default())
            .await
            .unwrap()
            .is_some()
    );

    assert!(tenants.remove("acme"));
    let err = tenants.get("acme").map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
    assert!(!tenants.remove("acme"));
}

#[test]
fn tenant_ids_are_safe_names() {
    let tenants = Tenants::new();
    for bad in ["", "..", "a/b", "a b", &"x".repeat(65)] {
        let err = tenants.insert(bad, "x.toml").unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{bad:?}");
    }
    tenants.insert("acme-eu_1.prod", "x.toml").unwrap();
    assert_eq!(tenants.ids(), ["acme-eu_1.prod"]);
}
