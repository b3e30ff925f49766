//! The HubSpot fake (issue 4).
