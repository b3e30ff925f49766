//! # crm-testkit
//!
//! Stateful vendor fakes that speak each vendor's HTTP on 127.0.0.1, the embedded sandbox CRM,
//! and the conformance suite every adapter runs against its fake.
//!
//! - [`sandbox`]: the fake of a company's own REST CRM (the generic-REST adapter's default spec),
//!   with demo data and fault injection. See `SANDBOX_API.md` for its wire protocol.
//! - [`hubspot`], [`salesforce`], [`pipedrive`]: stateful fakes of those vendors' APIs, faithful to their docs.
//! - [`conformance`]: the behaviour suite.
//! - [`fake`]: one vendor-neutral handle on every fake ([`VendorFake`], [`RunningFake`]), which the
//!   adapters' `testkit` modules hand out.

mod clock;
pub mod conformance;
pub mod fake;
mod faults;
pub mod hubspot;
pub mod pipedrive;
pub mod salesforce;
pub mod sandbox;
mod sync;
mod wire;

pub use fake::{FakeOptions, FaultPlan, RunningFake, Served, VendorFake, Verified};
