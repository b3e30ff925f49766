//! Normalised statuses that keep the vendor's own value.
//!
//! A bot needs the meaning ("is this ticket still open?") and an agent needs the CRM's own label
//! ("Waiting on us"), so a [`Status`] carries both: a normalised state, the vendor's raw value and
//! the label where the vendor has one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A normalised state enum usable inside [`Status`].
pub trait State:
    Copy + Eq + fmt::Debug + Send + Sync + Serialize + for<'de> Deserialize<'de> + 'static
{
    /// Every state, for mapping files and documentation.
    const ALL: &'static [Self];
    /// The state used when the vendor's value maps to nothing known.
    const UNKNOWN: Self;
    /// The snake_case name used in mapping and spec files.
    fn as_str(self) -> &'static str;
    /// Looks a state up by its snake_case name.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.as_str() == name)
    }
}

macro_rules! state_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl State for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            const UNKNOWN: Self = $name::Unknown;
            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

state_enum! {
    /// Where a support ticket stands.
    TicketState {
        /// Created, nobody has looked at it yet.
        New => "new",
        /// Being worked on.
        Open => "open",
        /// Waiting on the customer or a third party.
        Waiting => "waiting",
        /// Solved or closed.
        Closed => "closed",
        /// The vendor's value maps to no known state.
        Unknown => "unknown",
    }
}

impl TicketState {
    /// Whether the ticket still needs work (anything but `Closed`; `Unknown` counts as open so
    /// that a ticket is never hidden from an agent by a mapping gap).
    pub fn is_open(self) -> bool {
        self != TicketState::Closed
    }
}

state_enum! {
    /// Where a sales opportunity stands.
    OpportunityState {
        /// Still being worked.
        Open => "open",
        /// Closed won.
        Won => "won",
        /// Closed lost.
        Lost => "lost",
        /// The vendor's value maps to no known state.
        Unknown => "unknown",
    }
}

impl OpportunityState {
    /// Whether the opportunity is still open (`Unknown` counts as open).
    pub fn is_open(self) -> bool {
        !matches!(self, OpportunityState::Won | OpportunityState::Lost)
    }
}

state_enum! {
    /// Where a lead stands in qualification.
    LeadState {
        /// Not yet contacted.
        New => "new",
        /// Being contacted or worked.
        Working => "working",
        /// Qualified for sales.
        Qualified => "qualified",
        /// Disqualified.
        Unqualified => "unqualified",
        /// Converted into a contact / account / opportunity.
        Converted => "converted",
        /// The vendor's value maps to no known state.
        Unknown => "unknown",
    }
}

state_enum! {
    /// Where a task stands.
    TaskState {
        /// Not started.
        NotStarted => "not_started",
        /// In progress.
        InProgress => "in_progress",
        /// Waiting on someone else.
        Waiting => "waiting",
        /// Done.
        Completed => "completed",
        /// The vendor's value maps to no known state.
        Unknown => "unknown",
    }
}

/// A normalised state together with the vendor's own value and label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "S: State")]
pub struct Status<S: State> {
    /// What the status means.
    pub state: S,
    /// The vendor's value (`"2"`, `"closedwon"`, `"Working - Contacted"`). Always present on a
    /// record read from a CRM; `None` on a status the caller built, in which case the adapter
    /// sends the vendor value its mapping gives for `state`.
    pub raw: Option<String>,
    /// The vendor's display label, where it has one separate from `raw`.
    pub label: Option<String>,
}

impl<S: State> Status<S> {
    /// A status to write: the adapter chooses the vendor value for `state`.
    pub fn new(state: S) -> Self {
        Self {
            state,
            raw: None,
            label: None,
        }
    }

    /// A status to write with an exact vendor value.
    pub fn raw(state: S, raw: impl Into<String>) -> Self {
        Self {
            state,
            raw: Some(raw.into()),
            label: None,
        }
    }

    /// The best text to show a person: the label, else the raw value, else the state's name.
    pub fn display(&self) -> &str {
        self.label
            .as_deref()
            .or(self.raw.as_deref())
            .unwrap_or_else(|| self.state.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_by_name() {
        for s in TicketState::ALL {
            assert_eq!(TicketState::from_name(s.as_str()), Some(*s));
        }
        assert_eq!(
            TaskState::from_name("not_started"),
            Some(TaskState::NotStarted)
        );
        assert_eq!(LeadState::from_name("nope"), None);
    }

    #[test]
    fn open_meanings() {
        assert!(TicketState::Waiting.is_open());
        assert!(TicketState::Unknown.is_open());
        assert!(!TicketState::Closed.is_open());
        assert!(!OpportunityState::Won.is_open());
    }

    #[test]
    fn display_prefers_label() {
        let mut s = Status::raw(TicketState::Waiting, "2");
        assert_eq!(s.display(), "2");
        s.label = Some("Waiting on contact".into());
        assert_eq!(s.display(), "Waiting on contact");
        assert_eq!(Status::new(TicketState::New).display(), "new");
    }
}
