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
