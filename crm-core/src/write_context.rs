//! What every write carries besides its record: who it is for (the audit trail's actor) and,
//! for creates, the idempotency key that makes a retry safe.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Who a write is done for. Goes into the audit trail; never a personal value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// The bot itself.
    #[default]
    Bot,
    /// A human agent, by the desk's agent id.
    Agent(String),
    /// Another system or job, by name.
    System(String),
}

/// A key that makes a create safe to retry: the adapter stores it in a unique field (or sends it
/// as an `Idempotency-Key` header) so that a second attempt finds the first record instead of
/// creating another.
///
/// 1–100 characters from `A-Z a-z 0-9 . _ : -`, so it fits any vendor's unique text field.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks and wraps a caller-given key.
    pub fn new(key: impl Into<String>) -> Result<Self> {
        let key = key.into();
        let ok = (1..=100).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if ok {
            Ok(Self(key))
        } else {
            Err(Error::invalid_input(
                "idempotency key must be 1-100 characters of A-Z a-z 0-9 . _ : -",
            ))
        }
    }

    /// Derives a key from the connection, the conversation and the intent
    /// (`"lead"`, `"ticket:1"`): the same three always give the same key, so a bot that replays a
    /// conversation after a crash writes nothing twice.
    pub fn derive(connection: &str, conversation: &str, intent: &str) -> Self {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for part in [connection, conversation, intent] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Self(format!("cc1-{hex}"))
    }

    /// The key of item `index` of a batch created under this one key: `<key>.<index>`, or a
    /// key derived from both when that would be longer than a key may be. The one rule every
    /// adapter uses, so a batch replayed through any of them finds the items it created.
    pub fn for_item(&self, index: usize) -> Self {
        Self::new(format!("{}.{index}", self.0))
            .unwrap_or_else(|_| Self::derive(&self.0, &index.to_string(), "batch"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::new(value)
    }
}

impl From<IdempotencyKey> for String {
    fn from(value: IdempotencyKey) -> Self {
        value.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({})", self.0)
    }
}

/// Context every write carries: who it is for and, for creates, the idempotency key.
#[derive(Debug, Clone, Default)]
pub struct WriteContext {
    /// Who the write is done for.
    pub actor: Actor,
    /// Makes a create safe to retry. Ignored by updates, which are idempotent already.
    pub idempotency_key: Option<IdempotencyKey>,
}

impl WriteContext {
    /// A write by `actor` without an idempotency key.
    pub fn new(actor: Actor) -> Self {
        Self {
            actor,
            idempotency_key: None,
        }
    }

    /// Sets the idempotency key.
    pub fn with_idempotency_key(mut self, key: IdempotencyKey) -> Self {
        self.idempotency_key = Some(key);
        self
    }
}
