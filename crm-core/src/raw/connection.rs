//! The generic connection: [`Crm`] implemented once on top of a [`Backend`], its six record
//! families ([`Family`]) sharing the backend, the mappings, the connection name and the audit
//! sink.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::api::{
    Accounts, Activities, Capabilities, Contacts, Crm, Leads, Lookup, Opportunities, Tickets,
    WriteContext,
};
use crate::audit::{AuditSink, field_names};
use crate::error::{Error, Result};
use crate::mapping::MappingFile;
use crate::model::{
    Account, Activity, Contact, FieldMap, FieldValue, Lead, Opportunity, RecordRef, Ticket,
};
use crate::raw::backend::Backend;
use crate::raw::mappings::Mappings;
use crate::view::{CustomerView, ViewOptions};

use crate::raw::family::{Family, Shared, stamp};

/// A connection to one CRM through a [`Backend`]: implements [`Crm`].
///
/// Adapters build one in their builder's `build()` with [`Connection::new`] and return it
/// (usually under a type alias such as `HubSpot`).
pub struct Connection<B> {
    shared: Arc<Shared<B>>,
    contacts: Family<B, Contact>,
    accounts: Family<B, Account>,
    leads: Family<B, Lead>,
    opportunities: Family<B, Opportunity>,
    tickets: Family<B, Ticket>,
    activities: Family<B, Activity>,
}

impl<B: Backend> fmt::Debug for Connection<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("vendor", &self.shared.backend.vendor())
            .field("connection", &self.shared.connection)
            .field("backend", &self.shared.backend)
            .finish()
    }
}

impl<B: Backend> Connection<B> {
    /// The adapter's builder.
    pub fn builder() -> B::Builder {
        B::Builder::default()
    }

    /// A connection named `connection` (a tenant's CRM, in audit records and logs) over
    /// `backend`, mapping with `mappings` (which the backend may share) and auditing every
    /// write to `audit`.
    pub fn new(
        backend: Arc<B>,
        mappings: Arc<Mappings>,
        connection: impl Into<String>,
        audit: Arc<dyn AuditSink>,
    ) -> Self {
        let shared = Arc::new(Shared {
            backend,
            mappings,
            connection: connection.into(),
            audit,
        });
        Self {
            contacts: Family::new(shared.clone()),
            accounts: Family::new(shared.clone()),
            leads: Family::new(shared.clone()),
            opportunities: Family::new(shared.clone()),
            tickets: Family::new(shared.clone()),
            activities: Family::new(shared.clone()),
            shared,
        }
    }

    /// The backend, for vendor-specific calls an adapter offers beside [`Crm`].
    pub fn backend(&self) -> &B {
        &self.shared.backend
    }

    /// The connection's name in audit records and logs.
    pub fn connection_name(&self) -> &str {
        &self.shared.connection
    }

    /// The mappings in use.
    pub fn mappings(&self) -> &Mappings {
        &self.shared.mappings
    }

    /// Replaces the mapping file for new work, without a restart: calls already running keep
    /// the mapping they started with. The file is validated first; on an error nothing
    /// changes.
    pub fn set_mapping_file(&self, file: Option<&MappingFile>) -> Result<()> {
        self.shared.mappings.swap(file)
    }

    /// `version@hash` of the mapping file in use, if any.
    pub fn mapping_label(&self) -> Option<String> {
        self.shared.mappings.label()
    }
}

#[async_trait]
impl<B: Backend> Crm for Connection<B> {
    fn vendor(&self) -> &str {
        self.shared.backend.vendor()
    }

    fn capabilities(&self) -> &Capabilities {
        self.shared.backend.capabilities()
    }

    fn contacts(&self) -> &dyn Contacts {
        &self.contacts
    }

    fn accounts(&self) -> &dyn Accounts {
        &self.accounts
    }

    fn leads(&self) -> &dyn Leads {
        &self.leads
    }

    fn opportunities(&self) -> &dyn Opportunities {
        &self.opportunities
    }

    fn tickets(&self) -> &dyn Tickets {
        &self.tickets
    }

    fn activities(&self) -> &dyn Activities {
        &self.activities
    }

    async fn link(&self, from: &RecordRef, to: &RecordRef, ctx: &WriteContext) -> Result<()> {
        let mut common = FieldMap::new();
        common.insert(
            to.kind.link_field().to_owned(),
            FieldValue::Text(to.id.to_string()),
        );
        let result = if self.shared.backend.capabilities().link {
            self.shared
                .backend
                .link(from, to)
                .await
                .map_err(|e| stamp(e, "link"))
        } else {
            Err(Error::unsupported(
                "link",
                "this connection cannot link records",
            ))
        };
        self.shared.audit(
            "link",
            from.kind,
            ctx,
            field_names(&common),
            &result,
            |_| from.id.clone(),
        );
        result
    }

    /// Checked, mapped and audited per write as creates are, then sent in one request where
    /// the backend can ([`Backend::write_linked`]), else in order.
    async fn create_linked(
        &self,
        parent: &crate::linked::LinkedCreate,
        children: &[crate::linked::LinkedCreate],
    ) -> crate::linked::LinkedCreated {
        super::linked::create(&self.shared, self, parent, children).await
    }

    async fn customer_view(
        &self,
        lookup: &Lookup,
        options: &ViewOptions,
    ) -> Result<Option<CustomerView>> {
        self.shared
            .backend
            .customer_view(self, lookup, options)
            .await
    }
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
