//! Connection files, as the CLI reads them: [`crm_connect::ConnectionFile`] (its docs show the
//! keys of every vendor's file), with the file's warnings printed on stderr and the bench's
//! counted build.

use crm_connect::ConnectionFile;
use crm_core::Result;
use std::path::Path;
use {crate::counter::Counter, crm_core::Crm, std::sync::Arc};

/// Reads a connection file and prints its warnings (a secret written inline) on stderr: the
/// CLI's log is off unless asked for, and the operator running it should see them.
pub(crate) fn load(path: &Path) -> Result<ConnectionFile> {
    let file = ConnectionFile::load(path)?;
    for warning in file.warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(file)
}

/// Builds the connection with a request counter watching every attempt (the bench counts
/// requests this way): the counter only watches, through the connector's request observer, so
/// the connection paces exactly as [`ConnectionFile::build`]'s does.
pub(crate) fn build_counted(file: &ConnectionFile) -> Result<(Arc<dyn Crm>, Arc<Counter>)> {
    let counter = Arc::new(Counter::default());
    let crm = file.build_observed(counter.clone())?;
    Ok((crm, counter))
}

#[cfg(test)]
#[cfg(feature = "sandbox")]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A HubSpot fake whose rolling window allows 100 requests per second, strictly.
    async fn strict_hubspot() -> crm_testkit::hubspot::HubSpotFake {
        use crm_testkit::hubspot::{HubSpotFake, HubSpotFakeConfig, Limits};
        HubSpotFake::start(HubSpotFakeConfig {
            limits: Limits {
                ten_second_max: 100,
                window: Duration::from_secs(1),
                ..Limits::default()
            },
            ..HubSpotFakeConfig::default()
        })
        .await
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

    /// Issue 14: the bench's counted connection from a connection file keeps HubSpot's own
    /// limiter (it used to be replaced by an unpaced counter): more requests than one window
    /// holds, none refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn item14_a_counted_connection_from_a_file_keeps_the_vendors_pacing() {
        let fake = strict_hubspot().await;
        let dir = tempfile::tempdir().unwrap();
        let p = hubspot_file(dir.path(), &fake.base_url(), fake.token(), "");
        let conn = ConnectionFile::load(&p).unwrap();
        let (crm, counter) = build_counted(&conn).unwrap();
        let id = crm_core::RecordId::new("1").unwrap();
        for _ in 0..150 {
            let _ = crm.contacts().get(&id).await;
        }
        assert_eq!(counter.requests(), 150, "every request is counted");
        let stats = fake.requests();
        assert!(stats.total >= 150, "{}", stats.total);
        assert_eq!(stats.rate_limited, 0, "the connection was not paced");
    }
}
