//! HubSpot's objects as the adapter uses them, the mapping targets over them, the paths of
//! both families, and the HUBSPOT_DEFINED association type ids (HubSpot's associations v4
//! docs).

use crm_core::raw::http::{encode_segment, push_segment};
use crm_core::reexports::serde_json::{Value, json};
use crm_core::{ActivityKind, Error, ObjectKind, Result};

use crate::config::PathFamily;

/// A HubSpot CRM object the adapter reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum HubObject {
    Contacts,
    Companies,
    Deals,
    Tickets,
    Notes,
    Tasks,
    Calls,
}

impl HubObject {
    /// Every object, in declaration order.
    pub(crate) const ALL: [HubObject; 7] = [
        HubObject::Contacts,
        HubObject::Companies,
        HubObject::Deals,
        HubObject::Tickets,
        HubObject::Notes,
        HubObject::Tasks,
        HubObject::Calls,
    ];

    /// The engagement objects that hold activities.
    pub(crate) const ENGAGEMENTS: [HubObject; 3] =
        [HubObject::Notes, HubObject::Tasks, HubObject::Calls];

    /// Plural API name, singular name and object type id (HubSpot docs, "Understanding the
    /// CRM"), in one place so that the three cannot drift apart.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            HubObject::Contacts => ("contacts", "contact", "0-1"),
            HubObject::Companies => ("companies", "company", "0-2"),
            HubObject::Deals => ("deals", "deal", "0-3"),
            HubObject::Tickets => ("tickets", "ticket", "0-5"),
            HubObject::Notes => ("notes", "note", "0-46"),
            HubObject::Tasks => ("tasks", "task", "0-27"),
            HubObject::Calls => ("calls", "call", "0-48"),
        }
    }

    /// Plural API name.
    pub(crate) fn name(self) -> &'static str {
        self.names().0
    }

    /// Singular, as in association type names (`contact_to_company`) and search's
    /// `associations.contact` pseudo-property.
    pub(crate) fn singular(self) -> &'static str {
        self.names().1
    }

    /// Looks an object up by plural or singular name, or object type id.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        let n = name.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|o| o.name() == n || o.singular() == n || o.type_id() == n)
    }

    /// Object type id (HubSpot docs, "Understanding the CRM").
    pub(crate) fn type_id(self) -> &'static str {
        self.names().2
    }

    /// The common kinds whose records live in this object (contacts hold leads too).
    pub(crate) fn kinds(self) -> Vec<ObjectKind> {
        let targets = MappingTarget::ALL
            .into_iter()
            .filter(|t| t.object() == self);
        let mut kinds: Vec<ObjectKind> = targets.map(MappingTarget::kind).collect();
        kinds.dedup();
        kinds
    }

    /// The last-modified property: `lastmodifieddate` on contacts, `hs_lastmodifieddate`
    /// elsewhere (HubSpot's CRM object API docs).
    pub(crate) fn modified_prop(self) -> &'static str {
        match self {
            HubObject::Contacts => "lastmodifieddate",
            _ => "hs_lastmodifieddate",
        }
    }

    /// System properties that are never mapped into fields.
    pub(crate) fn system_props(self) -> &'static [&'static str] {
        match self {
            HubObject::Contacts => &["hs_object_id", "createdate", "lastmodifieddate"],
            HubObject::Companies | HubObject::Deals | HubObject::Tickets => {
                &["hs_object_id", "createdate", "hs_lastmodifieddate"]
            }
            _ => &["hs_object_id", "hs_createdate", "hs_lastmodifieddate"],
        }
    }

    /// The engagement object of an activity kind (conversation logs: the configured `log`).
    pub(crate) fn for_activity(kind: ActivityKind, log: HubObject) -> Self {
        match kind {
            ActivityKind::Note => HubObject::Notes,
            ActivityKind::Task => HubObject::Tasks,
            ActivityKind::Call => HubObject::Calls,
            ActivityKind::ConversationLog => log,
        }
    }
}

/// What a mapping applies to: one common record kind in one HubSpot object. Leads are contacts
/// in lifecycle stage `lead`; notes (and conversation logs, by default), tasks and calls are
/// activities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum MappingTarget {
    Contact,
    Account,
    Lead,
    Opportunity,
    Ticket,
    Note,
    Task,
    Call,
}

impl MappingTarget {
    /// Every target, in the order of [`crate::MAPPING_TARGETS`].
    pub const ALL: [MappingTarget; 8] = [
        MappingTarget::Contact,
        MappingTarget::Account,
        MappingTarget::Lead,
        MappingTarget::Opportunity,
        MappingTarget::Ticket,
        MappingTarget::Note,
        MappingTarget::Task,
        MappingTarget::Call,
    ];

