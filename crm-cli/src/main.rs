//! The crm-connect command-line tool.

fn main() {}
