//! The upload engine's parts: no terminal, no clap. See design.md "Engine rules".

pub mod blocks;
pub mod pacer;
pub mod events;
pub mod progress;
pub mod send;

pub use pacer::{Idempotence, Pacer, RetryLaw};
