//! Runnable examples for crm-connect.
//!
//! - `cargo run --example support_conversation`: the main job, a scripted support conversation
//!   against the embedded sandbox CRM.
//! - `cargo run --example webhook_receiver`: change events from the sandbox, signed, verified,
//!   deduplicated and ordered by an `axum` receiver.
//!
//! The conversation itself lives in [`conversation`] so that tests and the CLI can play it too.

pub mod conversation;
pub mod receiver;

// The README's Rust snippets are compiled and run as doctests of this crate, which depends on
// every adapter and the sandbox, so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
