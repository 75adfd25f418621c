//! The upload engine and its parts: no terminal, no clap. See design.md "Engine rules".

pub mod blocks;
pub mod engine;
pub mod events;
pub mod exclude;
pub mod journal;
pub mod lock;
pub mod pacer;
pub mod plan;
pub mod progress;
pub mod send;

pub use pacer::{Idempotence, Pacer, RetryLaw};
