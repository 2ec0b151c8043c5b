//! kevy-server: the command table, the command families, and the glue that
//! runs them on kevy-rt's reactors.
//!
//! # Memory limit
//!
//! `maxmemory` holds for the whole process: used memory is jemalloc's
//! allocated figure (INFO's `used_memory`), which every shard reads at most
//! once per iteration and follows in between through its own thread's
//! allocation counters. A shard that finds the server over the limit
//! evicts its share of the excess from its own keys, in proportion to its
//! keyspace's size, and leaves each other shard its share as a debt paid
//! at the end of that shard's iteration; writes are refused with Redis's
//! OOM error at the connection's home shard, before they are routed. The
//! argument and what it does not guarantee are in [`evict`].
//!
//! # Unsafe code
//!
//! None. `redis.call` and a run's KEYS and ARGV work on Lua's stack
//! through kevy-sys's safe handle (`kevy_sys::lua`), which holds the raw C
//! calls and the stack discipline that makes them sound.
#![forbid(unsafe_code)]

pub mod acl;
pub mod aof;
pub mod conf;
pub mod ctx;
pub mod errors;
pub mod evict;
pub mod families;
pub mod latency;
pub mod loading;
pub mod log;
pub mod metrics;
pub mod notify;
pub mod persist;
pub mod propagate;
pub mod rewrite;
pub mod scripting;
pub mod server;
pub mod service;
pub mod settings;
pub mod shard;
pub mod slot_scan;
pub mod stats;
pub mod table;
pub mod tracking;

pub use ctx::{ConnCtx, Ctx, Session};
pub use server::{Config, Server};
pub use service::Kevy;
pub use shard::Shard;
pub use table::{CommandSpec, Handler, RouteKind, SubSpec, Table};
