//! kevy-server: the command table, the command families, and the glue that
//! runs them on kevy-rt's reactors.
#![forbid(unsafe_code)]

pub mod acl;
pub mod aof;
pub mod conf;
pub mod ctx;
pub mod errors;
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
pub mod stats;
pub mod table;
pub mod tracking;

pub use ctx::{ConnCtx, Ctx, Session};
pub use server::{Config, Server};
pub use service::Kevy;
pub use shard::Shard;
pub use table::{CommandSpec, Handler, RouteKind, SubSpec, Table};