    /// The target's name in mapping files (`contact`, `note`...).
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    /// The common kind.
    pub fn kind(self) -> ObjectKind {
        self.entry().1
    }

    fn entry(self) -> (&'static str, ObjectKind) {
        let i = Self::ALL.iter().position(|t| *t == self).unwrap_or(0);
        crate::MAPPING_TARGETS
            .get(i)
            .copied()
            .unwrap_or(("contact", ObjectKind::Contact))
    }

    /// The target named `name` in mapping files.
    pub(crate) fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    pub(crate) fn object(self) -> HubObject {
        match self {
            MappingTarget::Contact | MappingTarget::Lead => HubObject::Contacts,
            MappingTarget::Account => HubObject::Companies,
            MappingTarget::Opportunity => HubObject::Deals,
            MappingTarget::Ticket => HubObject::Tickets,
            MappingTarget::Note => HubObject::Notes,
            MappingTarget::Task => HubObject::Tasks,
            MappingTarget::Call => HubObject::Calls,
        }
    }

    pub(crate) fn for_engagement(o: HubObject) -> Self {
        match o {
            HubObject::Tasks => MappingTarget::Task,
            HubObject::Calls => MappingTarget::Call,
            _ => MappingTarget::Note,
        }
    }

    /// The target a kind's records are read from by id or look-up (activities: notes).
    pub(crate) fn main(kind: ObjectKind) -> Self {
        Self::of(kind)
            .first()
            .copied()
            .unwrap_or(MappingTarget::Note)
    }

    /// The targets a kind's records live in.
    pub(crate) fn of(kind: ObjectKind) -> &'static [MappingTarget] {
        use MappingTarget::*;
        match kind {
            ObjectKind::Contact => &[Contact],
            ObjectKind::Account => &[Account],
            ObjectKind::Lead => &[Lead],
            ObjectKind::Opportunity => &[Opportunity],
            ObjectKind::Ticket => &[Ticket],
            ObjectKind::Activity => &[Note, Task, Call],
        }
    }
}

impl std::str::FromStr for MappingTarget {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::named(s)
            .ok_or_else(|| Error::config(format!("`{s}` is not a HubSpot mapping target")))
    }
}

/// HUBSPOT_DEFINED association types used on writes, `from` → `to` (HubSpot's associations
/// v4 docs; HubSpot's Ruby client's `association_type.rb`). A primary company gets its
/// labelled type and the unlabelled one.
pub(crate) fn assoc_types(from: HubObject, to: HubObject) -> &'static [u32] {
    use HubObject::*;
    match (from, to) {
        (Contacts, Companies) => &[279, 1],
        (Companies, Contacts) => &[280],
        (Deals, Contacts) => &[3],
        (Contacts, Deals) => &[4],
        (Deals, Companies) => &[341, 5],
        (Companies, Deals) => &[342],
        (Tickets, Contacts) => &[16],
        (Contacts, Tickets) => &[15],
        (Tickets, Companies) => &[339, 26],
        (Companies, Tickets) => &[340],
        (Deals, Tickets) => &[27],
        (Tickets, Deals) => &[28],
        (Notes, Contacts) => &[202],
        (Notes, Companies) => &[190],
        (Notes, Deals) => &[214],
        (Notes, Tickets) => &[228],
        (Contacts, Notes) => &[201],
        (Companies, Notes) => &[189],
        (Deals, Notes) => &[213],
        (Tickets, Notes) => &[227],
        (Tasks, Contacts) => &[204],
        (Tasks, Companies) => &[192],
        (Tasks, Deals) => &[216],
        (Tasks, Tickets) => &[230],
        (Contacts, Tasks) => &[203],
        (Companies, Tasks) => &[191],
        (Deals, Tasks) => &[215],
        (Tickets, Tasks) => &[229],
        (Calls, Contacts) => &[194],
        (Calls, Companies) => &[182],
        (Calls, Deals) => &[206],
        (Calls, Tickets) => &[220],
        (Contacts, Calls) => &[193],
        (Companies, Calls) => &[181],
        (Deals, Calls) => &[205],
        (Tickets, Calls) => &[219],
        _ => &[],
    }
}

