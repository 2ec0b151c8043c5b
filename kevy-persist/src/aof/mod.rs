//! The append-only log.
#![forbid(unsafe_code)]

pub mod dir;
pub mod log;
pub mod record;
pub mod recovery;
mod resp;
#[cfg(test)]
mod testutil;
pub mod trigger;

pub use dir::{
    begin_rewrite, open_log, recover, BaseFormat, BaseSink, Layout, LoadError, LoadOptions,
    Manifest, Recovered, Replay, Rewrite,
};
pub use log::{Flushed, Fsync, Log, Notify};
pub use record::{Corrupt, Damage, Record, Tag, TxId};
pub use recovery::{consistent_cut, Cut, Event};
pub use trigger::should_rewrite;
