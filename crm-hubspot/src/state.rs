//! What a HubSpot connection holds: [`HubSpotBackend`]'s fields (the HTTP client, the path
//! family, the settings, the mappings, the pipeline cache) and the pipelines accessor.
//!
//! Apart from `backend.rs` (the builder that fills it, and core's `Backend` trait on it) so
//! that the modules whose methods extend it (`wire.rs`, `lister.rs`, `extras/`) import the type
//! without importing the builder, which imports them.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crm_core::mapping::ObjectMapping;

use crm_core::raw::Mappings;
use crm_core::raw::http::HttpClient;
use crm_core::{Capabilities, Region, Result};

use crate::config::HubSpotConfig;
use crate::extras::objects::{HubObject, Paths};
use crate::extras::pipelines::{PipelineCache, PipelineSet};
use crate::extras::recent::RecentWrites;

/// The vendor hooks of a HubSpot connection; `HubSpot::backend()` reaches the HubSpot-only
/// calls (schema and setup checks, the burst budget).
#[derive(Debug)]
pub struct HubSpotBackend {
    pub(crate) http: HttpClient,
    pub(crate) paths: Paths,
    /// The connection's settings, its secrets taken out (the credential provider holds them).
    pub(crate) config: HubSpotConfig,
    pub(crate) region: Region,
    pub(crate) mappings: Arc<Mappings>,
    pub(crate) pipelines: PipelineCache,
    pub(crate) capabilities: Capabilities,
    /// The `properties` query parameter of reads, per target, with the mapping it was built
    /// from (see `HubSpotBackend::read_props_query_with`).
    pub(crate) props_cache: RwLock<BTreeMap<&'static str, (Arc<ObjectMapping>, String)>>,
    /// Deals and tickets this connection wrote lately: the view reads them by id rather than
    /// from search's lagging copy (`extras/recent.rs`).
    pub(crate) recent: RecentWrites,
}

impl HubSpotBackend {
    /// The pipelines of tickets or deals, from the connection's cache.
    pub(crate) async fn pipelines(
        &self,
        object: HubObject,
        stage: Option<&str>,
    ) -> Result<Arc<PipelineSet>> {
        self.pipelines
            .get(&self.http, &self.paths, object, stage)
            .await
    }
}