/// The `types` of an association from `from` to `to`, as v4 writes and inline create
/// associations take them.
pub(crate) fn assoc_specs(from: HubObject, to: HubObject) -> Vec<Value> {
    let spec = |t| json!({"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t});
    assoc_types(from, to).iter().map(spec).collect()
}

/// The paths of one family: classic `/crm/v3/…` or date-versioned (HubSpot's API reference).
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    objects: String,
    record_associations: String,
    association_batches: String,
    pipelines: String,
}

impl Paths {
    pub(crate) fn new(family: &PathFamily) -> Self {
        // `/crm/v3/objects` (v4 for associations) or `/crm/objects/2026-03`.
        let at = |api: &str, classic: &str| match family {
            PathFamily::V3 => format!("/crm/{classic}/{api}"),
            PathFamily::Dated(v) => format!("/crm/{api}/{}", encode_segment(v)),
        };
        Self {
            objects: at("objects", "v3"),
            record_associations: at("objects", "v4"),
            association_batches: at("associations", "v4"),
            pipelines: at("pipelines", "v3"),
        }
    }

    /// `…/properties/{o}`: the object's property definitions.
    pub(crate) fn properties(&self, o: HubObject) -> String {
        let base = self.pipelines.replace("/pipelines", "/properties");
        format!("{base}/{}", o.name())
    }

    /// `…/objects/{o}`.
    pub(crate) fn collection(&self, o: HubObject) -> String {
        format!("{}/{}", self.objects, o.name())
    }

    /// `…/objects/{o}/{id}`, the id percent-encoded.
    pub(crate) fn record(&self, o: HubObject, id: &str) -> String {
        // Pushed rather than formatted: every get builds one.
        let name = o.name();
        let mut path = String::with_capacity(self.objects.len() + name.len() + id.len() + 8);
        path.push_str(&self.objects);
        path.push('/');
        path.push_str(name);
        path.push('/');
        push_segment(&mut path, id);
        path
    }

    /// `…/objects/{o}/batch/{op}`.
    pub(crate) fn batch(&self, o: HubObject, op: &str) -> String {
        format!("{}/{}/batch/{op}", self.objects, o.name())
    }

    /// `…/objects/{o}/search`.
    pub(crate) fn search(&self, o: HubObject) -> String {
        format!("{}/{}/search", self.objects, o.name())
    }

    /// v4 `…/objects/{o}/{id}/associations/{to}/{toId}`.
    pub(crate) fn association(&self, o: HubObject, id: &str, to: HubObject, to_id: &str) -> String {
        format!(
            "{}/{}/{}/associations/{}/{}",
            self.record_associations,
            o.name(),
            encode_segment(id),
            to.name(),
            encode_segment(to_id)
        )
    }

    /// v4 `…/associations/{from}/{to}/batch/{op}`.
    pub(crate) fn association_batch(&self, from: HubObject, to: HubObject, op: &str) -> String {
        format!(
            "{}/{}/{}/batch/{op}",
            self.association_batches,
            from.name(),
            to.name()
        )
    }

    /// `…/pipelines/{o}`.
    pub(crate) fn pipelines(&self, o: HubObject) -> String {
        format!("{}/{}", self.pipelines, o.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_families_build_paths() {
        let v3 = Paths::new(&PathFamily::V3);
        assert_eq!(
            v3.record(HubObject::Contacts, "a/b?c"),
            "/crm/v3/objects/contacts/a%2Fb%3Fc"
        );
        assert_eq!(
            v3.association(HubObject::Notes, "1", HubObject::Contacts, "2"),
            "/crm/v4/objects/notes/1/associations/contacts/2"
        );
        let dated = Paths::new(&PathFamily::dated_2026_03());
        assert_eq!(
            dated.batch(HubObject::Deals, "upsert"),
            "/crm/objects/2026-03/deals/batch/upsert"
        );
        assert_eq!(
            dated.association_batch(HubObject::Contacts, HubObject::Tickets, "read"),
            "/crm/associations/2026-03/contacts/tickets/batch/read"
        );
        assert_eq!(
            dated.pipelines(HubObject::Tickets),
            "/crm/pipelines/2026-03/tickets"
        );
    }

    #[test]
    fn documented_type_ids() {
        use HubObject::*;
        assert_eq!(assoc_types(Notes, Contacts), &[202]);
        assert_eq!(assoc_types(Tickets, Contacts), &[16]);
        assert_eq!(assoc_types(Tasks, Contacts), &[204]);
        assert_eq!(assoc_types(Calls, Contacts), &[194]);
        assert_eq!(assoc_types(Deals, Contacts), &[3]);
        assert_eq!(assoc_types(Notes, Tickets), &[228]);
        assert_eq!(HubObject::from_name("0-5"), Some(Tickets));
    }
}
