//! The upload engine and its parts (docs/architecture.md "Rooms"): no terminal, no clap, no
//! knowledge of either front end; each front end maps its own settings onto `events`.

pub mod blocks;
pub mod engine;
pub mod events;
pub mod exclude;
pub mod journal;
pub mod lock;
pub mod pacer;
pub mod plan;
pub mod progress;
pub mod reconcile;
pub mod send;

pub use pacer::{Idempotence, Pacer, RetryLaw};
