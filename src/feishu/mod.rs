//! The Feishu Open Platform client: wire format and nothing of the UI.

pub mod auth;
pub mod client;
pub mod drive;
pub mod errors;

pub use client::{ApiError, Client, Credentials, Error, Secret};
pub use drive::{Drive, DriveEntry, UploadPlan};
pub use errors::{ErrorCatalog, Lang, RetryClass};
