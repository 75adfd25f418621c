//! The Feishu Open Platform client: wire format and nothing of the UI.

pub mod auth;
pub mod client;
pub mod drive;
pub mod drive_delete;
pub mod errors;

pub use client::{AnswerWait, ApiError, Client, Credentials, Error, Secret, WaitHook};
pub use drive::{Drive, DriveEntry, UploadPlan, Uploaded};
pub use drive_delete::TaskStatus;
pub use errors::{ErrorCatalog, Lang, RetryClass};
