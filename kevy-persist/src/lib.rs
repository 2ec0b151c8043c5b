//! kevy-persist: what survives a restart or a crash of one shard's store.
//! It knows a shard's store ([`kevy_store::Store`]) and a directory, never
//! connections, threads or the runtime.
//!
//! - [`rdb`]: snapshots in Redis's RDB format, written without fork from a
//!   point-in-time view of the store, and loaded from files Redis wrote.
//! - [`aof`]: the per-shard append-only log of effects, with checksummed
//!   records, fsync policies, crash-atomic cross-shard transactions and
//!   rewrite without stopping the shard.

pub mod aof;
pub mod rdb;
