//! The Feishu Open Platform client: wire format and nothing of the UI.

pub mod errors;
