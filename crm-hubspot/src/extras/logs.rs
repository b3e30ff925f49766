//! How a conversation log is told apart from the notes (or calls) it is stored as.
//!
//! HubSpot has no engagement type for a chat transcript, so a log is a note (or a call, with
//! `conversation_log_as = call`). On a portal nobody configured, the log carries a marker line at
//! the start of its body (`hs_note_body` or `hs_call_body`), a stock property every portal has,
//! and a read gives back a `ConversationLog` with the marker taken off. With
//! `activity_kind_property` set, the portal's own property marks the log instead, and the body
//! stays as written. A read accepts either mark, so logs written before an admin configured the
//! property stay logs.

use crm_core::{FieldList, FieldMap, FieldValue};

/// The first line of a conversation log's body on a connection without
/// `activity_kind_property`. Plain text, so agents see it in the timeline as written.
pub const CONVERSATION_LOG_MARKER: &str = "[Conversation log]";

/// Puts the marker in front of the common `body` (the whole body when there is none).
pub(crate) fn mark(common: &mut FieldMap) {
    let body = match common.get("body") {
        Some(FieldValue::Text(b)) if !b.trim().is_empty() => {
            format!("{CONVERSATION_LOG_MARKER}\n\n{b}")
        }
        _ => CONVERSATION_LOG_MARKER.to_owned(),
    };
    common.insert("body".into(), FieldValue::Text(body));
}

/// Whether the common `body` starts with the marker; if so the marker (and the blank line after
/// it) is taken off, and a body that was only the marker is removed.
pub(crate) fn unmark(common: &mut FieldList) -> bool {
    let Some(FieldValue::Text(body)) = common.get("body") else {
        return false;
    };
    let Some(rest) = body.trim_start().strip_prefix(CONVERSATION_LOG_MARKER) else {
        return false;
    };
    // Only a whole first line counts: `[Conversation log]s` is someone's text.
    if !(rest.is_empty() || rest.starts_with(['\n', '\r'])) {
        return false;
    }
    let rest = rest.trim_start_matches(['\r', '\n']).to_owned();
    if rest.is_empty() {
        common.remove("body");
    } else {
        common.insert("body".into(), FieldValue::Text(rest));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: Option<&str>) -> FieldMap {
        let mut m = FieldMap::new();
        if let Some(t) = text {
            m.insert("body".into(), FieldValue::Text(t.into()));
        }
        m
    }

    #[test]
    fn a_marked_body_round_trips() {
        for original in [Some("Chat\n\nRouter reboots."), None] {
            let mut m = body(original);
            mark(&mut m);
            let mut read = FieldList::from(m);
            assert!(unmark(&mut read));
            assert_eq!(FieldMap::from(read), body(original));
        }
    }

    #[test]
    fn only_a_whole_marker_line_counts() {
        let read = |text| FieldList::from(body(text));
        assert!(!unmark(&mut read(Some("[Conversation log]s are kept"))));
        assert!(!unmark(&mut read(Some("A note"))));
        assert!(!unmark(&mut FieldList::new()));
        let mut m = read(Some("  [Conversation log]\r\nText"));
        assert!(unmark(&mut m));
        assert_eq!(FieldMap::from(m), body(Some("Text")));
    }
}
