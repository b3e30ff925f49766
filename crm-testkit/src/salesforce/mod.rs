//! The Salesforce fake (issue 5).
