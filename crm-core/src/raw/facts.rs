//! [`adapter_facts!`](crate::adapter_facts): the constants every adapter crate's `lib.rs`
//! declares about itself, written once.

/// Declares an adapter crate's facts at its root: `VENDOR`, `MAPPING_TARGETS`,
/// `DEFAULT_MAPPING` (the crate's `mapping.toml`), `KNOWN_FIELDS` (the crate's
/// `known_fields.toml`: the vendor's standard fields per table), `FACTS` (the
/// [`AdapterFacts`](crate::raw::AdapterFacts) its `Connector::facts` returns), and the two
/// parsers `default_mapping()` and `known_fields()`.
///
/// The two files are read from the crate's own directory at compile time, so a new adapter
/// ships them beside its `Cargo.toml`; their names in error messages are
/// `<crate name>/mapping.toml` and `<crate name>/known_fields.toml`.
///
/// ```text
/// crm_core::adapter_facts! {
///     vendor: "acme",
///     targets: [contact => Contact, account => Account, note => Activity],
/// }
/// ```
/// (Not run here: the files it includes belong to an adapter crate.)
#[macro_export]
macro_rules! adapter_facts {
    (
        vendor: $vendor:literal,
        targets: [ $( $target:ident => $kind:ident ),+ $(,)? ] $(,)?
    ) => {
        /// The vendor name this adapter reports, as connection files and events name it.
        pub const VENDOR: &str = $vendor;

        /// The tables a mapping file may hold for this adapter, and the kind each maps; give
        /// it to `crm_core::mapping::MappingFile::load`.
        pub const MAPPING_TARGETS: &[$crate::raw::Target] =
            &[$((stringify!($target), $crate::ObjectKind::$kind)),+];

        /// The default mapping (this crate's `mapping.toml`), in core's mapping format.
        pub const DEFAULT_MAPPING: &str =
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/mapping.toml"));

        /// The vendor's standard fields per mapping table (this crate's `known_fields.toml`,
        /// from the vendor's documentation), for checking a mapping file offline.
        pub const KNOWN_FIELDS: &str =
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/known_fields.toml"));

        /// What the connector registry knows of this adapter without a connection.
        pub const FACTS: $crate::raw::AdapterFacts = $crate::raw::AdapterFacts::new(
            VENDOR,
            MAPPING_TARGETS,
            DEFAULT_MAPPING,
            concat!(env!("CARGO_PKG_NAME"), "/mapping.toml"),
        )
        .with_known_fields(
            KNOWN_FIELDS,
            concat!(env!("CARGO_PKG_NAME"), "/known_fields.toml"),
        );

        /// The default mapping's tables, read by core's loader.
        pub fn default_mapping() -> $crate::Result<
            ::std::collections::BTreeMap<String, $crate::mapping::ObjectMapping>,
        > {
            FACTS.default_mapping()
        }

        /// [`KNOWN_FIELDS`], parsed.
        pub fn known_fields() -> $crate::Result<$crate::mapping::KnownFields> {
            $crate::mapping::KnownFields::parse(
                KNOWN_FIELDS,
                concat!(env!("CARGO_PKG_NAME"), "/known_fields.toml"),
            )
        }
    };
}
